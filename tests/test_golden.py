"""Golden fixtures: ``err/X.yaml`` gives exactly ``err/X.out``; ``ok/*.yaml`` stays clean."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from tea_lsp import codes
from tea_lsp.analysis import analyze
from tea_lsp.cli.main import main
from tea_lsp.diagnostics import Severity
from tests.conftest import FIXTURES, ROOT

ERR = sorted((FIXTURES / "err").glob("*.yaml"))
OK = sorted((FIXTURES / "ok").glob("*.yaml"))


def run_cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


@pytest.mark.parametrize("path", ERR, ids=lambda p: p.stem)
def test_err_fixture(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    rel = path.relative_to(ROOT).as_posix()
    expected = path.with_suffix(".out").read_text(encoding="utf-8")
    code, out = run_cli("check", "--no-config", "--format", "concise", "--fail-on", "hint", rel)
    assert out == expected
    assert code == (1 if expected.strip() else 0)


@pytest.mark.parametrize("path", OK, ids=lambda p: p.stem)
def test_ok_fixture(path: Path) -> None:
    analysis = analyze(path.read_text(encoding="utf-8"), str(path))
    problems = [d for d in analysis.diagnostics if d.severity <= Severity.WARNING]
    assert problems == []


def test_every_code_has_an_err_fixture() -> None:
    """Every static code (syntax to actions) is shown by at least one golden fixture."""
    seen: set[str] = set()
    for out in (FIXTURES / "err").glob("*.out"):
        seen |= set(re.findall(r"\[(TEA\d{3})\]", out.read_text(encoding="utf-8")))
    static = {c for c, info in codes.REGISTRY.items() if info.family not in ("runtime", "internal")}
    assert sorted(static - seen) == []


def test_explain_examples_show_their_own_code() -> None:
    """Every rule example that is a whole workflow is caught by that very rule."""
    checked = 0
    for info in codes.REGISTRY.values():
        example = info.example
        if info.family in ("runtime", "internal") or "..." in example:
            continue
        if not example.startswith(("nodes:", "state_schema:")):
            continue
        found = {d.code for d in analyze(example, "example.yaml").diagnostics}
        assert info.code in found, (info.code, sorted(found))
        checked += 1
    assert checked >= 25
