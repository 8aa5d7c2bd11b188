// The run command's input prompt and result rendering. No `vscode` import: tested in plain Node.

export type ParsedInput =
  | { ok: true; value: Record<string, unknown> | undefined }
  | { ok: false; message: string };

/** Empty text means "no input"; anything else must be a JSON object. */
export function parseRunInput(text: string): ParsedInput {
  if (text.trim() === '') return { ok: true, value: undefined };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return { ok: false, message: `the input is not valid JSON: ${detail}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    return { ok: false, message: `the input must be a JSON object like {"count": 1}, not ${got}` };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

export interface RunArguments {
  /** A Uri, a URI string, or undefined for the active editor. */
  target: unknown;
  /** `given: false`: prompt for the input. */
  input: { given: false } | { given: true; value: unknown };
}

function isUriShaped(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { scheme?: unknown }).scheme === 'string' &&
    typeof (value as { path?: unknown }).path === 'string'
  );
}

/** `{groupId: 0}`: what VS Code passes after the Uri to an editor-title command. */
function isEditorContext(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((k) => k === 'groupId' || k === 'editorIndex');
}

/**
 * Tells the command's arguments apart by shape. VS Code calls it with `()` from the command
 * palette, `(uri, {groupId})` from the editor title, `(uri, uri[])` from the explorer context
 * menu; the code lens passes `(uriString)`. Input is only an object or a string in second place
 * that is none of these (or `null` for "no input, do not ask").
 */
export function splitRunArguments(args: readonly unknown[]): RunArguments {
  const [target, second] = args;
  if (args.length < 2 || second === undefined) return { target, input: { given: false } };
  if (Array.isArray(second) || isUriShaped(second) || isEditorContext(second)) {
    return { target, input: { given: false } };
  }
  if (second === null || typeof second === 'string' || typeof second === 'object') {
    return { target, input: { given: true, value: second } };
  }
  return { target, input: { given: false } };
}

/** The `arguments` of `workspace/executeCommand` for `tea.runWorkflow`. */
export function runArguments(uri: string, input: Record<string, unknown> | undefined): unknown[] {
  return input === undefined ? [uri] : [uri, input];
}

export interface RunResult {
  ok: boolean;
  state?: unknown;
  error?: string | null;
  branches?: unknown[];
  timing_ms?: number;
}

export function isRunResult(value: unknown): value is RunResult {
  return (
    typeof value === 'object' && value !== null && typeof (value as RunResult).ok === 'boolean'
  );
}

/** One line for the output channel and notifications. */
export function summarizeRunResult(name: string, result: RunResult): string {
  const parts: string[] = [];
  if (typeof result.timing_ms === 'number') parts.push(`${Math.round(result.timing_ms)} ms`);
  if (Array.isArray(result.branches) && result.branches.length > 0) {
    const n = result.branches.length;
    parts.push(`${n} branch${n === 1 ? '' : 'es'}`);
  }
  const extra = parts.length > 0 ? ` (${parts.join(', ')})` : '';
  return result.ok
    ? `${name}: ok${extra}`
    : `${name}: failed${extra}: ${result.error ?? 'unknown error'}`;
}

export function formatRunResult(result: unknown): string {
  return JSON.stringify(result, null, 2) + '\n';
}
