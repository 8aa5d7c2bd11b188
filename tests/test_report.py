"""Run reports: what the page says, and the page itself in a real browser (Chromium).

Browser tests drive Debian's ``chromium`` with Playwright for Python and keep screenshots in
``artifacts/`` (git-ignored). ``scripts/ensure-graphviz-chromium.sh`` installs Chromium and
Graphviz; without them the tests that need them are skipped, saying which tool is missing.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tea_lsp.cli.main import main
from tea_lsp.graph.layout import have_graphviz
from tea_lsp.report import build_report, parse_ndjson, read_events
from tea_lsp.report.html import statuses
from tea_lsp.report.record import EventsError
from tests.conftest import FIXTURES, ROOT

REPORTS = FIXTURES / "report"
RUNS = FIXTURES / "run"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HAVE_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None

NEEDS_DOT = pytest.mark.skipif(
    not have_graphviz(),
    reason="graphviz 'dot' is not installed (scripts/ensure-graphviz-chromium.sh installs it)",
)
NEEDS_BROWSER = pytest.mark.skipif(
    CHROMIUM is None or not HAVE_PLAYWRIGHT,
    reason=(
        "chromium is not installed (scripts/ensure-graphviz-chromium.sh installs it)"
        if CHROMIUM is None
        else "the Python package 'playwright' is not installed (pip install -e '.[test]')"
    ),
)


def saved_events() -> list[dict[str, Any]]:
    return parse_ndjson((REPORTS / "saved.ndjson").read_text(encoding="utf-8"), "saved.ndjson")


def workflow_a() -> str:
    return (RUNS / "fan_out_edges_a.yaml").read_text(encoding="utf-8")


# ---- reading events


def test_outcome_of_each_node_from_saved_events() -> None:
    from tea_lsp.analysis import analyze
    from tea_lsp.graph import build_graph

    rec = read_events(saved_events())
    analysis = analyze(workflow_a(), "a.yaml")
    assert analysis.workflow is not None
    got = statuses(rec, build_graph(analysis.workflow))
    assert {k: (v.outcome, v.note) for k, v in got.items()} == {
        "setup": ("ok", "0.5 ms"),
        "sum_all": ("ok", "2.0 ms"),
        "sum_check": ("ok", "0.4 ms"),
        "double_all": ("ok", "2.0 ms"),
        "broken": ("failed", "1.2 ms"),
        "join": ("ok", "0.4 ms"),
        "after": ("not_run", ""),
    }
    assert [(b.branch, b.worker, b.outcome) for b in rec.branches] == [
        ("sum_all", 101, "ok"),
        ("double_all", 102, "ok"),
        ("broken", 101, "failed"),
    ]
    assert {pid: [b.branch for b in bs] for pid, bs in rec.workers().items()} == {
        101: ["sum_all", "broken"],
        102: ["double_all"],
    }


def test_bad_events_file_names_line_and_column() -> None:
    with pytest.raises(EventsError, match=r"^ev.ndjson:2:1: expected an event object"):
        parse_ndjson('{"event": "run_started", "t_ms": 0}\n[1, 2]\n', "ev.ndjson")
    with pytest.raises(EventsError, match=r"^ev.ndjson:1:2: not a JSON event: expecting"):
        parse_ndjson("{oops\n", "ev.ndjson")


def test_truncated_events_give_a_partial_report() -> None:
    events = saved_events()[:14]  # 'broken' and 'double_all' started, nothing finished
    rec = read_events(events)
    assert rec.status == "unfinished"
    html = build_report(events, workflow_text=workflow_a(), use_graphviz=False)
    assert "<span class='status unfinished'>unfinished</span>" in html


# ---- the page's content


def page_from_saved(use_graphviz: bool) -> str:
    return build_report(
        saved_events(),
        workflow_text=workflow_a(),
        path="tests/fixtures/run/fan_out_edges_a.yaml",
        use_graphviz=use_graphviz,
    )


def test_errors_carry_their_yaml_position() -> None:
    html = page_from_saved(use_graphviz=False)
    # from a saved file, a failure is placed at its node's name (line 42, column 11)
    assert (
        "<span class='where'>tests/fixtures/run/fan_out_edges_a.yaml:42:11</span> error: "
        "node &#x27;broken&#x27;: attempt to index a nil value (local &#x27;t&#x27;) "
        "(in branch &#x27;broken&#x27;)</div>"
    ) in html
    assert "the final state is not part of the events file." in html


def test_page_is_self_contained() -> None:
    html = page_from_saved(use_graphviz=have_graphviz())
    assert "<script" not in html
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", html)
    assert "default-src 'none'" in html


def test_without_graphviz_the_page_shows_mermaid_and_a_coloured_list() -> None:
    html = page_from_saved(use_graphviz=False)
    assert '<pre class="mermaid-text">flowchart TD' in html
    assert '<li class="node failed" data-name="broken">' in html
    assert '<li class="node not_run" data-name="after">' in html


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.timeout(120)
def test_run_report_of_a_failed_branch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "run.html"
    code, stdout, err = run_cli(
        capsys, "run", str(RUNS / "fan_out_edges_a.yaml"), "--report", str(out)
    )
    assert code == 0, err
    assert json.loads(stdout)["failed_count"] == 1
    html = out.read_text(encoding="utf-8")
    # the error at the failing Lua line (line 45), as the run printed it
    assert f"{RUNS / 'fan_out_edges_a.yaml'}:45:7</span> warning[TEA601]: branch" in html
    assert "<pre class='state'>{\n  \"numbers\": [" in html
    assert '<g class="row branch" data-row="broken (worker ' in html
    assert re.search(r'<g class="bar failed" data-name="broken"><title>broken: failed', html)


@pytest.mark.timeout(120)
def test_report_command_from_a_saved_events_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the events name the workflow by a relative path
    out = tmp_path / "saved.html"
    assert run_cli(capsys, "report", str(REPORTS / "saved.ndjson"), "-o", str(out)) == (0, "", "")
    assert "run report: fan-out-edges-a" in out.read_text(encoding="utf-8")
    missing = tmp_path / "none.ndjson"
    assert run_cli(capsys, "report", str(missing), "-o", str(out)) == (
        2,
        "",
        f"tea-lsp: error: events: {missing}: no such file\n",
    )
    bad = tmp_path / "bad.ndjson"
    bad.write_text("not json\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "report", str(bad), "-o", str(out))
    assert (code, err) == (2, f"tea-lsp: error: {bad}:1:1: not a JSON event: expecting value\n")


# ---- in a real browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def open_page(browser: Any, html_file: Path, shot: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on(
        "request",
        lambda r: (
            problems.append(f"request: {r.url}")
            if not r.url.startswith("file:") and not r.url.startswith("data:")
            else None
        ),
    )
    page.goto(html_file.as_uri())
    page.wait_for_load_state("load")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    return page, problems


@NEEDS_BROWSER
@NEEDS_DOT
@pytest.mark.timeout(180)
def test_browser_renders_run_report_with_failed_branch(
    browser: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "run.html"
    code, _, _ = run_cli(capsys, "run", str(RUNS / "fan_out_edges_a.yaml"), "--report", str(out))
    assert code == 0
    page, problems = open_page(browser, out, "report-failed-branch.png")
    assert problems == []
    texts = page.eval_on_selector_all(
        ".graph svg g.node text", "els => els.map(e => e.textContent)"
    )
    for name in (
        "__start__",
        "setup",
        "sum_all",
        "sum_check",
        "double_all",
        "broken",
        "join",
        "after",
        "__end__",
    ):
        assert name in texts, (name, texts)
    # the failed branch's node is drawn as failed: its class and its fill
    failed = page.eval_on_selector_all(
        ".graph svg g.node.outcome-failed title", "els => els.map(e => e.textContent)"
    )
    fill = page.eval_on_selector(
        ".graph svg g.outcome-failed path, .graph svg g.outcome-failed polygon",
        "e => e.getAttribute('fill')",
    )
    label = page.eval_on_selector(".graph svg g.outcome-failed text", "e => e.textContent")
    assert (len(failed), fill, label) == (1, "#ffcdd2", "broken")
    ok = page.eval_on_selector_all(".graph svg g.node.outcome-ok", "els => els.length")
    assert ok == 6
    # the timeline: a row per branch and per worker, the failed branch marked
    rows = page.eval_on_selector_all(
        "svg.timeline g.row", "els => els.map(e => e.getAttribute('data-row'))"
    )
    assert rows[0] == "main"
    assert sum(1 for r in rows if r.startswith("worker ")) >= 1
    assert {r.split(" (")[0] for r in rows[1:4]} == {"sum_all", "double_all", "broken"}
    marks = page.eval_on_selector_all("svg.timeline g.row.branch .mark.failed", "els => els.length")
    assert marks >= 1
    assert page.evaluate("document.scripts.length") == 0


@NEEDS_BROWSER
@NEEDS_DOT
@pytest.mark.timeout(180)
def test_browser_renders_a_timed_out_branch(
    browser: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "timeout.html"
    code, _, err = run_cli(capsys, "run", str(REPORTS / "timeout.yaml"), "--report", str(out))
    assert code == 0, err
    page, problems = open_page(browser, out, "report-timeout.png")
    assert problems == []
    outcome = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.graph svg g.node')].map(
            g => [g.querySelector('text').textContent,
                  [...g.classList].find(c => c.startsWith('outcome-')) || '']))"""
    )
    assert outcome["spin"] == "outcome-timeout"
    assert outcome["quick"] == "outcome-ok"
    assert outcome["after_spin"] == "outcome-not_run"
    assert outcome["<script>alert(1)</script>"] == "outcome-not_run"  # shown, never run
    assert page.evaluate("document.scripts.length") == 0
    marks = page.eval_on_selector_all("svg.timeline .mark.timeout", "els => els.length")
    assert marks >= 1


