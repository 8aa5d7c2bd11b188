// Unit tests of the graph view's pure logic (out/graphModel.js) and of its bundled Graphviz.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import model from '../out/graphModel.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

const range = (line, a, b) => ({ start: { line, character: a }, end: { line, character: b } });
const GRAPH = {
  uri: 'file:///w/flow.tea.yaml',
  version: 3,
  dot: 'digraph "flow" { n0 -> n1; }',
  mermaid: 'flowchart TD',
  nodes: [
    { id: 'n0', name: '__start__', kind: 'start', range: null, severity: null, cluster: null },
    { id: 'n1', name: 'setup', kind: 'node', range: range(3, 10, 15), severity: null, cluster: null },
    { id: 'n2', name: 'a', kind: 'node', range: range(5, 10, 11), severity: 'error', cluster: 'c1_0' },
    { id: 'n3', name: 'join', kind: 'fan_in', range: range(7, 10, 14), severity: 'warning', cluster: null },
    { id: 'n4', name: 'nowhere', kind: 'missing', range: null, severity: null, cluster: null },
    { id: 'n5', name: '__end__', kind: 'end', range: null, severity: null, cluster: null },
  ],
};

test('looks: diagnostics only, before any run', () => {
  const looks = model.nodeLooks(GRAPH);
  assert.deepEqual(looks[4], {
    id: 'n4', name: 'nowhere', kind: 'missing', severity: null, outcome: null, time: '',
  });
  assert.deepEqual(
    looks.map((l) => [l.id, l.severity, l.outcome]),
    [
      ['n0', null, null],
      ['n1', null, null],
      ['n2', 'error', null],
      ['n3', 'warning', null],
      ['n4', null, null],
      ['n5', null, null],
    ],
  );
});

test('looks: after a run, absent nodes did not run; start/end/missing get no outcome', () => {
  const outcomes = model.runOutcomes({
    ok: false,
    nodes: { setup: { outcome: 'ok', time: '1.2 ms' }, a: { outcome: 'failed', time: '3.0 ms' } },
  });
  const looks = model.nodeLooks(GRAPH, outcomes);
  assert.deepEqual(
    looks.map((l) => [l.name, l.outcome, l.time]),
    [
      ['__start__', null, ''],
      ['setup', 'ok', '1.2 ms'],
      ['a', 'failed', '3.0 ms'],
      ['join', 'not_run', ''],
      ['nowhere', null, ''],
      ['__end__', null, ''],
    ],
  );
  // an unknown outcome text is not passed on as a class name
  const odd = model.nodeLooks(GRAPH, { setup: { outcome: 'x" onclick="', time: '' } });
  assert.equal(odd[1].outcome, 'not_run');
});

test('runOutcomes: results without per-node outcomes give undefined', () => {
  assert.equal(model.runOutcomes(null), undefined);
  assert.equal(model.runOutcomes({ ok: true }), undefined);
  assert.equal(model.runOutcomes({ nodes: [] }), undefined);
  assert.deepEqual(model.runOutcomes({ nodes: { a: { outcome: 'ok' }, b: 3 } }), {
    a: { outcome: 'ok', time: '' },
  });
});

test('rangeOf: a clicked id maps to its name in the file; start/end/unknown to null', () => {
  assert.deepEqual(model.rangeOf(GRAPH, 'n2'), range(5, 10, 11));
  assert.equal(model.rangeOf(GRAPH, 'n0'), null);
  assert.equal(model.rangeOf(GRAPH, 'n99'), null);
  assert.equal(model.isGraphResult(GRAPH), true);
  assert.equal(model.isGraphResult(null), false);
  assert.equal(model.isGraphResult({ uri: 'x', dot: 1, nodes: [] }), false);
});

test('debounce: a burst of calls runs once, with the last arguments', async () => {
  const seen = [];
  const d = model.debounce((x) => seen.push(x), 20);
  d(1);
  d(2);
  d(3);
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(seen, [3]);
  d(4);
  d.cancel();
  await new Promise((r) => setTimeout(r, 40));
  assert.deepEqual(seen, [3]);
});

test('html: strict content security policy, nonce on every script, no inline handlers', () => {
  const html = model.graphHtml({
    cspSource: 'https://x.vscode-cdn.net',
    nonce: 'abc123',
    vizUri: 'https://x.vscode-cdn.net/out/viz/viz-global.js',
    scriptUri: 'https://x.vscode-cdn.net/media/graph.js',
    styleUri: 'https://x.vscode-cdn.net/media/graph.css',
    title: 'TEA Graph',
  });
  const csp = html.match(/http-equiv="Content-Security-Policy" content="([^"]*)"/)[1];
  assert.equal(
    csp,
    "default-src 'none'; img-src https://x.vscode-cdn.net data:; font-src https://x.vscode-cdn.net; " +
      "style-src https://x.vscode-cdn.net 'nonce-abc123'; script-src 'nonce-abc123' 'wasm-unsafe-eval'",
  );
  const scripts = html.match(/<script[^>]*>/g);
  assert.equal(scripts.length, 2);
  for (const s of scripts) assert.match(s, /nonce="abc123" src="https:\/\/x\.vscode-cdn\.net\//);
  assert.doesNotMatch(html, /\son[a-z]+=/);
  const nonce = model.makeNonce();
  assert.match(nonce, /^[A-Za-z0-9]{32}$/);
  assert.notEqual(nonce, model.makeNonce());
});

test('manifest: Show Graph in the palette and the editor title of workflows', () => {
  const cmd = pkg.contributes.commands.find((c) => c.command === 'tea.showGraph');
  assert.deepEqual([cmd.title, cmd.category], ['Show Graph', 'TEA']);
  assert.ok(pkg.contributes.menus.commandPalette.some((m) => m.command === 'tea.showGraph'));
  const title = pkg.contributes.menus['editor/title'].find((m) => m.command === 'tea.showGraph');
  assert.equal(title.when, 'tea.isWorkflow');
});

test('bundled Graphviz: out/viz holds the self-contained build that lays out a graph', async () => {
  const file = path.join(root, 'out', 'viz', 'viz-global.js');
  assert.ok(existsSync(file), 'npm run compile copies it');
  const vizPkg = JSON.parse(readFileSync(path.join(root, 'out', 'viz', 'package.json'), 'utf8'));
  assert.equal(vizPkg.name, '@viz-js/viz');
  const { instance } = await import('@viz-js/viz');
  const viz = await instance();
  const svg = viz.renderString('digraph { n0 [id="tea-n0", label="setup"]; n0 -> n1; }', {
    format: 'svg',
  });
  assert.match(svg, /<g id="tea&#45;n0" class="node">/);
  // .vscodeignore keeps out/ (minus source maps) and media/ in the package
  const ignore = readFileSync(path.join(root, '.vscodeignore'), 'utf8').split('\n');
  assert.ok(!ignore.some((l) => ['out', 'out/**', 'media', 'media/**'].includes(l.trim())), ignore);
});
