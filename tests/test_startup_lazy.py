"""``check`` imports what the file needs: ``jsonschema`` only to explain a failing document,
``jinja2`` only for a file with templates, ``importlib.metadata`` only when some plugin may
provide actions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from jsonschema import Draft202012Validator

from tea_lsp.checks.schema_fast import ENFORCED
from tests.conftest import ROOT
from tests.test_startup_imports import loaded

LUA_ONLY = """name: lua-only
state_schema:
  total: int
nodes:
  - name: add
    language: lua
    run: |
      return { total = (state.total or 0) + 1 }
"""


def test_the_fast_schema_check_knows_every_keyword_jsonschema_enforces() -> None:
    assert frozenset(Draft202012Validator.VALIDATORS) == ENFORCED


def test_check_of_a_clean_example_with_actions_does_not_import_jsonschema() -> None:
    got = loaded("check", "--no-cache", "--no-config", "examples/parallel_pipeline.tea.yaml")
    assert "jsonschema" not in got
    assert "yaml" in got and "lupa" in got


def test_check_of_a_clean_lua_only_file_imports_neither_jsonschema_nor_jinja2(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lua_only.yaml"
    path.write_text(LUA_ONLY)
    got = loaded("check", "--no-cache", "--no-config", str(path))
    assert "jsonschema" not in got and "jinja2" not in got
    assert "lupa" in got


def test_a_template_still_gets_the_template_checks(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        LUA_ONLY + "  - name: show\n    uses: json.parse\n    with:\n"
        '      text: "{{ state.totl }}"\n    output: parsed\n'
    )
    got = loaded("check", "--no-cache", "--no-config", str(path))
    assert "jinja2" in got
    r = subprocess.run(
        [sys.executable, "-m", "tea_lsp", "check", "--no-config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stdout.splitlines()[0] == (
        f"{path}:12:23: warning[TEA404] state key 'totl' is not declared and no node provides "
        "it; did you mean 'total'?"
    )


def test_check_of_an_invalid_file_still_uses_jsonschema(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(LUA_ONLY.replace("name: add", "name: add\n    bogus_key: 1"))
    got = loaded("check", "--no-cache", "--no-config", str(path))
    assert "jsonschema" in got


def test_plugin_lookup_skips_importlib_metadata_when_no_distribution_declares_the_group() -> None:
    code = (
        "import sys\n"
        "from tea_lsp.catalog.plugins import load_plugin_actions\n"
        "found = load_plugin_actions('tea_lsp.no_such_group')\n"
        "print(found.schemas, found.errors, 'importlib.metadata' in sys.modules)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "{} [] False\n", "")
