// "TEA: Show Graph": a webview beside the editor that follows the active workflow as you type.
import * as path from 'path';
import * as vscode from 'vscode';
import {
  GraphResult,
  NodeOutcomes,
  debounce,
  graphHtml,
  isGraphResult,
  makeNonce,
  nodeLooks,
  rangeOf,
} from './graphModel';

export const SHOW_GRAPH_COMMAND = 'tea.showGraph';
const VIEW_TYPE = 'tea.graph';
const EDIT_DELAY_MS = 300;

export interface GraphSource {
  /** The `tea/graph` result for an open document, or null when it is not a workflow. */
  request(uri: vscode.Uri): Promise<unknown>;
  isWorkflow(doc: vscode.TextDocument): boolean;
  log(message: string): void;
}

export class GraphPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private uri: vscode.Uri | undefined;
  private graph: GraphResult | undefined;
  private ready = false;
  /** The last run's outcomes per document, until its next edit. */
  private readonly outcomes = new Map<string, NodeOutcomes>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly refreshSoon = debounce(() => void this.refresh(), EDIT_DELAY_MS);

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly source: GraphSource,
  ) {
    this.disposables.push(
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor && this.source.isWorkflow(editor.document)) this.follow(editor.document.uri);
      }),
      vscode.workspace.onDidChangeTextDocument((e) => {
        const key = e.document.uri.toString();
        if (e.contentChanges.length > 0) this.outcomes.delete(key);
        if (this.uri && key === this.uri.toString()) this.refreshSoon();
      }),
    );
  }

  dispose(): void {
    this.refreshSoon.cancel();
    this.panel?.dispose();
    for (const d of this.disposables) d.dispose();
  }

  /** The command: open (or reveal) the view for the active workflow. */
  show(): void {
    const editor = vscode.window.activeTextEditor;
    const doc = editor?.document;
    if (!doc || !this.source.isWorkflow(doc)) {
      if (!this.uri) {
        void vscode.window.showErrorMessage('Open a TEA workflow file to show its graph.');
        return;
      }
    }
    if (!this.panel) this.createPanel();
    else this.panel.reveal(vscode.ViewColumn.Beside, true);
    if (doc && this.source.isWorkflow(doc)) this.follow(doc.uri);
  }

  /** After a run of `uri`: colour its nodes by how they ended. */
  showRun(uri: vscode.Uri, outcomes: NodeOutcomes): void {
    this.outcomes.set(uri.toString(), outcomes);
    if (this.panel && this.uri?.toString() === uri.toString()) {
      this.panel.reveal(undefined, true);
      this.post();
    }
  }

  /** The server (re)started: draw the followed workflow again. */
  serverReady(): void {
    if (this.panel && this.uri) void this.refresh();
  }

  private createPanel(): void {
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const viz = vscode.Uri.joinPath(this.extensionUri, 'out', 'viz');
    const panel = vscode.window.createWebviewPanel(
      VIEW_TYPE,
      'TEA Graph',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [media, viz] },
    );
    this.panel = panel;
    this.ready = false;
    const webview = panel.webview;
    webview.html = graphHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      vizUri: webview.asWebviewUri(vscode.Uri.joinPath(viz, 'viz-global.js')).toString(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'graph.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'graph.css')).toString(),
      title: 'TEA Graph',
    });
    panel.onDidDispose(() => {
      if (this.panel === panel) {
        this.panel = undefined;
        this.uri = undefined;
        this.graph = undefined;
      }
    });
    webview.onDidReceiveMessage((msg: unknown) => this.onMessage(msg));
  }

  private follow(uri: vscode.Uri): void {
    if (!this.panel) return;
    const changed = this.uri?.toString() !== uri.toString();
    this.uri = uri;
    if (changed) {
      this.graph = undefined;
      this.panel.title = `TEA Graph: ${path.posix.basename(uri.path)}`;
    }
    void this.refresh();
  }

  private async refresh(): Promise<void> {
    const uri = this.uri;
    if (!uri || !this.panel) return;
    let result: unknown;
    try {
      result = await this.source.request(uri);
    } catch (err) {
      this.source.log(`[graph] ${uri.toString()}: ${err instanceof Error ? err.message : err}`);
      return;
    }
    if (this.uri?.toString() !== uri.toString()) return; // followed another file meanwhile
    this.graph = isGraphResult(result) ? result : undefined;
    this.post();
  }

  private post(): void {
    if (!this.panel || !this.ready || !this.uri) return;
    const name = path.posix.basename(this.uri.path);
    if (!this.graph) {
      void this.panel.webview.postMessage({
        type: 'empty',
        caption: `${name}: no workflow graph (not a workflow, or the server is not running)`,
      });
      return;
    }
    const outcomes = this.outcomes.get(this.uri.toString());
    const looks = nodeLooks(this.graph, outcomes);
    const errors = looks.filter((l) => l.severity === 'error').length;
    const parts = [name];
    if (errors) parts.push(`${errors} node${errors > 1 ? 's' : ''} with errors`);
    if (outcomes) parts.push('last run shown');
    void this.panel.webview.postMessage({
      type: 'graph',
      uri: this.graph.uri,
      version: this.graph.version,
      dot: this.graph.dot,
      looks,
      caption: parts.join(' · '),
    });
  }

  private onMessage(msg: unknown): void {
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as { type?: unknown; id?: unknown };
    if (m.type === 'ready') {
      this.ready = true;
      this.post();
    } else if (m.type === 'reveal' && typeof m.id === 'string') {
      void this.reveal(m.id);
    }
  }

  private async reveal(id: string): Promise<void> {
    if (!this.graph || !this.uri) return;
    const range = rangeOf(this.graph, id);
    if (!range) return;
    const doc = await vscode.workspace.openTextDocument(this.uri);
    const start = new vscode.Position(range.start.line, range.start.character);
    const end = new vscode.Position(range.end.line, range.end.character);
    const visible = vscode.window.visibleTextEditors.find(
      (e) => e.document.uri.toString() === doc.uri.toString(),
    );
    const editor = await vscode.window.showTextDocument(doc, {
      viewColumn: visible?.viewColumn ?? vscode.ViewColumn.One,
      preserveFocus: false,
    });
    editor.selection = new vscode.Selection(start, start);
    editor.revealRange(new vscode.Range(start, end), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }
}
