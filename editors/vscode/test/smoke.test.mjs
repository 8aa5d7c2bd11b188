// LSP smoke test: the server command the extension would launch, spoken to over stdio from Node
// with the extension's initialization options and a VS Code-like set of client capabilities.
//
// Server: TEA_LSP_SERVER (a command line, or a JSON array), default `../../.venv/bin/tea-lsp serve`
// relative to editors/vscode. It goes through the extension's own `tea.server.command` resolution.
//
// Two client profiles: VS Code's (it supports pull diagnostics, so the server answers
// `textDocument/diagnostic`), and a push-only client (the server sends publishDiagnostics).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import rpc from 'vscode-jsonrpc/node.js';
import config from '../out/config.js';
import serverCommand from '../out/serverCommand.js';
import graphModel from '../out/graphModel.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const extRoot = path.resolve(here, '..');
const repoRoot = path.resolve(extRoot, '..', '..');
const fixtures = path.join(repoRoot, 'tests', 'fixtures', 'editors');
const TIMEOUT_MS = 60_000;

function configuredCommand() {
  const raw = process.env.TEA_LSP_SERVER;
  if (raw && raw.trim().startsWith('[')) return JSON.parse(raw);
  if (raw && raw.trim() !== '') return raw.trim().split(/\s+/);
  return [path.resolve(extRoot, '../../.venv/bin/tea-lsp'), 'serve'];
}

function fixture(name) {
  const file = path.join(fixtures, name);
  return { uri: pathToFileURL(file).href, text: readFileSync(file, 'utf8') };
}

/** Defaults of the contributed settings, read as the extension reads them. */
function defaultSettings() {
  const props = JSON.parse(readFileSync(path.join(extRoot, 'package.json'), 'utf8')).contributes
    .configuration.properties;
  return config.readSettings((key) => props[`tea.${key}`]?.default);
}

function capabilities(pull) {
  const textDocument = {
    synchronization: { dynamicRegistration: true, didSave: true, willSave: true },
    publishDiagnostics: {
      relatedInformation: true,
      versionSupport: false,
      codeDescriptionSupport: true,
      dataSupport: true,
      tagSupport: { valueSet: [1, 2] },
    },
    definition: { dynamicRegistration: true, linkSupport: true },
    hover: { dynamicRegistration: true, contentFormat: ['markdown', 'plaintext'] },
    completion: { dynamicRegistration: true, completionItem: { snippetSupport: true } },
    codeLens: { dynamicRegistration: true },
  };
  if (pull) textDocument.diagnostic = { dynamicRegistration: true, relatedDocumentSupport: false };
  return {
    general: { positionEncodings: ['utf-16'] },
    workspace: {
      configuration: true,
      workspaceFolders: true,
      didChangeConfiguration: { dynamicRegistration: true },
      executeCommand: { dynamicRegistration: true },
      applyEdit: true,
      workspaceEdit: { documentChanges: true },
      diagnostics: pull ? { refreshSupport: true } : undefined,
    },
    window: { workDoneProgress: true, showMessage: {}, showDocument: { support: true } },
    textDocument,
  };
}

