"""The action catalogue: its data, its generator, and how the checker and the runner use it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tea_lsp.analysis import analyze
from tea_lsp.catalog import ActionEntry, catalog, parse_catalog
from tea_lsp.catalog.plugins import load_plugin_actions
from tea_lsp.engine.actions.builtin import BUILTINS, TEST_ACTIONS
from tea_lsp.engine.actions.registry import default_registry
from tests.conftest import ROOT
from tests.engine_support import run_file, write

TEA_CHECKOUT = Path("/work/tea")


def test_catalogue_lists_both_engines_and_ours() -> None:
    cat = catalog()
    llm = cat.get("llm.call")
    assert llm is not None and llm.engines == {"python", "rust"} and not llm.runnable
    assert llm.providers_text() == "TEA's Python and Rust engines provide it"
    retry = cat.get("retry.loop")
    assert retry is not None and retry.engines == {"python"}
    assert retry.node_arguments == ("correct",)
    assert retry.providers_text() == "TEA's Python engine provides it"
    rust_only = cat.get("file.exists")
    assert rust_only is not None and rust_only.providers_text() == "TEA's Rust engine provides it"
    sleep = cat.get("time.sleep")
    assert sleep is not None and sleep.engines == {"tea-lsp"} and sleep.runnable
    assert sum("python" in e.engines for e in cat) == 484
    assert sum("rust" in e.engines for e in cat) == 68
    assert cat.source.startswith("TEA 0.9.105")


def test_runnable_entries_are_the_builtins_with_their_schemas() -> None:
    """The catalogue and the built-in functions agree (else: run scripts/gen_catalog.py)."""
    cat = catalog()
    specs = {s.name: s for s in (*BUILTINS, *TEST_ACTIONS)}
    runnable = {e.name for e in cat if e.runnable}
    assert runnable == set(specs)
    for name, spec in specs.items():
        entry = cat.get(name)
        assert entry is not None
        assert dict(entry.schema or {}) == dict(spec.schema), name
        assert entry.test_only == (spec in TEST_ACTIONS)
    assert default_registry(False).names() == sorted(s.name for s in BUILTINS)
    assert default_registry(True).names() == sorted(specs)


def test_parse_catalog_ignores_what_it_does_not_know() -> None:
    cat = parse_catalog(
        {
            "actions": {
                "x.y": {"engines": ["python", "martian"], "schema": [1], "extra": 1},
                "bad": "not a mapping",
            }
        }
    )
    assert list(cat.entries) == ["x.y"]
    assert cat.get("x.y") == ActionEntry("x.y", frozenset({"python"}))


@pytest.mark.timeout(60)
@pytest.mark.skipif(not (TEA_CHECKOUT / "python").is_dir(), reason="needs a TEA checkout")
def test_generated_file_is_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_catalog.py"), str(TEA_CHECKOUT), "--check"],
        capture_output=True,
        text=True,
    )
    assert (proc.returncode, proc.stderr) == (0, "")


def test_plugin_actions_are_read_without_the_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "tea_plugin_names-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tea-plugin-names\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[tea_lsp.actions]\n"
        "one = tea_plugin_names_mod:ONE\n"
        "more = tea_plugin_names_mod:register\n"
        "broken = tea_plugin_names_mod:missing\n"
    )
    (tmp_path / "tea_plugin_names_mod.py").write_text(
        textwrap.dedent(
            """
            class Spec:
                def __init__(self, name, schema):
                    self.name, self.schema = name, schema

            ONE = Spec("acme.one", {"type": "object", "required": ["x"]})

            def register(registry):
                registry.register(Spec("acme.two", None))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = load_plugin_actions()
    assert found.schemas == {"acme.one": {"type": "object", "required": ["x"]}, "acme.two": None}
    assert found.errors == [
        "action entry point 'broken': module 'tea_plugin_names_mod' has no attribute 'missing'"
    ]
    sys.modules.pop("tea_plugin_names_mod", None)


def test_checker_notes_upstream_actions_at_info_only() -> None:
    text = textwrap.dedent(
        """\
        name: notes
        nodes:
          - name: ask
            uses: llm.call
            with: {prompt: hi}
          - name: typo
            uses: reflection.lop
        """
    )
    got = [
        (d.code, d.severity.label, d.span.start_line, d.span.start_col, d.message)
        for d in analyze(text, "notes.yaml").diagnostics
    ]
    assert got == [
        (
            "TEA505",
            "info",
            3,
            10,
            "action 'llm.call' is not available in the tea-lsp runner (TEA's Python and Rust "
            "engines provide it)",
        ),
        (
            "TEA501",
            "error",
            6,
            10,
            "unknown action 'reflection.lop'; did you mean 'reflection.loop'?",
        ),
    ]


@pytest.mark.timeout(60)
def test_runner_refuses_upstream_actions_with_tea505(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: refuse
        nodes:
          - name: ask
            uses: llm.call
            with: {prompt: hi}
        """,
    )
    result = run_file(wf)
    assert result.status == "refused"
    got = [(d.code, d.severity.label, d.span.start_line, d.message) for d in result.diagnostics]
    assert got == [
        (
            "TEA505",
            "info",
            3,
            "action 'llm.call' is not available in the tea-lsp runner (TEA's Python and Rust "
            "engines provide it)",
        ),
        (
            "TEA505",
            "error",
            3,
            "node 'ask': action 'llm.call' is not available in the tea-lsp runner (TEA's Python "
            "and Rust engines provide it)",
        ),
    ]
