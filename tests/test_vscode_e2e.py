"""The VS Code extension in a real VS Code: code-server 4.139 (VS Code 1.139) driven by Chromium.

``editors/vscode/scripts/setup-e2e.sh`` (``make vscode-e2e-setup``, part of ``make test``)
installs code-server, Node 24 and Debian's chromium into a cache and writes ``e2e.json``; the
extension is the ``.vsix`` that ``make vsix`` built. Each run installs that ``.vsix`` into a fresh
code-server profile, opens a workspace whose settings point ``tea.server.command`` at this
venv's ``tea-lsp``, and checks what a user sees: squiggles and Problems entries, hover, go to
definition, the token scopes of embedded Lua, the Run button in the editor title and the code
lens with their input prompt and result document, the graph view (TEA: Show Graph) and what
it shows before and after a run. Screenshots go to ``artifacts/vscode-e2e/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXT_DIR = ROOT / "editors" / "vscode"
FIXTURES = ROOT / "tests" / "fixtures" / "editors"
ARTIFACTS = ROOT / "artifacts" / "vscode-e2e"
CACHE = Path(os.environ.get("TEA_E2E_CACHE", Path.home() / ".cache" / "tea-lsp-e2e"))
SETUP = "make vscode-e2e-setup (editors/vscode/scripts/setup-e2e.sh)"
WAIT_MS = 90_000

pytestmark = pytest.mark.timeout(900)


@dataclass
class Env:
    node: Path
    code_server: Path
    chromium: Path
    vsix: Path
    tea_lsp: Path


def _vsix() -> Path | None:
    version = json.loads((EXT_DIR / "package.json").read_text(encoding="utf-8"))["version"]
    vsix = EXT_DIR / f"tea-lsp-{version}.vsix"
    return vsix if vsix.is_file() else None


@pytest.fixture(scope="module")
def env() -> Env:
    """What the suite needs, or a skip that says which part is missing and how to get it."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[test]'")
    info_file = CACHE / "e2e.json"
    if not info_file.is_file():
        pytest.skip(f"code-server is not set up ({info_file} missing): run {SETUP}")
    info = json.loads(info_file.read_text(encoding="utf-8"))
    node, code_server, chromium = (Path(info[k]) for k in ("node", "code_server", "chromium"))
    for what, path in (("Node 24", node), ("code-server", code_server), ("chromium", chromium)):
        if not path.is_file():
            pytest.skip(f"{what} not found at {path}: run {SETUP}")
    vsix = _vsix()
    if vsix is None:
        pytest.skip("the extension is not packaged: run make vsix")
    tea_lsp = Path(sys.executable).parent / "tea-lsp"
    if not tea_lsp.is_file():
        pytest.skip(f"no tea-lsp next to {sys.executable}: run make install")
    return Env(node, code_server, chromium, vsix, tea_lsp)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"code-server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"code-server did not answer {url} in {timeout_s} s:\n{log.read_text()[-3000:]}")


@dataclass
class Workbench:
    url: str
    folder: Path
    log: Path