/** A running server and the connection to it; `pushed` collects publishDiagnostics. */
async function startServer({ pull }) {
  const settings = defaultSettings();
  const resolved = serverCommand.resolveServerCommand({
    configured: configuredCommand(),
    workspaceFolder: repoRoot,
  });
  assert.ok(
    resolved.ok,
    `server command not found: ${resolved.tried.join('; ')} (create the venv, or set TEA_LSP_SERVER)`,
  );
  const cmd = resolved.command;
  const stderr = [];
  const proc = spawn(cmd.command, cmd.args, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stderr.on('data', (chunk) => stderr.push(chunk.toString()));
  await new Promise((resolve, reject) => {
    proc.once('spawn', resolve);
    proc.once('error', (err) => reject(new Error(`cannot start ${cmd.command}: ${err.message}`)));
  });
  let exitExpected = false;
  const gone = new Promise((_, reject) => {
    proc.once('exit', (code, signal) => {
      if (exitExpected) return;
      reject(new Error(`the server exited (code ${code}, signal ${signal}) before shutdown; ` +
        `command: ${[cmd.command, ...cmd.args].join(' ')}\nstderr:\n${stderr.join('')}`));
    });
  });
  gone.catch(() => {}); // observed through alive()
  /** `promise`, or the server's unexpected exit, whichever comes first. */
  const alive = (promise) => Promise.race([promise, gone]);

  const connection = rpc.createMessageConnection(
    new rpc.StreamMessageReader(proc.stdout),
    new rpc.StreamMessageWriter(proc.stdin),
  );
  const pushed = new Map(); // uri -> list of publishDiagnostics params, in arrival order
  const waiters = new Set();
  connection.onNotification('textDocument/publishDiagnostics', (params) => {
    pushed.set(params.uri, [...(pushed.get(params.uri) ?? []), params]);
    for (const w of [...waiters]) w();
  });
  for (const method of ['window/logMessage', 'window/showMessage', '$/progress', '$/logTrace']) {
    connection.onNotification(method, () => {});
  }
  connection.onRequest('workspace/configuration', (params) =>
    params.items.map((item) =>
      item.section === 'tea' ? { ...settings, trace: { server: 'off' } } : null,
    ),
  );
  for (const method of [
    'client/registerCapability',
    'client/unregisterCapability',
    'window/workDoneProgress/create',
    'workspace/diagnostic/refresh',
    'workspace/codeLens/refresh',
    'workspace/semanticTokens/refresh',
    'workspace/inlayHint/refresh',
  ]) {
    connection.onRequest(method, () => null);
  }
  connection.onRequest('workspace/workspaceFolders', () => [
    { uri: pathToFileURL(repoRoot).href, name: 'tea-lsp' },
  ]);
  connection.listen();

  const init = await alive(connection.sendRequest('initialize', {
    processId: process.pid,
    clientInfo: { name: 'Visual Studio Code', version: '1.82.0' },
    locale: 'en',
    rootUri: pathToFileURL(repoRoot).href,
    workspaceFolders: [{ uri: pathToFileURL(repoRoot).href, name: 'tea-lsp' }],
    initializationOptions: config.initializationOptions(settings),
    capabilities: capabilities(pull),
  }));
  connection.sendNotification('initialized', {});

  /** Resolves with the first pushed diagnostic list for `uri` that satisfies `pred`. */
  const waitForPush = (uri, pred) => new Promise((resolve, reject) => {
    const check = () => {
      const hit = (pushed.get(uri) ?? []).find((p) => pred(p.diagnostics));
      if (!hit) return;
      waiters.delete(check);
      clearTimeout(timer);
      resolve(hit.diagnostics);
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`no matching diagnostics pushed for ${uri} within ${TIMEOUT_MS} ms; got ` +
        `${JSON.stringify(pushed.get(uri) ?? [], null, 1)}\nserver stderr:\n${stderr.join('')}`));
    }, TIMEOUT_MS);
    waiters.add(check);
    check();
  });

  const stop = async () => {
    if (proc.exitCode !== null) return; // already reported by a failing test
    const exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
    await alive(connection.sendRequest('shutdown'));
    exitExpected = true;
    connection.sendNotification('exit');
    const timer = setTimeout(() => proc.kill(), 10_000);
    const code = await exited;
    clearTimeout(timer);
    connection.dispose();
    assert.equal(code, 0, `server exit code after shutdown/exit; stderr:\n${stderr.join('')}`);
  };

  return { init, connection, alive, waitForPush, pushed, stop };
}

const hasTea201 = (list) => list.some((d) => d.code === 'TEA201');

function assertTea201(diags) {
  const found = diags.filter((x) => x.code === 'TEA201');
  assert.equal(found.length, 1, JSON.stringify(diags));
  const d = found[0];
  // `    goto: finsh` is line 13 of the file: 0-based line 12, the value starts at column 10
  assert.deepEqual(d.range, {
    start: { line: 12, character: 10 },
    end: { line: 12, character: 15 },
  });
  assert.equal(d.source, 'tea-lsp');
  assert.equal(d.severity, 1);
  assert.ok(d.message.startsWith("unknown node 'finsh'"), d.message);
  assert.match(d.codeDescription?.href ?? '', /TEA201/);
}

async function runFixture(s) {
  const doc = fixture('run.tea.yaml');
  s.connection.sendNotification('textDocument/didOpen', {
    textDocument: { uri: doc.uri, languageId: 'yaml', version: 1, text: doc.text },
  });
  const result = await s.alive(s.connection.sendRequest('workspace/executeCommand', {
    command: 'tea.runWorkflow',
    arguments: [doc.uri, { count: 4 }],
  }));
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.deepEqual(result.state, { count: 5, done: true, total: 50 });
  assert.equal(result.error, null);
  assert.ok(Array.isArray(result.branches));
  assert.equal(typeof result.timing_ms, 'number');
  s.connection.sendNotification('textDocument/didClose', { textDocument: { uri: doc.uri } });
}

