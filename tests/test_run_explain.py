"""``tea-lsp run`` explains a failure: the state before the failing node, the source line, one
message per failure; JSON on stdout with ``--output json``; events on stdout with
``--events -``; node progress and a summary line on a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tea_lsp.cli.main import main
from tests.engine_support import write

FAIL_FAST = """
name: ff
initial_state: {x: 1}
settings:
  parallel:
    fail_fast: true
nodes:
  - name: start
    run: return { y = state.x * 10 }
  - name: left
    run: return { part = "L" }
    goto: join
  - name: right
    run: |
      error("right is down")
    goto: join
  - name: join
    fan_in: true
    run: return {}
edges:
  - {from: start, to: left, type: parallel, fan_in: join}
  - {from: start, to: right, type: parallel, fan_in: join}
"""

LINEAR = """
name: linear
initial_state: {n: 1}
nodes:
  - name: one
    run: return { n = state.n + 1 }
  - name: two
    run: return { n = state.n * 10 }
"""

ERROR = {
    "path": "wf.yaml",
    "line": 14,
    "column": 7,
    "end_line": 14,
    "end_column": 29,
    "code": "TEA601",
    "message": "branch 'right' failed: node 'right': right is down",
    "node": "right",
}


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["run", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.timeout(60)
def test_fail_fast_failure_is_said_once_with_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, FAIL_FAST)
    code, out, err = cli(capsys, "wf.yaml", "--strategy", "thread")
    assert (code, out) == (1, "")
    assert err == (
        "wf.yaml:14:7: error[TEA601] branch 'right' failed: node 'right': right is down\n"
        '          error("right is down")\n'
        "          ^~~~~~~~~~~~~~~~~~~~~~\n"
        "  state before node 'right':\n"
        "    {\n"
        '      "x": 1,\n'
        '      "y": 10\n'
        "    }\n"
    )


@pytest.mark.timeout(60)
def test_output_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, FAIL_FAST)
    code, out, _ = cli(capsys, "wf.yaml", "--strategy", "thread", "--output", "json")
    assert code == 1
    assert json.loads(out) == {"ok": False, "error": ERROR, "state": {"x": 1, "y": 10}}
    write(tmp_path, LINEAR)
    code, out, err = cli(capsys, "wf.yaml", "--output", "json")
    assert (code, json.loads(out), err) == (0, {"ok": True, "state": {"n": 20}}, "")


@pytest.mark.timeout(60)
def test_events_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, FAIL_FAST)
    code, out, _ = cli(capsys, "wf.yaml", "--strategy", "thread", "--events", "-")
    assert code == 1
    records = [json.loads(line) for line in out.splitlines()]
    kinds = [r["event"] for r in records]
    assert kinds[0] == "run_started" and kinds[-2:] == ["run_finished", "result"]
    assert records[-1] == {
        "event": "result",
        "ok": False,
        "error": ERROR,
        "state": {"x": 1, "y": 10},
    }
    write(tmp_path, LINEAR)
    code, out, _ = cli(capsys, "wf.yaml", "--events", "-")
    last = json.loads(out.splitlines()[-1])
    assert (code, last) == (0, {"event": "result", "ok": True, "state": {"n": 20}})


@pytest.mark.timeout(60)
def test_terminal_shows_every_node_and_a_summary(tmp_path: Path) -> None:
    write(tmp_path, LINEAR)
    master, slave = pty.openpty()
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "TERM": "dumb"}
    proc = subprocess.run(
        [sys.executable, "-m", "tea_lsp", "run", "wf.yaml"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
        timeout=60,
        check=False,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    err = b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"n": 20}
    lines = [re.sub(r"\d+ ms", "N ms", line) for line in err.splitlines()]
    assert lines[:2] == ["✔ one N ms", "✔ two N ms"]
    assert re.fullmatch(r"ok in \d+\.\d\d s: 2 nodes, 0 branches, 0 failed", lines[2])


@pytest.mark.timeout(60)
def test_events_file_ends_with_the_failing_nodes_input_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, FAIL_FAST)
    code, _, _ = cli(capsys, "wf.yaml", "--strategy", "thread", "--events", "ev.ndjson")
    lines = (tmp_path / "ev.ndjson").read_text(encoding="utf-8").splitlines()
    assert code == 1
    assert json.loads(lines[-1]) == {
        "event": "result",
        "ok": False,
        "error": ERROR,
        "state": {"x": 1, "y": 10},
    }