@pytest.fixture(scope="module")
def workbench(env: Env, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    """code-server on 127.0.0.1 with the .vsix installed and a workspace of fixtures."""
    tmp = tmp_path_factory.mktemp("vscode")
    user_data, extensions, folder = tmp / "user-data", tmp / "extensions", tmp / "workspace"
    (user_data / "User").mkdir(parents=True)
    (user_data / "User" / "settings.json").write_text(
        json.dumps(
            {
                "workbench.startupEditor": "none",
                "workbench.tips.enabled": False,
                "workbench.welcomePage.walkthroughs.openOnInstall": False,
                "telemetry.telemetryLevel": "off",
                "update.mode": "none",
                "extensions.ignoreRecommendations": True,
                "chat.disableAIFeatures": True,
                "editor.minimap.enabled": False,
                "window.commandCenter": False,
                "workbench.secondarySideBar.defaultVisibility": "hidden",
            }
        ),
        encoding="utf-8",
    )
    (folder / ".vscode").mkdir(parents=True)
    for name in ("broken.tea.yaml", "run.tea.yaml", "graph.tea.yaml"):
        shutil.copy(FIXTURES / name, folder / name)
    shutil.copy(EXT_DIR / "test" / "fixtures" / "python.tea.yaml", folder / "python.tea.yaml")
    (folder / ".vscode" / "settings.json").write_text(
        json.dumps({"tea.server.command": [str(env.tea_lsp), "serve"]}), encoding="utf-8"
    )
    base = [str(env.node), str(env.code_server)]
    (tmp / "config.yaml").write_text("auth: none\n", encoding="utf-8")
    dirs = [
        *("--config", str(tmp / "config.yaml")),
        *("--user-data-dir", str(user_data), "--extensions-dir", str(extensions)),
    ]
    installed = subprocess.run(
        [*base, *dirs, "--install-extension", str(env.vsix)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "was successfully installed" in installed.stdout, installed.stdout
    assert [p.name for p in extensions.glob("tea-lsp.tea-lsp-*")], list(extensions.iterdir())

    port = _free_port()
    log = tmp / "code-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *base,
                *dirs,
                "--bind-addr",
                f"127.0.0.1:{port}",
                "--auth",
                "none",
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-getting-started-override",
                str(folder),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PATH": f"{env.node.parent}{os.pathsep}{os.environ['PATH']}"},
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url + "healthz", proc, log, 120)
        yield Workbench(url=f"{url}?folder={folder}", folder=folder, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


# ---- the browser session: one page through every step, each test checks what it saw


def _text(s: str) -> str:
    """Monaco renders spaces as non-breaking spaces."""
    return s.replace("\xa0", " ")


class Session:
    def __init__(self, page: Any, folder: Path) -> None:
        self.page = page
        self.folder = folder
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def command(self, title: str) -> None:
        """Runs a command through the command palette (F1)."""
        page = self.page
        page.keyboard.press("F1")
        box = page.locator(".quick-input-widget input")
        box.wait_for(state="visible", timeout=WAIT_MS)
        box.fill(">" + title)
        row = page.locator(".quick-input-list .monaco-list-row").filter(has_text=title).first
        row.wait_for(state="visible", timeout=WAIT_MS)
        row.click()

    def open_file(self, name: str) -> Any:
        page = self.page
        page.keyboard.press("Control+P")
        box = page.locator(".quick-input-widget input")
        box.wait_for(state="visible", timeout=WAIT_MS)
        box.fill(name)
        # the row of that file (not whatever is first while the list still shows recent files)
        row = page.locator(".quick-input-list .monaco-list-row").filter(
            has=page.locator(".label-name", has_text=re.compile(rf"^{re.escape(name)}$"))
        )
        row.first.wait_for(state="visible", timeout=WAIT_MS)
        row.first.click()
        tab = page.locator(".tab.active").filter(has_text=name)
        tab.wait_for(state="visible", timeout=WAIT_MS)
        editor = page.locator(".editor-group-container.active .monaco-editor").first
        editor.wait_for(state="visible", timeout=WAIT_MS)
        return editor

    def go_to(self, line: int, col: int) -> None:
        page = self.page
        page.keyboard.press("Control+G")
        box = page.locator(".quick-input-widget input")
        box.wait_for(state="visible", timeout=WAIT_MS)
        box.fill(f":{line}:{col}")
        page.keyboard.press("Enter")
        self.wait_cursor(line, col)

    def cursor(self) -> str:
        item = self.page.locator("#status\\.editor\\.selection").first
        return _text(item.inner_text())

    def wait_cursor(self, line: int, col: int) -> None:
        want = f"Ln {line}, Col {col}"
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline:
            if self.cursor().startswith(want):
                return
            time.sleep(0.2)
        raise AssertionError(f"cursor at {self.cursor()!r}, expected {want!r}")

    def line_text(self, editor: Any, line: int) -> str:
        """Text of a rendered line (1-based) of `editor`, read from the DOM."""
        texts: list[str] = self.page.evaluate(
            """(editor) => {
                const lines = [...editor.querySelectorAll('.view-lines .view-line')];
                lines.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
                return lines.map((l) => l.textContent);
            }""",
            editor.element_handle(),
        )
        return _text(texts[line - 1])


def _trust_workspace(s: Session) -> None:
    """The extension only runs in a trusted workspace: trust it as a user does, from the
    Restricted Mode banner (Manage -> Trust), or from the start-up dialog when one is shown."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = s.page
    dialog = page.get_by_role("button", name="Yes, I trust the authors")
    banner = page.locator(".part.banner a.monaco-link").filter(has_text="Manage")
    either = dialog.or_(banner).first
    try:
        either.wait_for(state="visible", timeout=30_000)
    except PlaywrightTimeout:
        return  # trusted already
    s.shot("00-trust-prompt")
    if dialog.is_visible():
        dialog.click()
    else:
        banner.first.click()
        trust = page.locator(".workspace-trust-editor .monaco-button").filter(
            has_text=re.compile(r"^Trust$")
        )
        trust.first.click()
        s.shot("00-trusted")
        page.keyboard.press("Control+W")  # close the trust editor
    restricted = page.locator(".statusbar-item").filter(has_text="Restricted Mode")
    restricted.first.wait_for(state="detached", timeout=WAIT_MS)


@pytest.fixture(scope="module")
def session(env: Env, workbench: Workbench) -> Iterator[Session]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(env.chromium),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(workbench.url)
        page.locator(".monaco-workbench").wait_for(state="visible", timeout=WAIT_MS)
        s = Session(page, workbench.folder)
        _trust_workspace(s)
        try:
            yield s
        finally:
            s.shot("99-last")
            context.close()
            browser.close()


def test_diagnostics_squiggle_and_problems(session: Session) -> None:
    page = session.page
    editor = session.open_file("broken.tea.yaml")
    squiggle = editor.locator(".squiggly-error")
    squiggle.first.wait_for(state="attached", timeout=WAIT_MS)
    assert squiggle.count() == 1
    # the squiggle sits on line 13 (`    goto: finsh`): the same rendered row, under `finsh`
    lines = editor.locator(".view-lines .view-line")
    row = next(
        lines.nth(i)
        for i in range(lines.count())
        if _text(lines.nth(i).inner_text()).strip() == "goto: finsh"
    )
    box, row_box = squiggle.first.bounding_box(), row.bounding_box()
    assert box is not None and row_box is not None
    assert abs(box["y"] - row_box["y"]) < row_box["height"]
    session.shot("01-squiggle")

    page.keyboard.press("Control+Shift+M")  # View: Problems
    problems = page.locator(".markers-panel .monaco-list-row")
    problems.filter(has_text="TEA201").first.wait_for(state="visible", timeout=WAIT_MS)
    rows = [_text(problems.nth(i).inner_text()) for i in range(problems.count())]
    tea = [r for r in rows if "TEA201" in r]
    assert len(tea) == 1, rows
    assert "unknown node 'finsh' in 'goto'; did you mean 'finish'?" in tea[0]
    assert "tea-lsp" in tea[0]
    assert "[Ln 13, Col 11]" in tea[0], tea[0]
    session.shot("02-problems")


def test_hover_on_a_goto_target(session: Session) -> None:
    page = session.page
    editor = session.open_file("broken.tea.yaml")
    session.go_to(9, 13)  # `    goto: middle`, inside `middle`
    session.command("Show or Focus Hover")
    hover = page.locator(".monaco-hover").filter(has_text="incoming")
    hover.first.wait_for(state="visible", timeout=WAIT_MS)
    text = _text(hover.first.inner_text())
    assert "node middle" in text, text
    assert "incoming: start (goto)" in text, text
    assert "outgoing: finsh (goto)" in text, text
    session.shot("03-hover")
    page.keyboard.press("Escape")
    assert editor.is_visible()


def test_go_to_definition(session: Session) -> None:
    session.open_file("broken.tea.yaml")
    session.go_to(9, 13)
    session.page.keyboard.press("F12")
    # `  - name: middle` is line 10; the definition is the name, from column 11
    session.wait_cursor(10, 11)
    session.shot("04-definition")


def test_embedded_lua_has_lua_scopes(session: Session) -> None:
    page = session.page
    session.open_file("run.tea.yaml")
    session.go_to(9, 8)  # `      return { count = ...`: on `return`
    session.command("Developer: Inspect Editor Tokens and Scopes")
    widget = page.locator(".token-inspect-widget")
    widget.wait_for(state="visible", timeout=WAIT_MS)
    text = _text(widget.inner_text())
    session.shot("05-token-scopes")
    page.keyboard.press("Escape")
    assert "keyword.control.lua" in text, text
    assert "meta.embedded.block.lua" in text, text
    assert "source.yaml" in text, text
    # the language of the token is Lua (embeddedLanguages), so Lua's brackets/comments apply
    assert "language lua" in " ".join(text.split()), text


def test_embedded_python_has_python_scopes(session: Session) -> None:
    page = session.page
    session.open_file("python.tea.yaml")
    session.go_to(7, 8)  # `      import math`: on `import`
    session.command("Developer: Inspect Editor Tokens and Scopes")
    widget = page.locator(".token-inspect-widget")
    widget.wait_for(state="visible", timeout=WAIT_MS)
    text = _text(widget.inner_text())
    session.shot("05b-token-scopes-python")
    page.keyboard.press("Escape")
    assert "keyword.control.import.python" in text, text
    assert "meta.embedded.block.python" in text, text
    assert "language python" in " ".join(text.split()), text


def _result_text(session: Session) -> dict[str, Any]:
    page = session.page
    tab = page.locator(".tab").filter(has_text="run.tea.result.json")
    tab.first.wait_for(state="visible", timeout=WAIT_MS)
    group = page.locator(".editor-group-container").filter(has=tab.first)
    editor = group.locator(".monaco-editor").first
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        lines = editor.locator(".view-lines .view-line")
        text = "\n".join(
            _text(t)
            for _, t in sorted(
                (float(lines.nth(i).get_attribute("style").split("top:")[1].split("px")[0]), t)
                for i, t in enumerate(lines.all_inner_texts())
            )
        )
        try:
            data: dict[str, Any] = json.loads(text)
            return data
        except json.JSONDecodeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _answer_input(session: Session, value: str, name: str = "run.tea.yaml") -> None:
    from playwright.sync_api import expect

    page = session.page
    box = page.locator(".quick-input-widget input")
    # The command palette's box (same widget) may still be up: wait for the run's own box.
    title = page.locator(".quick-input-widget .quick-input-title")
    expect(title).to_have_text(f"Run {name}", timeout=WAIT_MS)
    box.wait_for(state="visible", timeout=WAIT_MS)
    box.fill(value)
    session.shot("06-run-input")
    page.keyboard.press("Enter")


def test_run_from_the_title_button(session: Session) -> None:
    page = session.page
    session.open_file("run.tea.yaml")
    button = page.locator(".editor-group-container.active .editor-actions").get_by_role(
        "button", name="Run Workflow"
    )
    button.first.wait_for(state="visible", timeout=WAIT_MS)
    button.first.click()
    _answer_input(session, '{"count": 4}')
    result = _result_text(session)
    session.shot("07-run-result-title-button")
    assert result["ok"] is True, result
    assert result["state"] == {"count": 5, "done": True, "total": 50}
    assert result["error"] is None
    # VS Code's own arguments ({groupId}) never reach the workflow state
    assert "groupId" not in json.dumps(result)


def _wait_result(session: Session, count: int) -> dict[str, Any]:
    """The result document once it shows the run whose final count is `count`."""
    deadline = time.monotonic() + WAIT_MS / 1000
    result = _result_text(session)
    while result.get("state", {}).get("count") != count and time.monotonic() < deadline:
        time.sleep(0.3)
        result = _result_text(session)
    return result


def test_run_from_the_code_lens(session: Session) -> None:
    page = session.page
    editor = session.open_file("run.tea.yaml")
    lens = editor.locator(".codelens-decoration a").filter(has_text="Run workflow")
    lens.first.wait_for(state="visible", timeout=WAIT_MS)
    lens.first.click()
    _answer_input(session, '{"count": 9}')
    result = _wait_result(session, 10)
    session.shot("08-run-result-code-lens")
    assert result["ok"] is True, result
    assert result["state"] == {"count": 10, "done": True, "total": 100}
    assert page.locator(".tab").filter(has_text="run.tea.result.json").count() == 1


def test_run_from_the_command_palette(session: Session) -> None:
    session.open_file("run.tea.yaml")
    session.command("TEA: Run Workflow")
    _answer_input(session, '{"count": 1}')
    result = _wait_result(session, 2)
    session.shot("09-run-result-palette")
    assert result["state"] == {"count": 2, "done": True, "total": 20}


def test_run_from_the_explorer_context_menu(session: Session) -> None:
    page = session.page
    row = page.locator(".explorer-folders-view .monaco-list-row").filter(has_text="run.tea.yaml")
    row.first.click(button="right")
    item = page.locator(".context-view .action-item").filter(has_text="Run Workflow")
    item.first.wait_for(state="visible", timeout=WAIT_MS)
    session.shot("10-explorer-menu")
    item.first.click()
    _answer_input(session, '{"count": 19}')
    result = _wait_result(session, 20)
    session.shot("11-run-result-explorer")
    assert result["state"] == {"count": 20, "done": True, "total": 200}


def test_no_error_notification_while_the_server_runs(session: Session) -> None:
    """No error or warning toast (e.g. a language-client failure) through all the steps above;
    a run's progress notification may still be closing."""
    toasts = session.page.locator(".notifications-toasts .notification-toast").filter(
        has=session.page.locator(".codicon-error, .codicon-warning")
    )
    texts = [_text(t) for t in toasts.all_inner_texts()]
    assert texts == [], texts


# ---- TEA: Show Graph (a webview laid out by the extension's own Graphviz in WebAssembly)


def _graph_frame(session: Session) -> Any:
    """The graph webview's content frame (code-server nests it in two iframes)."""
    return session.page.frame_locator("iframe.webview.ready").frame_locator("iframe#active-frame")


def _node_names(frame: Any) -> list[str]:
    names: list[str] = frame.locator("#graph g.node").evaluate_all(
        "(gs) => gs.map((g) => g.dataset.name)"
    )
    return names


def _wait_names(frame: Any, want: list[str]) -> list[str]:
    deadline = time.monotonic() + WAIT_MS / 1000
    names = _node_names(frame)
    while sorted(names) != sorted(want) and time.monotonic() < deadline:
        time.sleep(0.2)
        names = _node_names(frame)
    return names


def test_graph_view_follows_edits_clicks_and_runs(session: Session) -> None:
    page = session.page
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    session.open_file("graph.tea.yaml")
    session.command("TEA: Show Graph")
    frame = _graph_frame(session)
    svg = frame.locator("#graph svg")
    svg.wait_for(state="visible", timeout=WAIT_MS)
    # every node of the workflow, with `finsh` drawn as a node that does not exist
    names = _wait_names(frame, ["__start__", "start", "middle", "finsh", "finish", "__end__"])
    assert sorted(names) == sorted(["__start__", "start", "middle", "finsh", "finish", "__end__"])
    # the node holding the TEA201 error is outlined as an error, and only that one
    errors = frame.locator("#graph g.node.severity-error")
    assert errors.evaluate_all("(gs) => gs.map((g) => g.dataset.name)") == ["middle"]
    stroke = errors.first.locator("path, polygon, ellipse").first.evaluate(
        "(e) => getComputedStyle(e).stroke"
    )
    error_colour = frame.locator("body").evaluate(
        "(b) => { const s = document.createElement('span');"
        " s.style.color = 'var(--vscode-editorError-foreground)'; b.appendChild(s);"
        " const c = getComputedStyle(s).color; s.remove(); return c; }"
    )
    assert stroke == error_colour, (stroke, error_colour)
    session.shot("20-graph")

    # clicking a node puts the cursor on its name in the YAML
    frame.locator("#graph g.node[data-name='start']").click()
    session.wait_cursor(3, 11)
    frame.locator("#graph g.node[data-name='finish']").click()
    session.wait_cursor(9, 11)

    # typing updates the graph: rename `finish` to `finsh` (the goto's target now exists)
    session.go_to(9, 14)
    page.keyboard.press("Delete")
    names = _wait_names(frame, ["__start__", "start", "middle", "finsh", "__end__"])
    assert sorted(names) == sorted(["__start__", "start", "middle", "finsh", "__end__"])
    assert frame.locator("#graph g.node.severity-error").count() == 0
    session.shot("21-graph-after-edit")

    # after a run: how each node ended, and its time
    session.command("TEA: Run Workflow")
    _answer_input(session, "", "graph.tea.yaml")
    failed = frame.locator("#graph g.node.outcome-failed")
    failed.first.wait_for(state="attached", timeout=WAIT_MS)
    outcomes = dict(
        frame.locator("#graph g.node[data-outcome]").evaluate_all(
            "(gs) => gs.map((g) => [g.dataset.name, g.dataset.outcome])"
        )
    )
    assert outcomes == {"start": "ok", "middle": "ok", "finsh": "failed"}, outcomes
    times = frame.locator("#graph g.node[data-name='finsh'] text.tea-time").evaluate_all(
        "(ts) => ts.map((t) => t.textContent)"
    )
    assert len(times) == 1 and re.fullmatch(r"\d+\.\d (ms|s)", times[0]), times
    session.shot("22-graph-after-run")
    # the view follows the active editor: another workflow, its own graph
    session.open_file("run.tea.yaml")
    names = _wait_names(frame, ["__start__", "start", "finish", "__end__"])
    assert sorted(names) == sorted(["__start__", "start", "finish", "__end__"])
    # no content security policy violation or script error in the webview
    bad = [m for m in console if "Content Security Policy" in m or "Graphviz" in m]
    assert bad == [], bad


def test_missing_server_one_message_with_open_settings(
    session: Session, workbench: Workbench, tmp_path: Path
) -> None:
    """A workspace whose tea.server.command does not exist: one notification, naming the
    command, whose button opens the setting; no generic language-client toasts."""
    page = session.page
    folder = tmp_path / "no-server"
    (folder / ".vscode").mkdir(parents=True)
    shutil.copy(FIXTURES / "broken.tea.yaml", folder / "broken.tea.yaml")
    missing = str(tmp_path / "nowhere" / "tea-lsp")
    (folder / ".vscode" / "settings.json").write_text(
        json.dumps({"tea.server.command": [missing, "serve"]}), encoding="utf-8"
    )
    page.goto(workbench.url.split("?")[0] + f"?folder={folder}")
    page.locator(".monaco-workbench").wait_for(state="visible", timeout=WAIT_MS)
    _trust_workspace(session)
    session.open_file("broken.tea.yaml")
    toasts = page.locator(".notifications-toasts .notification-toast")
    ours = toasts.filter(has_text="tea-lsp server cannot start")
    ours.first.wait_for(state="visible", timeout=WAIT_MS)
    time.sleep(3)  # any other toast of the same failure would be up by now
    session.shot("12-server-missing")
    texts = [_text(t) for t in toasts.all_inner_texts()]
    assert len(texts) == 1, texts
    # an error notification (the icon the check of the happy path above looks for)
    assert ours.first.locator(".codicon-error").count() == 1
    assert f"not found (tried tea.server.command: {missing} serve)" in texts[0], texts[0]
    ours.first.get_by_role("button", name="Open Settings").click()
    setting = page.locator(".settings-editor .setting-item-contents").filter(
        has_text="Server: Command"
    )
    setting.first.wait_for(state="visible", timeout=WAIT_MS)
    session.shot("13-open-settings")
    # the workspace tab, where the (machine-overridable) setting is listed and was set
    tab = page.locator(".settings-editor .settings-tabs-widget .action-item .checked")
    assert "Workspace" in _text(tab.first.inner_text())
    status = page.locator(".statusbar-item").filter(has_text="TEA")
    assert status.count() >= 1