describe('as VS Code (pull diagnostics)', () => {
  let s;
  before(async () => {
    s = await startServer({ pull: true });
  });
  after(async () => {
    await s?.stop();
  });

  test('the server advertises what the extension relies on', () => {
    const caps = s.init.capabilities;
    const commands = caps.executeCommandProvider?.commands ?? [];
    assert.ok(commands.includes('tea.runWorkflow'), JSON.stringify(caps));
    assert.ok(caps.diagnosticProvider, 'pull diagnostics for a client that supports them');
    assert.ok(caps.definitionProvider);
  });

  test('a broken workflow gets TEA201 at the unknown goto target', async () => {
    const doc = fixture('broken.tea.yaml');
    s.connection.sendNotification('textDocument/didOpen', {
      textDocument: { uri: doc.uri, languageId: 'yaml', version: 1, text: doc.text },
    });
    const report = await s.alive(s.connection.sendRequest('textDocument/diagnostic', {
      textDocument: { uri: doc.uri },
      identifier: s.init.capabilities.diagnosticProvider.identifier,
    }));
    assert.equal(report.kind, 'full');
    assertTea201(report.items);
    s.connection.sendNotification('textDocument/didClose', { textDocument: { uri: doc.uri } });
  });

  test('tea.runWorkflow runs the open buffer with an input object', () => runFixture(s));

  test('the graph view reads tea/graph and the run result as the server sends them', async () => {
    const doc = fixture('graph.tea.yaml');
    const text = doc.text.replace('name: finish', 'name: finsh');
    s.connection.sendNotification('textDocument/didOpen', {
      textDocument: { uri: doc.uri, languageId: 'yaml', version: 1, text: doc.text },
    });
    const graph = await s.alive(
      s.connection.sendRequest('tea/graph', { textDocument: { uri: doc.uri } }),
    );
    assert.ok(graphModel.isGraphResult(graph), JSON.stringify(graph));
    const looks = graphModel.nodeLooks(graph);
    assert.deepEqual(
      looks.map((l) => [l.name, l.kind, l.severity]),
      [
        ['__start__', 'start', null],
        ['start', 'node', null],
        ['middle', 'node', 'error'],
        ['finish', 'node', null],
        ['finsh', 'missing', null],
        ['__end__', 'end', null],
      ],
    );
    assert.deepEqual(
      looks.map((l) => l.id),
      ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'],
    );
    const start = graph.nodes.find((n) => n.name === 'start');
    assert.deepEqual(graphModel.rangeOf(graph, start.id), {
      start: { line: 2, character: 10 },
      end: { line: 2, character: 15 },
    });
    for (const n of graph.nodes) assert.ok(graph.dot.includes(`id="tea-${n.id}"`), n.id);
    // fixed (finish renamed to finsh) and run: the last node fails, the others ran ok
    s.connection.sendNotification('textDocument/didChange', {
      textDocument: { uri: doc.uri, version: 2 },
      contentChanges: [{ text }],
    });
    const result = await s.alive(s.connection.sendRequest('workspace/executeCommand', {
      command: 'tea.runWorkflow',
      arguments: [doc.uri, null],
    }));
    assert.equal(result.status, 'failed', JSON.stringify(result));
    const fixed = await s.alive(
      s.connection.sendRequest('tea/graph', { textDocument: { uri: doc.uri } }),
    );
    assert.equal(fixed.version, 2);
    const after = graphModel.nodeLooks(fixed, graphModel.runOutcomes(result));
    assert.deepEqual(
      after.filter((l) => l.outcome !== null).map((l) => [l.name, l.outcome]),
      [
        ['start', 'ok'],
        ['middle', 'ok'],
        ['finsh', 'failed'],
      ],
    );
    s.connection.sendNotification('textDocument/didClose', { textDocument: { uri: doc.uri } });
  });
});

describe('as a push-only client (publishDiagnostics)', () => {
  let s;
  before(async () => {
    s = await startServer({ pull: false });
  });
  after(async () => {
    await s?.stop();
  });

  test('a broken workflow gets TEA201 at the unknown goto target', async () => {
    const doc = fixture('broken.tea.yaml');
    s.connection.sendNotification('textDocument/didOpen', {
      textDocument: { uri: doc.uri, languageId: 'yaml', version: 1, text: doc.text },
    });
    assertTea201(await s.alive(s.waitForPush(doc.uri, hasTea201)));
  });

  test('tea.runWorkflow runs the open buffer with an input object', () => runFixture(s));
});
