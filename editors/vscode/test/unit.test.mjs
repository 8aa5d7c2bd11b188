// Unit tests of the extension's vscode-free modules and of the manifest's consistency.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import config from '../out/config.js';
import serverCommand from '../out/serverCommand.js';
import runInput from '../out/runInput.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const props = pkg.contributes.configuration.properties;

test('settings: defaults come from the manifest and map to initializationOptions', () => {
  const s = config.readSettings((key) => props[`tea.${key}`]?.default);
  assert.deepEqual(s, {
    files: ['**/*.tea.yaml', '**/*.tea.yml'],
    lua: { timeout: 30, maxMemory: '64MB' },
    run: { maxParallelBranches: null, strategy: 'process' },
    server: { command: [] },
  });
  assert.deepEqual(config.initializationOptions(s), {
    files: ['**/*.tea.yaml', '**/*.tea.yml'],
    lua: { timeout: 30, maxMemory: '64MB' },
    run: { strategy: 'process' },
  });
});

test('settings: user values are passed on, bad values fall back to defaults', () => {
  const user = {
    files: ['flows/**/*.yaml'],
    'lua.timeout': 5,
    'lua.maxMemory': '128MB',
    'run.maxParallelBranches': 3,
    'run.strategy': 'thread',
    'server.command': ['/opt/tea/bin/tea-lsp', 'serve'],
  };
  const s = config.readSettings((key) => user[key]);
  assert.deepEqual(config.initializationOptions(s), {
    files: ['flows/**/*.yaml'],
    lua: { timeout: 5, maxMemory: '128MB' },
    run: { maxParallelBranches: 3, strategy: 'thread' },
  });
  const bad = {
    files: 'not-a-list',
    'lua.timeout': -1,
    'lua.maxMemory': 64,
    'run.maxParallelBranches': 2.5,
    'run.strategy': 'cluster',
    'server.command': 'tea-lsp serve',
  };
  assert.deepEqual(config.readSettings((key) => bad[key]), config.readSettings(() => undefined));
});

test('every setting the extension reads is contributed, with matching defaults', () => {
  const keys = Object.keys(props).sort();
  assert.deepEqual(keys, [
    'tea.files',
    'tea.lua.maxMemory',
    'tea.lua.timeout',
    'tea.run.maxParallelBranches',
    'tea.run.strategy',
    'tea.server.command',
    'tea.trace.server',
  ]);
  assert.deepEqual(props['tea.files'].default, config.DEFAULT_FILES);
  assert.equal(props['tea.lua.timeout'].default, config.DEFAULT_LUA_TIMEOUT);
  assert.equal(props['tea.lua.maxMemory'].default, config.DEFAULT_LUA_MAX_MEMORY);
  assert.deepEqual(props['tea.trace.server'].enum, ['off', 'messages', 'verbose']);
  assert.deepEqual(props['tea.run.strategy'].enum, ['process', 'thread']);
  const pattern = new RegExp(props['tea.lua.maxMemory'].pattern);
  for (const ok of ['64MB', '512KB', '1GB', '1.5GiB', '1048576']) assert.ok(pattern.test(ok), ok);
  for (const bad of ['lots', 'MB64', '']) assert.ok(!pattern.test(bad), bad);
});

test('activation: YAML, and the default globs through workspaceContains', () => {
  assert.ok(pkg.activationEvents.includes('onLanguage:yaml'));
  for (const glob of config.DEFAULT_FILES) {
    assert.ok(pkg.activationEvents.includes(`workspaceContains:${glob}`), glob);
  }
  assert.deepEqual(
    pkg.contributes.commands.map((c) => c.command).sort(),
    ['tea.restartServer', 'tea.runWorkflow', 'tea.showGraph', 'tea.showOutput'],
  );
});

test('document selector: all YAML plus the tea.files globs', () => {
  assert.deepEqual(config.documentSelector(['**/*.tea.yaml']), [
    { scheme: 'file', language: 'yaml' },
    { scheme: 'untitled', language: 'yaml' },
    { scheme: 'file', pattern: '**/*.tea.yaml' },
  ]);
});

