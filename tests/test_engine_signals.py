"""Signals to ``tea-lsp run`` mid-fan-out leave no process and no temporary folder behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.engine_support import processes_with_marker, wait_until, write

# Busy branches (CPU loops in Lua and Python) that would run for minutes if left alone.
BUSY = """
name: busy
settings:
  lua: {timeout: 600}
  python: {timeout: 600}
  parallel: {max_parallel_branches: 3, lua_timeout: 600}
nodes:
  - name: start
    run: return {}
  - name: lua_loop
    language: lua
    run: |
      while true do end
    goto: join
  - name: py_loop
    language: python
    run: |
      while True:
          pass
    goto: join
  - name: sleeper
    uses: time.sleep
    with: {seconds: 600}
    goto: join
  - name: join
    fan_in: true
    run: return {}
edges:
  - {from: start, to: [lua_loop, py_loop, sleeper], parallel: true, fan_in: join}
"""


def _start(tmp_path: Path, marker: str) -> tuple[subprocess.Popen[str], Path, Path]:
    wf = write(tmp_path, BUSY)
    events = tmp_path / "events.ndjson"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ)
    env.update(
        TEA_LSP_TEST_MARK=marker,
        TEA_LSP_TEST_ACTIONS="1",
        TMPDIR=str(tmp),  # where multiprocessing puts its pymp-* folder
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tea_lsp", "run", str(wf), "--events", str(events)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )

    def fanned_out() -> bool:
        return events.exists() and events.read_text(encoding="utf-8").count('"branch_started"') == 3

    try:
        assert wait_until(fanned_out, 60)
        # The CLI, the fork server, the main flow's worker, 3 branch workers (+ Python's child).
        assert len(processes_with_marker(marker)) >= 6
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return proc, events, tmp


@pytest.mark.timeout(90)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=str)
def test_signal_mid_fan_out_stops_everything(tmp_path: Path, sig: signal.Signals) -> None:
    marker = uuid.uuid4().hex
    proc, events, tmp = _start(tmp_path, marker)
    try:
        proc.send_signal(sig)  # to the CLI only: it must stop its workers itself
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert (proc.returncode, out, err) == (128 + sig, "", "tea-lsp: interrupted\n")
    assert wait_until(lambda: not processes_with_marker(marker), 5)
    assert sorted(p.name for p in tmp.iterdir()) == []  # no pymp-* folder left
    last = json.loads(events.read_text(encoding="utf-8").splitlines()[-1])
    assert (last["event"], last["status"], last["ok"]) == ("run_finished", "cancelled", False)


@pytest.mark.timeout(90)
def test_sigkill_of_the_cli_leaves_nothing_running(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    proc, _events, _tmp = _start(tmp_path, marker)
    proc.kill()
    proc.wait()
    # Nothing can clean up after SIGKILL; the fork server sees the CLI gone and exits, and
    # every worker (and forked child) dies with its parent.
    assert wait_until(lambda: not processes_with_marker(marker), 5), processes_with_marker(marker)
