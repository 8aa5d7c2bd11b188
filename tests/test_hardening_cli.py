"""Small hostile inputs to the CLI: deep --input, NaN from Lua, control characters in output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tea_lsp.safeio import json_depth, non_finite, terminal_safe

TINY = "name: tiny\nnodes:\n  - name: a\n    language: lua\n    run: return {}\n"


def tea(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tea_lsp", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("depth", [101, 100_000])
def test_deeply_nested_input_is_a_usage_error(tmp_path: Path, depth: int) -> None:
    (tmp_path / "wf.yaml").write_text(TINY, encoding="utf-8")
    (tmp_path / "deep.json").write_text('{"a": ' + "[" * depth + "]" * depth + "}")
    r = tea("run", "wf.yaml", "--input", "@deep.json", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == "tea-lsp: error: deep.json: JSON nested deeper than 100 levels\n"
    assert r.stdout == ""


@pytest.mark.timeout(60)
def test_input_at_the_depth_limit_runs(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(TINY, encoding="utf-8")
    r = tea("run", "wf.yaml", "--input", '{"a": ' + "[" * 99 + "]" * 99 + "}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


@pytest.mark.timeout(60)
def test_nan_and_infinity_from_lua_fail_the_node(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(
        "name: nan\nnodes:\n  - name: a\n    language: lua\n"
        "    run: return { ok = 1, list = {1, math.huge} }\n",
        encoding="utf-8",
    )
    r = tea("run", "wf.yaml", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == (
        "wf.yaml:5:10: error[TEA601] node 'a': lua code returned inf at 'list[1]'; JSON numbers "
        "cannot be NaN or infinite (return a string or nil instead)"
    )


FORGED = (
    "name: e\nnodes:\n  - name: a\n    language: lua\n    run: return {}\n"
    '    "r\\e[2J\\n::error::x": 1\n    "r\\e[2J\\n::error::x": 2\n'
)


@pytest.mark.timeout(60)
def test_control_characters_never_reach_the_terminal(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(FORGED, encoding="utf-8")
    r = tea("check", "--no-config", "--format", "text", "wf.yaml", cwd=tmp_path)
    assert r.returncode == 1
    assert "\x1b" not in r.stdout
    assert not any(line.startswith("::") for line in r.stdout.splitlines())
    assert r.stdout.splitlines()[:3] == [
        "wf.yaml:7:5: error[TEA002] duplicate key 'r\\x1b[2J\\n::error::x'; the earlier value "
        "is silently discarded",
        '        "r\\e[2J\\n::error::x": 2',
        "        ^" + "~" * 19,
    ]
    concise = tea("check", "--no-config", "--format", "concise", "wf.yaml", cwd=tmp_path)
    assert concise.stdout.splitlines() == [
        "wf.yaml:7:5: error[TEA002] duplicate key 'r\\x1b[2J\\n::error::x'; the earlier value "
        "is silently discarded",
        "wf.yaml:7:5: error[TEA101] unknown key 'r\\x1b[2J\\n::error::x' in node",
    ]


def test_helpers() -> None:
    assert terminal_safe("a\nb\x1b[1m\r\x07\t\u2028") == "a\\nb\\x1b[1m\\r\\x07\t\\u2028"
    assert terminal_safe("a\x1bb", same_width=True) == "a\ufffdb"
    assert json_depth({"a": [[1]]}) == 3
    assert json_depth(5) == 0
    assert non_finite({"a": [1.0, {"b": float("nan")}]}) is not None
    assert non_finite({"a": [1.0, {"b": float("-inf")}]}) == ("a[1].b", float("-inf"))
    assert non_finite(json.loads('{"x": 1e308}')) is None


@pytest.mark.timeout(60)
def test_raw_escape_in_the_source_line_is_replaced_in_place(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(TINY + "# \x1b[2Jgone\n", encoding="utf-8")
    r = tea("check", "--no-config", "--format", "text", "wf.yaml", cwd=tmp_path)
    assert r.stdout.splitlines()[:3] == [
        "wf.yaml:6:3: error[TEA001] invalid YAML: control character #x001b is not allowed",
        "    # \ufffd[2Jgone",
        "      ^",
    ]