test('a top-level `nodes:` key marks a workflow', () => {
  assert.ok(config.hasTopLevelNodesKey('name: x\nnodes:\n  - name: a\n'));
  assert.ok(config.hasTopLevelNodesKey('nodes: []\n'));
  assert.ok(config.hasTopLevelNodesKey('"nodes":\n  - name: a\n'));
  assert.ok(!config.hasTopLevelNodesKey('jobs:\n  nodes:\n    - a\n'), 'nested key');
  assert.ok(!config.hasTopLevelNodesKey('nodes_count: 3\n'), 'other key');
  assert.ok(!config.hasTopLevelNodesKey('# nodes: none\nkind: List\n'), 'comment');
});

test('server command: setting, then the selected interpreter with tea_lsp, then PATH', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tea-vscode-'));
  try {
    const bin = path.join(dir, 'bin');
    const noexec = path.join(dir, 'noexec');
    mkdirSync(bin);
    mkdirSync(noexec);
    for (const name of ['tea-lsp', 'python']) {
      writeFileSync(path.join(bin, name), '#!/bin/sh\n');
      chmodSync(path.join(bin, name), 0o755);
    }
    writeFileSync(path.join(noexec, 'tea-lsp'), 'not executable\n');
    chmodSync(path.join(noexec, 'tea-lsp'), 0o644);
    const python = path.join(bin, 'python');
    const probed = [];
    const hasModule = (exe) => {
      probed.push(exe);
      return exe === python;
    };

    // the setting wins, expanded; a missing configured command is reported, not replaced
    const fromSetting = serverCommand.resolveServerCommand({
      configured: ['${workspaceFolder}/bin/tea-lsp', 'serve'],
      workspaceFolder: dir,
      pathEnv: bin,
      platform: 'linux',
      python,
      hasModule,
    });
    assert.deepEqual(fromSetting, {
      ok: true,
      command: { command: path.join(bin, 'tea-lsp'), args: ['serve'], source: 'setting' },
      tried: [`tea.server.command: ${path.join(bin, 'tea-lsp')} serve`],
    });
    assert.deepEqual(
      serverCommand.resolveServerCommand({
        configured: ['~/nowhere/tea-lsp'],
        home: '/home/u',
        pathEnv: bin,
        platform: 'linux',
      }),
      { ok: false, tried: ['tea.server.command: /home/u/nowhere/tea-lsp'] },
    );

    // then the selected interpreter, if it has tea_lsp
    const fromPython = serverCommand.resolveServerCommand({
      configured: [],
      pathEnv: bin,
      platform: 'linux',
      python,
      hasModule,
    });
    assert.deepEqual(fromPython.command, {
      command: python,
      args: ['-m', 'tea_lsp', 'serve'],
      source: 'python',
    });
    assert.deepEqual(probed, [python]);

    // an interpreter without tea_lsp: tea-lsp from PATH (skipping a non-executable one)
    const fromPath = serverCommand.resolveServerCommand({
      configured: [],
      pathEnv: [noexec, bin].join(':'),
      platform: 'linux',
      python: '/usr/bin/python3',
      hasModule: () => false,
    });
    assert.deepEqual(fromPath, {
      ok: true,
      command: { command: path.join(bin, 'tea-lsp'), args: ['serve'], source: 'path' },
      tried: ['the selected Python interpreter: /usr/bin/python3 -m tea_lsp serve', 'tea-lsp on PATH'],
    });

    // nothing: not ok, with what was tried
    assert.deepEqual(
      serverCommand.resolveServerCommand({ configured: [], pathEnv: noexec, platform: 'linux' }),
      { ok: false, tried: ['tea-lsp on PATH'] },
    );
    assert.equal(
      serverCommand.describeCommand({
        command: '/a b/python',
        args: ['-m', 'tea_lsp'],
        source: 'python',
      }),
      '"/a b/python" -m tea_lsp',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('run arguments: VS Code context told apart from input by shape', () => {
  const uri = { scheme: 'file', path: '/w/a.tea.yaml', fsPath: '/w/a.tea.yaml' };
  const prompt = { given: false };
  const split = runInput.splitRunArguments;
  assert.deepEqual(split([]), { target: undefined, input: prompt }); // command palette
  assert.deepEqual(split(['file:///w/a.tea.yaml']), {
    target: 'file:///w/a.tea.yaml',
    input: prompt,
  }); // code lens
  assert.deepEqual(split([uri, { groupId: 0 }]), { target: uri, input: prompt }); // title button
  assert.deepEqual(split([uri, [uri]]), { target: uri, input: prompt }); // explorer menu
  assert.deepEqual(split([uri, { count: 2 }]), { target: uri, input: { given: true, value: { count: 2 } } });
  assert.deepEqual(split([uri, '{"count": 2}']), {
    target: uri,
    input: { given: true, value: '{"count": 2}' },
  });
  assert.deepEqual(split([uri, null]), { target: uri, input: { given: true, value: null } });
  // an input that merely contains groupId among other keys is input
  assert.deepEqual(split([uri, { groupId: 1, n: 2 }]).input, {
    given: true,
    value: { groupId: 1, n: 2 },
  });
});

test('the run command is on the title bar, the explorer menu and the palette', () => {
  const menus = pkg.contributes.menus;
  assert.deepEqual(
    menus['editor/title/run'].map((m) => m.command),
    ['tea.runWorkflow'],
  );
  assert.match(menus['explorer/context'][0].when, /tea\\.ya\?ml/);
  assert.equal(menus.commandPalette[0].command, 'tea.runWorkflow');
});

test('run input: empty, a JSON object, or a clear error', () => {
  assert.deepEqual(runInput.parseRunInput('  '), { ok: true, value: undefined });
  assert.deepEqual(runInput.parseRunInput('{"count": 4}'), { ok: true, value: { count: 4 } });
  assert.deepEqual(runInput.parseRunInput('[1, 2]'), {
    ok: false,
    message: 'the input must be a JSON object like {"count": 1}, not an array',
  });
  assert.deepEqual(runInput.parseRunInput('3'), {
    ok: false,
    message: 'the input must be a JSON object like {"count": 1}, not a number',
  });
  assert.deepEqual(runInput.parseRunInput('null'), {
    ok: false,
    message: 'the input must be a JSON object like {"count": 1}, not null',
  });
  const bad = runInput.parseRunInput('{count: 4}');
  assert.equal(bad.ok, false);
  assert.ok(bad.message.startsWith('the input is not valid JSON: '), bad.message);
  assert.deepEqual(runInput.runArguments('file:///w.tea.yaml', undefined), ['file:///w.tea.yaml']);
  assert.deepEqual(runInput.runArguments('file:///w.tea.yaml', { a: 1 }), [
    'file:///w.tea.yaml',
    { a: 1 },
  ]);
});

test('run result: summary line and JSON rendering', () => {
  assert.equal(
    runInput.summarizeRunResult('w.tea.yaml', {
      ok: true, state: {}, error: null, branches: [{}, {}], timing_ms: 12.4,
    }),
    'w.tea.yaml: ok (12 ms, 2 branches)',
  );
  assert.equal(
    runInput.summarizeRunResult('w.tea.yaml', {
      ok: false,
      error: 'lua error at line 3',
      branches: [],
    }),
    'w.tea.yaml: failed: lua error at line 3',
  );
  assert.equal(runInput.formatRunResult({ ok: true }), '{\n  "ok": true\n}\n');
  assert.ok(runInput.isRunResult({ ok: false }));
  assert.ok(!runInput.isRunResult({ state: {} }));
});

test('yamlValidation points at the schema copied from the repository', () => {
  const [entry] = pkg.contributes.yamlValidation;
  assert.deepEqual(entry.fileMatch, ['*.tea.yaml', '*.tea.yml']);
  const source = path.resolve(root, '..', '..', 'schemas', 'workflow.schema.json');
  assert.ok(existsSync(source), `${source} is missing`);
  const copied = path.resolve(root, entry.url);
  assert.ok(existsSync(copied), `${copied} is missing: run npm run compile`);
  assert.equal(readFileSync(copied, 'utf8'), readFileSync(source, 'utf8'));
  const schema = JSON.parse(readFileSync(copied, 'utf8'));
  assert.equal(schema.$id, 'https://tea-lsp.dev/schemas/workflow.schema.json');
});