@NEEDS_BROWSER
@pytest.mark.timeout(120)
def test_browser_report_without_graphviz(browser: Any, tmp_path: Path) -> None:
    out = tmp_path / "no-dot.html"
    out.write_text(page_from_saved(use_graphviz=False), encoding="utf-8")
    page, problems = open_page(browser, out, "report-without-graphviz.png")
    assert problems == []
    names = page.eval_on_selector_all(
        "ul.nodes li", "els => els.map(e => [e.dataset.name, e.className])"
    )
    assert ["broken", "node failed"] in names and ["after", "node not_run"] in names
    assert page.inner_text("pre.mermaid-text").startswith("flowchart TD")


def test_report_of_a_run_that_could_not_start(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "invalid.html"
    path = FIXTURES / "graph" / "errors.yaml"
    code, _, _ = run_cli(capsys, "run", str(path), "--report", str(out))
    assert code == 3
    html = out.read_text(encoding="utf-8")
    assert "<span class='status invalid'>invalid</span>" in html
    assert (
        f"<span class='where'>{path}:8:11</span> error[TEA201]: unknown node &#x27;nowhere&#x27;"
    ) in html
    assert "no final state: the run ended with status &#x27;invalid&#x27;." in html


def test_report_write_failure_keeps_the_runs_exit_code(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "no-such-dir" / "r.html"
    code, _, err = run_cli(
        capsys, "run", str(FIXTURES / "graph" / "loops.yaml"), "--report", str(out)
    )
    assert code == 0
    assert err.startswith(f"tea-lsp: error: --report: {out}: no such file or directory\n")
