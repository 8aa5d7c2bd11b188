// The TEA Workflows extension: starts `tea-lsp serve`, runs workflows, shows the server state.
import { spawnSync } from 'child_process';
import { randomUUID } from 'crypto';
import * as path from 'path';
import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  ExecuteCommandParams,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State,
  TransportKind,
  WorkDoneProgress,
} from 'vscode-languageclient/node';
import {
  TeaSettings,
  documentSelector,
  hasTopLevelNodesKey,
  initializationOptions,
  readSettings,
} from './config';
import {
  RunResult,
  formatRunResult,
  isRunResult,
  parseRunInput,
  runArguments,
  splitRunArguments,
  summarizeRunResult,
} from './runInput';
import { GraphPanel, SHOW_GRAPH_COMMAND } from './graphPanel';
import { runOutcomes } from './graphModel';
import { Resolution, ServerCommand, describeCommand, resolveServerCommand } from './serverCommand';

const SECTION = 'tea';
const RUN_COMMAND = 'tea.runWorkflow';
const RESULT_SCHEME = 'tea-run';

type ServerState = 'starting' | 'running' | 'stopped' | 'error';

/** The part of the Python extension's API we use to find the selected interpreter. */
interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined;
    resolveEnvironment(
      env: { path: string } | string,
    ): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
  };
}

