// Which command starts the server. No `vscode` import here: the tests load this in plain Node.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface ServerCommand {
  command: string;
  args: string[];
  /** Where it came from, shown in the output channel and the status-bar tooltip. */
  source: 'setting' | 'path' | 'python';
}

export interface ResolveOptions {
  /** `tea.server.command`; empty means "find it". */
  configured: readonly string[];
  /** The PATH to search, `process.env.PATH` by default. */
  pathEnv?: string;
  platform?: NodeJS.Platform;
  /** PATHEXT on Windows. */
  pathExt?: string;
  /** The selected Python interpreter, if any. */
  python?: string;
  workspaceFolder?: string;
  home?: string;
}

/** Expands `${workspaceFolder}`, `${userHome}`, `${env:NAME}` and a leading `~`. */
export function expandVariables(value: string, opts: ResolveOptions): string {
  const home = opts.home ?? os.homedir();
  let out = value.replace(/\$\{(workspaceFolder|userHome|env:([A-Za-z_][A-Za-z0-9_]*))\}/g,
    (whole, name: string, envName: string | undefined) => {
      if (envName !== undefined) return process.env[envName] ?? '';
      if (name === 'userHome') return home;
      return opts.workspaceFolder ?? whole;
    });
  if (out === '~' || out.startsWith('~/') || out.startsWith('~\\')) out = home + out.slice(1);
  return out;
}

function isExecutableFile(file: string, platform: NodeJS.Platform): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    if (platform !== 'win32') fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable named `name` on `pathEnv`, or undefined. */
export function findOnPath(
  name: string,
  pathEnv: string,
  platform: NodeJS.Platform = process.platform,
  pathExt = '.EXE;.CMD;.BAT;.COM',
): string | undefined {
  const sep = platform === 'win32' ? ';' : ':';
  const exts = platform === 'win32' ? ['', ...pathExt.split(';').filter(Boolean)] : [''];
  for (const dir of pathEnv.split(sep)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext);
      if (isExecutableFile(candidate, platform)) return candidate;
    }
  }
  return undefined;
}

/** Whether `python` can import `tea_lsp` (the extension runs `python -c "import tea_lsp"`). */
export type ModuleProbe = (python: string) => boolean;

export type Resolution =
  | { ok: true; command: ServerCommand; tried: string[] }
  | { ok: false; tried: string[] };

/** True when `command` names an executable: a path to one, or a name found on `pathEnv`. */
export function commandExists(
  command: string,
  pathEnv: string,
  platform: NodeJS.Platform = process.platform,
  pathExt?: string,
): boolean {
  if (command.includes('/') || (platform === 'win32' && command.includes('\\'))) {
    return isExecutableFile(command, platform);
  }
  return findOnPath(command, pathEnv, platform, pathExt) !== undefined;
}

/**
 * `tea.server.command` if set (used as given: a missing one is reported, not replaced); else the
 * selected Python interpreter's `-m tea_lsp serve` when that interpreter has tea_lsp; else
 * `tea-lsp serve` from PATH. `tried` lists what was looked at, for the message when none fits.
 */
export function resolveServerCommand(opts: ResolveOptions & { hasModule?: ModuleProbe }): Resolution {
  const platform = opts.platform ?? process.platform;
  const pathEnv = opts.pathEnv ?? process.env.PATH ?? '';
  const configured = opts.configured.map((part) => expandVariables(part, opts));
  if (configured.length > 0) {
    const command: ServerCommand = {
      command: configured[0],
      args: configured.slice(1),
      source: 'setting',
    };
    const tried = [`tea.server.command: ${describeCommand(command)}`];
    return commandExists(command.command, pathEnv, platform, opts.pathExt)
      ? { ok: true, command, tried }
      : { ok: false, tried };
  }
  const tried: string[] = [];
  if (opts.python) {
    const command: ServerCommand = {
      command: opts.python,
      args: ['-m', 'tea_lsp', 'serve'],
      source: 'python',
    };
    tried.push(`the selected Python interpreter: ${describeCommand(command)}`);
    if (commandExists(opts.python, pathEnv, platform, opts.pathExt) && opts.hasModule?.(opts.python)) {
      return { ok: true, command, tried };
    }
  }
  tried.push('tea-lsp on PATH');
  const found = findOnPath('tea-lsp', pathEnv, platform, opts.pathExt);
  if (found) return { ok: true, command: { command: found, args: ['serve'], source: 'path' }, tried };
  return { ok: false, tried };
}

/** A shell-like rendering, for messages. */
export function describeCommand(cmd: ServerCommand): string {
  return [cmd.command, ...cmd.args]
    .map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : JSON.stringify(part)))
    .join(' ');
}
