"""``tea-lsp graph`` and the graph module: golden DOT and Mermaid, escaping, Graphviz output."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tea_lsp.analysis import analyze
from tea_lsp.cli.main import main
from tea_lsp.diagnostics import Severity
from tea_lsp.graph import build_graph, to_dot, to_mermaid
from tea_lsp.graph.layout import INSTALL_HINT, have_graphviz
from tea_lsp.graph.render import dot_string, mermaid_text
from tests.conftest import FIXTURES

GRAPHS = FIXTURES / "graph"
CASES = sorted(p.stem for p in GRAPHS.glob("*.yaml"))
UPDATE = os.environ.get("TEA_LSP_UPDATE_GOLDEN") == "1"
NEEDS_DOT = pytest.mark.skipif(
    not have_graphviz(),
    reason="graphviz 'dot' is not installed (scripts/ensure-graphviz-chromium.sh installs it)",
)


def graph_of(name: str) -> tuple[str, str]:
    path = GRAPHS / f"{name}.yaml"
    analysis = analyze(path.read_text(encoding="utf-8"), str(path))
    assert analysis.workflow is not None
    graph = build_graph(analysis.workflow, analysis.diagnostics)
    return to_dot(graph), to_mermaid(graph)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("fmt", ["dot", "mmd"])
def test_golden(name: str, fmt: str) -> None:
    dot, mermaid = graph_of(name)
    got = dot if fmt == "dot" else mermaid
    golden = GRAPHS / f"{name}.{fmt}"
    if UPDATE:
        golden.write_text(got, encoding="utf-8")
    assert got == golden.read_text(encoding="utf-8")


def test_every_case_has_both_goldens() -> None:
    assert {"parallel_a", "parallel_c", "parallel_d", "dynamic", "loops"} <= set(CASES)
    for name in CASES:
        assert (GRAPHS / f"{name}.dot").is_file(), name
        assert (GRAPHS / f"{name}.mmd").is_file(), name


def test_the_three_parallel_spellings_draw_the_same_graph() -> None:
    a, c, d = (graph_of(f"parallel_{s}") for s in "acd")
    assert a == c == d
    dot = a[0]
    # fan-out: bold parallel edges from the source to each branch; each branch in a cluster
    assert 'n1 -> n2 [style=bold, color="#1565c0"];' in dot
    assert 'n1 -> n4 [style=bold, color="#1565c0"];' in dot
    assert 'label="branch left"' in dot and 'label="branch right"' in dot
    assert 'n5 [label="join", shape=box, style="rounded", peripheries=2' in dot


def test_dynamic_parallel_is_one_node_marked_items_joined_to_its_fan_in() -> None:
    dot, mermaid = graph_of("dynamic")
    assert 'n1 [label="fetch_all\\n×items", shape=box3d' in dot
    assert "fetch" not in dot.replace("fetch_all", "")  # its steps are not drawn
    assert 'n1 -> n2 [label="fan-in", style=bold' in dot
    assert 'n1[/"fetch_all<br/>×items"/]' in mermaid


def test_goto_and_edge_conditions_are_labels() -> None:
    dot, mermaid = graph_of("loops")
    assert 'n4 -> n4 [label="state.n < 2 and state.label != \\"x\\""];' in dot
    assert 'n4 -> n5 [label="else"];' in dot
    assert 'label="when state.n == 2"' in dot
    assert 'n4 -->|"state.n #lt; 2 and state.label != #quot;x#quot;"| n4' in mermaid


def test_while_loop_body_is_a_cluster_with_the_edge_back() -> None:
    dot, _ = graph_of("loops")
    assert 'n1 [label="count\\nwhile state.i < 3 (≤10)", shape=hexagon' in dot
    assert 'subgraph cluster_l0 {\n    label="loop count";' in dot
    assert 'n1 -> n2 [label="body"];' in dot
    assert 'n3 -> n1 [label="repeat", style=dashed, constraint=false];' in dot


def test_nodes_with_errors_are_outlined_red() -> None:
    path = GRAPHS / "errors.yaml"
    analysis = analyze(path.read_text(encoding="utf-8"), str(path))
    assert analysis.workflow is not None
    graph = build_graph(analysis.workflow, analysis.diagnostics)
    by_name = graph.by_name()
    assert by_name["first"].severity == Severity.ERROR  # lua syntax error inside it
    assert by_name["second"].severity == Severity.ERROR  # goto to an unknown node
    assert by_name["nowhere"].kind == "missing"
    assert by_name["__start__"].severity is None
    dot = to_dot(graph)
    assert re.search(r'n1 \[label="first".*color="#d32f2f", penwidth=2.5', dot)


def test_warning_outlines_amber() -> None:
    text = "nodes:\n  - name: a\n    run: return { x = state.undeclared }\n"
    text = "state_schema:\n  y: int\n" + text
    analysis = analyze(text, "w.yaml")
    assert analysis.workflow is not None
    warned = [d for d in analysis.diagnostics if d.severity == Severity.WARNING]
    assert warned, analysis.diagnostics
    graph = build_graph(analysis.workflow, analysis.diagnostics)
    assert graph.by_name()["a"].severity == Severity.WARNING
    assert 'color="#f9a825", penwidth=2' in to_dot(graph)


def test_dot_escaping() -> None:
    assert dot_string('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'
    assert dot_string("<b>&") == '"<b>&"'


def test_mermaid_escaping() -> None:
    assert mermaid_text('a "b" <c> | #d & `e`\nf') == (
        "a #quot;b#quot; #lt;c#gt; #124; #35;d #amp; #96;e#96;<br/>f"
    )


# ---- the command


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["graph", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_dot_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, str(GRAPHS / "loops.yaml"))
    assert (code, err) == (0, "")
    assert out == (GRAPHS / "loops.dot").read_text(encoding="utf-8")


def test_cli_mermaid_and_output_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_file = tmp_path / "g.mmd"
    code, out, err = cli(capsys, str(GRAPHS / "dynamic.yaml"), "-o", str(out_file))
    assert (code, out, err) == (0, "", "")
    assert out_file.read_text(encoding="utf-8") == (GRAPHS / "dynamic.mmd").read_text("utf-8")
    code, out, _ = cli(capsys, str(GRAPHS / "dynamic.yaml"), "--format", "mermaid")
    assert out == (GRAPHS / "dynamic.mmd").read_text(encoding="utf-8")


def test_cli_draws_a_workflow_with_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, str(GRAPHS / "errors.yaml"))
    assert (code, err) == (0, "")
    assert out == (GRAPHS / "errors.dot").read_text(encoding="utf-8")


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli(capsys, str(tmp_path / "nope.yaml")) == (
        2,
        "",
        f"tea-lsp: error: {tmp_path / 'nope.yaml'}: no such file\n",
    )
    code, _, err = cli(capsys, str(GRAPHS / "loops.yaml"), "--format", "gif")
    assert code == 2 and "invalid choice: 'gif'" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [\n", encoding="utf-8")
    code, out, err = cli(capsys, str(bad))
    assert code == 1 and out == ""
    assert err.endswith(f"tea-lsp: error: {bad}: no workflow nodes to draw\n")
    assert f"{bad}:" in err.splitlines()[0]


def test_cli_without_graphviz_names_the_package(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEA_LSP_DOT", str(tmp_path / "no-dot-here"))
    code, out, err = cli(capsys, str(GRAPHS / "loops.yaml"), "--format", "svg")
    assert (code, out) == (2, "")
    assert err == f"tea-lsp: error: {INSTALL_HINT}\n"
    assert "apt-get install graphviz" in err and "brew install graphviz" in err
    # text formats need no Graphviz
    code, out, _ = cli(capsys, str(GRAPHS / "loops.yaml"), "--format", "mermaid")
    assert code == 0 and out.startswith("flowchart TD\n")


@NEEDS_DOT
@pytest.mark.parametrize("name", CASES)
def test_svg_has_every_node(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, err = cli(capsys, str(GRAPHS / f"{name}.yaml"), "--format", "svg")
    assert (code, err) == (0, "")
    assert out.startswith("<?xml")
    dot, _ = graph_of(name)
    ids = re.findall(r"^\s*(n\d+) \[label=", dot, re.M)
    for node_id in ids:
        assert f'<g id="tea&#45;{node_id}" class="node">' in out, node_id


@NEEDS_DOT
def test_svg_keeps_special_characters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, str(GRAPHS / "escaping.yaml"), "--format", "svg")
    assert code == 0
    assert "say &quot;hi&quot; \\n &lt;b&gt;" in out
    assert ">two</text>" in out and ">lines</text>" in out


@NEEDS_DOT
@pytest.mark.timeout(60)
def test_png_file(tmp_path: Path) -> None:
    out = tmp_path / "g.png"
    done = subprocess.run(
        ["tea-lsp", "graph", str(GRAPHS / "parallel_a.yaml"), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- the Mermaid goldens rendered by Mermaid itself (optional: needs mermaid.min.js)

MERMAID_JS = os.environ.get("TEA_LSP_MERMAID_JS", "")


@pytest.mark.skipif(
    not (MERMAID_JS and Path(MERMAID_JS).is_file()),
    reason="set TEA_LSP_MERMAID_JS to a mermaid.min.js (npm pack mermaid) to render the goldens",
)
@pytest.mark.skipif(
    not (shutil.which("chromium") and importlib.util.find_spec("playwright")),
    reason="needs chromium and playwright (scripts/ensure-graphviz-chromium.sh, '.[test]')",
)
@pytest.mark.timeout(120)
def test_mermaid_goldens_render_with_every_label(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    blocks = "".join(
        f"<pre class='mermaid' id='{name}'>{html.escape(read_mmd(name))}</pre>" for name in CASES
    )
    page_file = tmp_path / "mermaid.html"
    page_file.write_text(
        f"<html><body>{blocks}<script src='{Path(MERMAID_JS).as_uri()}'></script></body></html>",
        encoding="utf-8",
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium"), args=["--no-sandbox"]
        )
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(page_file.as_uri())
        page.evaluate(
            "async () => { mermaid.initialize({startOnLoad: false}); await mermaid.run(); }"
        )
        labels = {
            name: page.evaluate(
                "(id) => [...document.getElementById(id).querySelectorAll('.nodeLabel')]"
                ".map(e => e.textContent)",
                name,
            )
            for name in CASES
        }
        browser.close()
    assert errors == []
    assert 'say "hi" \\n <b>' in labels["escaping"]
    assert "countwhile state.i < 3 (≤10)" in labels["loops"]  # <br/> joins the two lines
    assert "fetch_all×items" in labels["dynamic"]


def read_mmd(name: str) -> str:
    return (GRAPHS / f"{name}.mmd").read_text(encoding="utf-8")


def test_graph_package_is_pure() -> None:
    """tea_lsp.graph sits below cli/ and lsp/: the standard library and the model only."""
    import ast
    import sys as _sys

    from tests.conftest import ROOT

    allowed = ("tea_lsp.graph", "tea_lsp.model", "tea_lsp.diagnostics", "__future__")
    for path in sorted((ROOT / "tea_lsp" / "graph").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                ok = name.split(".")[0] in _sys.stdlib_module_names or name.startswith(allowed)
                assert ok, f"{path.name} imports {name}"
