"""Commands import only what they need (timing itself is measured by bench/startup.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("lupa", "jinja2", "jsonschema", "rich", "pygls", "lsprotocol", "yaml", "pathspec")

PROBE = """
import contextlib, io, sys
from tea_lsp.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    main({argv!r})
heavy = {heavy!r}
print(" ".join(sorted({{m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy}})))
"""


def loaded(*argv: str) -> list[str]:
    code = PROBE.format(argv=list(argv), heavy=HEAVY)
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["explain", "TEA201"], ["explain"], ["check", "--help"], ["run", "--help"]],
)
def test_light_commands_import_nothing_heavy(argv: list[str]) -> None:
    assert loaded(*argv) == []


def test_check_of_one_file_imports_neither_rich_nor_the_server() -> None:
    got = loaded("check", "--no-cache", "--no-config", "examples/parallel_pipeline.tea.yaml")
    assert "lupa" in got and "yaml" in got
    assert not {"rich", "pygls", "lsprotocol", "pathspec"} & set(got)
