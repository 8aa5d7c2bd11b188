"""How ``tea-lsp check`` leaves the process: the console script and ``python -m tea_lsp`` end
with ``os._exit`` after flushing (no interpreter teardown), ``main()`` itself returns. The
output through a pipe and the exit code must be exactly what ``main()`` gives in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tea_lsp.cli.main import main

NODES = 2000  # one problem each: the JSON output (~400 KB) is far larger than a pipe's buffer


def _problems() -> str:
    parts = ["name: many\nnodes:\n"]
    for i in range(NODES):
        parts.append(f"  - name: n{i}\n    run: return {{}}\n    run: return {{x = {i}}}\n")
    return "".join(parts)


def _commands() -> list[list[str]]:
    out = [[sys.executable, "-m", "tea_lsp"]]
    script = Path(sys.executable).parent / "tea-lsp"
    if script.is_file():
        out.append([str(script)])
    return out


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    (tmp_path / "many.yaml").write_text(_problems(), encoding="utf-8")
    (tmp_path / "clean.yaml").write_text("name: c\nnodes:\n  - name: a\n    run: return {}\n")
    return tmp_path


def _run(cmd: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [*cmd, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.timeout(240)
def test_json_through_a_pipe_is_complete_with_exit_code_1(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(work)
    args = ("check", "--no-cache", "--no-config", "--format", "json", "many.yaml")
    assert main(list(args)) == 1  # main() returns: tests and embedders keep their process
    expected = capsys.readouterr().out
    items = json.loads(expected)
    assert len(items) == NODES
    assert items[-1] == {
        "path": "many.yaml",
        "line": 3 * NODES + 2,
        "column": 5,
        "end_line": 3 * NODES + 2,
        "end_column": 8,
        "severity": "error",
        "code": "TEA002",
        "message": "duplicate key 'run'; the earlier value is silently discarded",
    }
    for cmd in _commands():
        r = _run(cmd, *args, cwd=work)
        assert (r.returncode, r.stderr) == (1, "")
        assert r.stdout == expected


@pytest.mark.timeout(120)
def test_clean_file_exit_0_and_text_summary(work: Path) -> None:
    for cmd in _commands():
        r = _run(cmd, "check", "--no-cache", "--no-config", "clean.yaml", cwd=work)
        assert (r.returncode, r.stdout, r.stderr) == (
            0,
            "All checks passed (1 file checked).\n",
            "",
        )


@pytest.mark.timeout(120)
def test_usage_error_and_other_commands_exit_as_before(work: Path) -> None:
    for cmd in _commands():
        r = _run(cmd, "check", "--fix", "--diff", "clean.yaml", cwd=work)
        assert (r.returncode, r.stdout) == (2, "")
        assert r.stderr == "tea-lsp: error: --fix and --diff cannot be used together\n"
        r = _run(cmd, "explain", "TEA002", cwd=work)
        assert r.returncode == 0
        assert r.stdout.startswith("# TEA002 duplicate-key\n")


@pytest.mark.timeout(120)
def test_reader_closing_the_pipe_early_is_quiet(work: Path) -> None:
    for cmd in _commands():
        proc = subprocess.Popen(
            [*cmd, "check", "--no-cache", "--no-config", "--format", "json", "many.yaml"],
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(10) == b"[\n  {\n    "
        proc.stdout.close()
        err = proc.stderr.read()
        assert (proc.wait(timeout=60), err) == (0, b"")