function settingsFor(resource?: vscode.Uri): TeaSettings {
  const cfg = vscode.workspace.getConfiguration(SECTION, resource);
  return readSettings((key) => cfg.get(key));
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Whether `python` can import tea_lsp (a missing interpreter counts as no). */
function hasTeaLsp(python: string): boolean {
  const r = spawnSync(python, ['-c', 'import tea_lsp'], { timeout: 20000, stdio: 'ignore' });
  return r.status === 0;
}

/**
 * The language client's own notifications are generic ("couldn't create connection to server",
 * "the server crashed 5 times"), several per failure and without a way out: it only logs here,
 * and the extension shows one message of its own.
 */
class QuietLanguageClient extends LanguageClient {
  override error(message: string, data?: unknown, _showNotification?: boolean | 'force'): void {
    super.error(message, data, false);
  }
}

const INSTALL_HINT =
  'Install tea-lsp into the selected Python environment (`pip install /path/to/tea-lsp`, from a ' +
  'clone) or set `tea.server.command`.';

class TeaExtension implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private command: ServerCommand | undefined;
  private state: ServerState = 'stopped';
  private stopping = false;
  private startup: Promise<void> | undefined;
  private readonly output = vscode.window.createOutputChannel('TEA');
  private readonly status = vscode.window.createStatusBarItem(
    'tea.status',
    vscode.StatusBarAlignment.Right,
    100,
  );
  private readonly results = new Map<string, string>();
  private readonly resultsChanged = new vscode.EventEmitter<vscode.Uri>();
  private readonly lastInput = new Map<string, string>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly graph: GraphPanel;

  constructor(extensionUri: vscode.Uri) {
    this.graph = new GraphPanel(extensionUri, {
      request: (uri) => this.requestGraph(uri),
      isWorkflow: (doc) => this.isWorkflow(doc),
      log: (message) => this.output.appendLine(message),
    });
    this.status.name = 'TEA Language Server';
    this.status.command = 'tea.showOutput';
    this.disposables.push(
      this.output,
      this.status,
      this.resultsChanged,
      this.graph,
      vscode.commands.registerCommand(SHOW_GRAPH_COMMAND, () => this.graph.show()),
      vscode.commands.registerCommand('tea.restartServer', () => this.restart()),
      vscode.commands.registerCommand('tea.showOutput', () => this.output.show(true)),
      vscode.workspace.registerTextDocumentContentProvider(RESULT_SCHEME, {
        onDidChange: this.resultsChanged.event,
        provideTextDocumentContent: (uri) => this.results.get(uri.toString()) ?? '',
      }),
      vscode.workspace.onDidOpenTextDocument((doc) => this.onDocument(doc)),
      vscode.window.onDidChangeActiveTextEditor((editor) => this.updateEditorContext(editor)),
      vscode.workspace.onDidSaveTextDocument(() =>
        this.updateEditorContext(vscode.window.activeTextEditor),
      ),
      vscode.workspace.onDidChangeConfiguration((e) => this.onConfigurationChanged(e)),
    );
  }

  /** Starts the server as soon as a workflow is open or the workspace holds one. */
  async activate(): Promise<void> {
    this.updateEditorContext(vscode.window.activeTextEditor);
    if (vscode.workspace.textDocuments.some((doc) => this.isWorkflow(doc))) {
      await this.start();
      return;
    }
    const files = settingsFor().files;
    for (const glob of files) {
      const found = await vscode.workspace.findFiles(glob, '**/node_modules/**', 1);
      if (found.length > 0) {
        await this.start();
        return;
      }
    }
  }

  dispose(): void {
    void this.stop();
    for (const d of this.disposables) d.dispose();
  }

  // ---- which documents

  isWorkflow(doc: vscode.TextDocument): boolean {
    if (doc.uri.scheme !== 'file' && doc.uri.scheme !== 'untitled') return false;
    const { files } = settingsFor(doc.uri);
    if (doc.uri.scheme === 'file') {
      for (const pattern of files) {
        if (vscode.languages.match({ scheme: 'file', pattern }, doc) > 0) return true;
      }
    }
    return doc.languageId === 'yaml' && hasTopLevelNodesKey(doc.getText());
  }

  private onDocument(doc: vscode.TextDocument): void {
    if (!this.client && this.isWorkflow(doc)) void this.start();
  }

  private updateEditorContext(editor: vscode.TextEditor | undefined): void {
    const isWorkflow = editor !== undefined && this.isWorkflow(editor.document);
    void vscode.commands.executeCommand('setContext', 'tea.isWorkflow', isWorkflow);
  }

  private onConfigurationChanged(e: vscode.ConfigurationChangeEvent): void {
    // the command and the document selector are fixed at start: restart to apply them; the
    // other settings reach the running server through workspace/didChangeConfiguration.
    if (
      this.client &&
      (e.affectsConfiguration('tea.server.command') || e.affectsConfiguration('tea.files'))
    ) {
      this.output.appendLine('[client] server settings changed: restarting');
      void this.restart();
    }
  }

  // ---- server lifecycle

  private setState(state: ServerState, detail?: string): void {
    this.state = state;
    const icon = {
      starting: '$(loading~spin)',
      running: '$(check)',
      stopped: '$(circle-slash)',
      error: '$(error)',
    }[state];
    this.status.text = `${icon} TEA`;
    const cmd = this.command ? describeCommand(this.command) : 'not resolved yet';
    const tooltip = new vscode.MarkdownString(
      `**tea-lsp**: ${state}${detail ? ` — ${detail}` : ''}\n\n` +
        `Command: \`${cmd}\`\n\nClick to show the output.`,
    );
    this.status.tooltip = tooltip;
    this.status.backgroundColor =
      state === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.status.show();
    void vscode.commands.executeCommand('setContext', 'tea.serverRunning', state === 'running');
    if (state === 'running') this.graph.serverReady();
  }

  private async resolveCommand(settings: TeaSettings): Promise<Resolution> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const python = settings.server.command.length > 0 ? undefined : await this.selectedPython();
    return resolveServerCommand({
      configured: settings.server.command,
      workspaceFolder: folder,
      python,
      hasModule: hasTeaLsp,
    });
  }

  /** The one message shown when no server can start, with the way out. */
  private async reportStartFailure(reason: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(
      `TEA: the tea-lsp server cannot start: ${reason}. ${INSTALL_HINT}`,
      'Open Settings',
      'Show Output',
    );
    if (choice === 'Show Output') this.output.show(true);
    if (choice === 'Open Settings') this.openServerSetting();
  }

  /**
   * The setting is machine-overridable: with a remote or browser VS Code (code-server) the User
   * tab does not list it. The workspace tab does, and a workspace's `.vscode/settings.json` is
   * where a project venv's tea-lsp usually goes.
   */
  private openServerSetting(): void {
    const query = 'tea.server.command';
    if (vscode.workspace.workspaceFolders?.length) {
      void vscode.commands.executeCommand('workbench.action.openWorkspaceSettings', { query });
    } else {
      void vscode.commands.executeCommand('workbench.action.openSettings', query);
    }
  }

  private async selectedPython(): Promise<string | undefined> {
    const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
    const ext = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
    if (ext) {
      try {
        const api = ext.isActive ? ext.exports : await ext.activate();
        const active = api.environments?.getActiveEnvironmentPath(resource);
        if (active && api.environments) {
          const env = await api.environments.resolveEnvironment(active);
          const exe = env?.executable?.uri?.fsPath;
          if (exe) return exe;
        }
      } catch (err) {
        this.output.appendLine(
          `[client] could not ask for the Python interpreter: ${errorMessage(err)}`,
        );
      }
    }
    const configured = vscode.workspace
      .getConfiguration('python', resource)
      .get<string>('defaultInterpreterPath');
    return configured && configured.trim() !== '' ? configured : undefined;
  }

  start(): Promise<void> {
    if (this.client) return this.startup ?? Promise.resolve();
    this.startup = this.doStart().finally(() => {
      this.startup = undefined;
    });
    return this.startup;
  }

  private async doStart(): Promise<void> {
    const settings = settingsFor();
    this.setState('starting');
    const resolution = await this.resolveCommand(settings);
    if (!resolution.ok) {
      const reason = `not found (tried ${resolution.tried.join('; ')})`;
      this.command = undefined;
      this.setState('error', reason);
      this.output.appendLine(`[client] the server cannot start: ${reason}`);
      await this.reportStartFailure(reason);
      return;
    }
    const command = resolution.command;
    this.command = command;
    this.output.appendLine(
      `[client] starting: ${describeCommand(command)} (from ${command.source})`,
    );
    const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const serverOptions: ServerOptions = {
      command: command.command,
      args: command.args,
      transport: TransportKind.stdio,
      options: cwd ? { cwd } : {},
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: documentSelector(settings.files),
      initializationOptions: initializationOptions(settings),
      synchronize: { configurationSection: SECTION },
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      diagnosticCollectionName: 'tea-lsp',
      initializationFailedHandler: () => false,
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue, handled: true }),
        closed: () => this.onServerClosed(),
      },
      middleware: {
        // the server advertises tea.runWorkflow, so the client registers the command; this is
        // where it gets its input prompt, its progress and its result view.
        executeCommand: (cmd, args, next) =>
          cmd === RUN_COMMAND ? this.runWorkflow(args) : next(cmd, args),
      },
    };
    const client = new QuietLanguageClient(
      SECTION,
      'TEA Language Server',
      serverOptions,
      clientOptions,
    );
    client.onDidChangeState((e) => {
      if (this.client !== client) return;
      if (e.newState === State.Starting) this.setState('starting');
      else if (e.newState === State.Running) this.setState('running');
      else if (e.newState === State.Stopped) {
        if (this.stopping) this.setState('stopped');
        else this.setState('error', 'the server stopped');
      }
    });
    this.client = client;
    this.crashes = [];
    try {
      await client.start();
      this.setState('running');
    } catch (err) {
      this.setState('error', errorMessage(err));
      this.output.appendLine(`[client] the server did not start: ${errorMessage(err)}`);
      this.client = undefined;
      void client.dispose().catch(() => undefined);
      await this.reportStartFailure(`${describeCommand(command)} failed (${errorMessage(err)})`);
    }
  }

  private crashes: number[] = [];

  /** Restart a server that stopped, unless it stopped 4 times in 3 minutes (then one message). */
  private onServerClosed(): { action: CloseAction; handled: boolean } {
    if (this.stopping || this.state !== 'running') {
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < 180000);
    this.crashes.push(now);
    if (this.crashes.length < 4) {
      this.output.appendLine('[client] the server stopped: restarting it');
      return { action: CloseAction.Restart, handled: true };
    }
    const cmd = this.command ? describeCommand(this.command) : 'the server';
    void this.reportStartFailure(`${cmd} stopped 4 times in 3 minutes`);
    return { action: CloseAction.DoNotRestart, handled: true };
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    this.stopping = true;
    try {
      await client.dispose(5000);
    } catch (err) {
      this.output.appendLine(`[client] stopping: ${errorMessage(err)}`);
    } finally {
      this.stopping = false;
      this.setState('stopped');
    }
  }

  async restart(): Promise<void> {
    if (this.startup) await this.startup;
    await this.stop();
    await this.start();
  }

  // ---- tea/graph

  /** The server's graph of an open document (null: not a workflow, or no server yet). */
  private async requestGraph(uri: vscode.Uri): Promise<unknown> {
    if (this.startup) await this.startup;
    const client = this.client;
    if (!client || this.state !== 'running') return null;
    return client.sendRequest('tea/graph', {
      textDocument: { uri: client.code2ProtocolConverter.asUri(uri) },
    });
  }

  // ---- tea.runWorkflow

  /**
   * Arguments, told apart by shape: `[]` (command palette: the active editor), `[uri]` (code
   * lens), `[uri, {groupId}]` (editor title button), `[uri, uri[]]` (explorer context menu) all
   * prompt for input; `[uri, input]` (an object or JSON text) and `[uri, null]` (no input) run
   * without prompting.
   */
  async runWorkflow(args: unknown[]): Promise<RunResult | undefined> {
    const client = this.client;
    if (!client || this.state !== 'running') {
      void vscode.window.showErrorMessage(
        'tea-lsp is not running: run "TEA: Restart Language Server".',
      );
      return undefined;
    }
    const split = splitRunArguments(args);
    const target = this.runTarget(split.target);
    if (!target) {
      void vscode.window.showErrorMessage('Open a workflow file to run it.');
      return undefined;
    }
    const doc = await vscode.workspace.openTextDocument(target);
    const name = path.posix.basename(target.path);
    let input: Record<string, unknown> | undefined;
    if (split.input.given) {
      const given = split.input.value;
      if (given !== undefined && given !== null) {
        const parsed = parseRunInput(typeof given === 'string' ? given : JSON.stringify(given));
        if (!parsed.ok) {
          void vscode.window.showErrorMessage(`Run ${name}: ${parsed.message}`);
          return undefined;
        }
        input = parsed.value;
      }
    } else {
      const key = doc.uri.toString();
      const text = await vscode.window.showInputBox({
        title: `Run ${name}`,
        prompt: 'Input state as a JSON object, merged over initial_state (empty: none)',
        placeHolder: '{"count": 1}',
        value: this.lastInput.get(key) ?? '',
        ignoreFocusOut: true,
        validateInput: (value) => {
          const parsed = parseRunInput(value);
          return parsed.ok ? null : parsed.message;
        },
      });
      if (text === undefined) return undefined; // dismissed
      this.lastInput.set(key, text);
      const parsed = parseRunInput(text);
      if (!parsed.ok) return undefined; // unreachable: validateInput refused it
      input = parsed.value;
    }

    const params: ExecuteCommandParams = {
      command: RUN_COMMAND,
      arguments: runArguments(doc.uri.toString(), input),
    };
    const started = new Date();
    const result = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `Running ${name}`,
        cancellable: true,
      },
      async (progress, token): Promise<unknown> => {
        const workDoneToken = randomUUID();
        params.workDoneToken = workDoneToken;
        const listener = client.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
          if (value.kind !== 'end' && value.message) progress.report({ message: value.message });
        });
        try {
          return await client.sendRequest(ExecuteCommandRequest.type, params, token);
        } catch (err) {
          if (token.isCancellationRequested) {
            this.output.appendLine(`[run ${started.toLocaleTimeString()}] ${name}: cancelled`);
            void vscode.window.showInformationMessage(`Run of ${name} cancelled.`);
          } else {
            const when = started.toLocaleTimeString();
            this.output.appendLine(`[run ${when}] ${name}: ${errorMessage(err)}`);
            void vscode.window.showErrorMessage(`Run ${name}: ${errorMessage(err)}`);
          }
          return undefined;
        } finally {
          listener.dispose();
        }
      },
    );
    if (result === undefined || result === null) return undefined;
    await this.showResult(doc.uri, result);
    const outcomes = runOutcomes(result);
    if (outcomes) this.graph.showRun(doc.uri, outcomes);
    if (!isRunResult(result)) return undefined;
    const summary = summarizeRunResult(name, result);
    this.output.appendLine(`[run ${started.toLocaleTimeString()}] ${summary}`);
    if (!result.ok) void vscode.window.showWarningMessage(summary);
    return result;
  }

  private runTarget(arg: unknown): vscode.Uri | undefined {
    if (arg instanceof vscode.Uri) return arg;
    if (isUriLike(arg)) return vscode.Uri.from(arg);
    if (typeof arg === 'string' && arg !== '') return vscode.Uri.parse(arg);
    const editor = vscode.window.activeTextEditor;
    return editor && editor.document.languageId === 'yaml' ? editor.document.uri : undefined;
  }

  private async showResult(source: vscode.Uri, result: unknown): Promise<void> {
    const base = path.posix.basename(source.path).replace(/\.ya?ml$/i, '');
    const uri = vscode.Uri.from({
      scheme: RESULT_SCHEME,
      path: `/${base}.result.json`,
      query: source.toString(),
    });
    this.results.set(uri.toString(), formatRunResult(result));
    this.resultsChanged.fire(uri);
    const doc = await vscode.workspace.openTextDocument(uri);
    if (doc.languageId !== 'json') await vscode.languages.setTextDocumentLanguage(doc, 'json');
    await vscode.window.showTextDocument(doc, {
      viewColumn: vscode.ViewColumn.Beside,
      preserveFocus: true,
      preview: true,
    });
  }
}

function isUriLike(value: unknown): value is { scheme: string; path: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { scheme?: unknown }).scheme === 'string' &&
    typeof (value as { path?: unknown }).path === 'string'
  );
}

let extension: TeaExtension | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extension = new TeaExtension(context.extensionUri);
  context.subscriptions.push(extension);
  await extension.activate();
}

export async function deactivate(): Promise<void> {
  await extension?.stop();
  extension = undefined;
}
