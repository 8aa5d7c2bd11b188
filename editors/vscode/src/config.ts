// Settings of the `tea` section, as the extension reads them and as the server receives them.
// No `vscode` import here: the tests load this module in plain Node.

export const DEFAULT_FILES: readonly string[] = ['**/*.tea.yaml', '**/*.tea.yml'];
export const DEFAULT_LUA_TIMEOUT = 30;
export const DEFAULT_LUA_MAX_MEMORY = '64MB';

export type Strategy = 'process' | 'thread';

export interface TeaSettings {
  files: string[];
  lua: { timeout: number; maxMemory: string };
  run: { maxParallelBranches: number | null; strategy: Strategy };
  server: { command: string[] };
}

/** What the server receives as `initializationOptions`. */
export interface InitializationOptions {
  files: string[];
  lua: { timeout: number; maxMemory: string };
  run: { maxParallelBranches?: number; strategy: Strategy };
}

/** Reads one setting by its dotted key under `tea` (e.g. `lua.timeout`). */
export type SettingGetter = (key: string) => unknown;

function stringList(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter((v): v is string => typeof v === 'string' && v.trim() !== '');
}

/**
 * Reads the `tea` settings, keeping only well-typed values: anything else falls back to the
 * default (the server does the same and warns), so a bad setting never stops the extension.
 */
export function readSettings(get: SettingGetter): TeaSettings {
  const files = stringList(get('files'));
  const timeout = get('lua.timeout');
  const maxMemory = get('lua.maxMemory');
  const branches = get('run.maxParallelBranches');
  const strategy = get('run.strategy');
  return {
    files: files && files.length > 0 ? files : [...DEFAULT_FILES],
    lua: {
      timeout:
        typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0
          ? timeout
          : DEFAULT_LUA_TIMEOUT,
      maxMemory:
        typeof maxMemory === 'string' && maxMemory.trim() !== ''
          ? maxMemory.trim()
          : DEFAULT_LUA_MAX_MEMORY,
    },
    run: {
      maxParallelBranches:
        typeof branches === 'number' && Number.isInteger(branches) && branches >= 1
          ? branches
          : null,
      strategy: strategy === 'thread' ? 'thread' : 'process',
    },
    server: { command: stringList(get('server.command')) ?? [] },
  };
}

export function initializationOptions(s: TeaSettings): InitializationOptions {
  const run: InitializationOptions['run'] = { strategy: s.run.strategy };
  if (s.run.maxParallelBranches !== null) run.maxParallelBranches = s.run.maxParallelBranches;
  return {
    files: [...s.files],
    lua: { timeout: s.lua.timeout, maxMemory: s.lua.maxMemory },
    run,
  };
}

export type DocumentFilterLike =
  | { scheme: string; language: string }
  | { scheme: string; pattern: string };

/**
 * Documents the client syncs to the server: every YAML document (the server decides whether a
 * plain YAML file with a top-level `nodes:` key is a workflow, and ignores the others), plus the
 * `tea.files` globs whatever language the editor gave them.
 */
export function documentSelector(files: readonly string[]): DocumentFilterLike[] {
  return [
    { scheme: 'file', language: 'yaml' },
    { scheme: 'untitled', language: 'yaml' },
    ...files.map((pattern) => ({ scheme: 'file', pattern })),
  ];
}

const TOP_LEVEL_NODES = /^(?:nodes|"nodes"|'nodes')[ \t]*:(?:[ \t]|$)/m;

/** True when YAML text has a top-level `nodes:` key (at column 0). */
export function hasTopLevelNodesKey(text: string): boolean {
  return TOP_LEVEL_NODES.test(text);
}
