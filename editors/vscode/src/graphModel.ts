// The graph view's data: the `tea/graph` result, run outcomes, and the webview's HTML with its
// content security policy. No `vscode` import: tested in plain Node.

export interface Position {
  line: number;
  character: number;
}

export interface GraphNode {
  id: string;
  name: string;
  kind: string; // start end node fan_in dynamic loop steps missing
  range: { start: Position; end: Position } | null;
  severity: 'error' | 'warning' | null;
  cluster: string | null;
}

export interface GraphResult {
  uri: string;
  version: number | null;
  dot: string;
  mermaid: string;
  nodes: GraphNode[];
}

/** How a node ended in a run: `nodes` of the run command's result, by node name. */
export type NodeOutcomes = Record<string, { outcome: string; time: string }>;

/** What the webview draws on top of Graphviz's SVG, per node id. */
export interface NodeLook {
  id: string;
  name: string;
  kind: string;
  severity: 'error' | 'warning' | null;
  outcome: 'ok' | 'failed' | 'timeout' | 'not_run' | null;
  time: string;
}

const RAN_KINDS = new Set(['node', 'fan_in', 'dynamic', 'loop', 'steps']);
const OUTCOMES = new Set(['ok', 'failed', 'timeout', 'not_run']);

export function isGraphResult(value: unknown): value is GraphResult {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<GraphResult>;
  return typeof v.uri === 'string' && typeof v.dot === 'string' && Array.isArray(v.nodes);
}

/** The run command's per-node outcomes, or undefined when the result has none. */
export function runOutcomes(result: unknown): NodeOutcomes | undefined {
  if (typeof result !== 'object' || result === null) return undefined;
  const nodes = (result as { nodes?: unknown }).nodes;
  if (typeof nodes !== 'object' || nodes === null || Array.isArray(nodes)) return undefined;
  const out: NodeOutcomes = {};
  for (const [name, v] of Object.entries(nodes as Record<string, unknown>)) {
    if (typeof v !== 'object' || v === null) continue;
    const { outcome, time } = v as { outcome?: unknown; time?: unknown };
    if (typeof outcome !== 'string') continue;
    out[name] = { outcome, time: typeof time === 'string' ? time : '' };
  }
  return out;
}

/**
 * Each node's look: its diagnostics' severity, and after a run its outcome (a node that can run
 * but is absent from the run's outcomes did not run; `__start__`, `__end__` and missing nodes
 * get no outcome).
 */
export function nodeLooks(graph: GraphResult, outcomes?: NodeOutcomes): NodeLook[] {
  return graph.nodes.map((n) => {
    let outcome: NodeLook['outcome'] = null;
    let time = '';
    if (outcomes && RAN_KINDS.has(n.kind)) {
      const o = outcomes[n.name];
      outcome = o && OUTCOMES.has(o.outcome) ? (o.outcome as NodeLook['outcome']) : 'not_run';
      time = o?.time ?? '';
    }
    return { id: n.id, name: n.name, kind: n.kind, severity: n.severity, outcome, time };
  });
}

/** The range to reveal for a clicked node id (null for `__start__`/`__end__`/unknown ids). */
export function rangeOf(graph: GraphResult, id: string): GraphNode['range'] {
  return graph.nodes.find((n) => n.id === id)?.range ?? null;
}

/** Calls `fn` once, `ms` after the last of a burst of calls. */
export function debounce<A extends unknown[]>(
  fn: (...args: A) => void,
  ms: number,
): ((...args: A) => void) & { cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const call = (...args: A): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      fn(...args);
    }, ms);
  };
  call.cancel = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  return call;
}

/**
 * The policy: nothing by default; scripts only with the nonce (plus `wasm-unsafe-eval`, which
 * Graphviz's WebAssembly needs to compile); styles from the extension and the nonce'd block.
 */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}' 'wasm-unsafe-eval'`,
  ].join('; ');
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

export function graphHtml(opts: {
  cspSource: string;
  nonce: string;
  vizUri: string;
  scriptUri: string;
  styleUri: string;
  title: string;
}): string {
  const n = escapeAttr(opts.nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(
    contentSecurityPolicy(opts.cspSource, opts.nonce),
  )}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${escapeAttr(opts.styleUri)}">
<title>${escapeAttr(opts.title)}</title>
</head>
<body>
<div id="status" role="status">loading Graphviz…</div>
<div id="graph"></div>
<script nonce="${n}" src="${escapeAttr(opts.vizUri)}"></script>
<script nonce="${n}" src="${escapeAttr(opts.scriptUri)}"></script>
</body>
</html>`;
}

export function makeNonce(random: () => number = Math.random): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < 32; i++) out += chars.charAt(Math.floor(random() * chars.length));
  return out;
}
