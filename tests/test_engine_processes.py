"""No process is left behind: after a run, a failure, a cancellation, Ctrl-C; shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tea_lsp.engine import CancelToken, shutdown_default_pool
from tea_lsp.engine.events import BranchStarted, Event
from tests.conftest import ROOT
from tests.engine_support import (
    explain,
    process_pool,
    processes_with_marker,
    run_file,
    stray_processes,
    wait_until,
    worker_processes,
    write,
)


@pytest.fixture(autouse=True)
def _no_shared_pool() -> None:
    # Runs without a pool lease their main-flow worker from the shared pool: stop its
    # warm workers so that "no worker left" below counts only this test's own.
    shutdown_default_pool()


@pytest.fixture(autouse=True)
def _test_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEA_LSP_TEST_ACTIONS", "1")


SLEEPERS = """
name: sleepers
settings:
  parallel:
    max_parallel_branches: 3
nodes:
  - name: start
    run: return {}
  - name: one
    uses: time.sleep
    with: {seconds: 30}
    goto: join
  - name: two
    uses: time.sleep
    with: {seconds: 30}
    goto: join
  - name: three
    run: return { three = true }
    goto: join
  - name: join
    fan_in: true
    run: return {}
edges:
  - {from: start, to: [one, two, three], parallel: true, fan_in: join}
"""

QUICK = """
name: quick
nodes:
  - name: start
    run: return {}
  - name: a
    run: return { a = 1 }
    goto: join
  - name: b
    run: return { b = 2 }
    goto: join
  - name: join
    fan_in: true
    run: return { n = 2 }
  - name: fail_after
    run: |
      if state.fail then error("asked to fail") end
      return {}
edges:
  - {from: start, to: [a, b], parallel: true, fan_in: join}
  - {from: join, to: fail_after}
"""


def test_no_process_left_after_success_failure_and_shutdown(tmp_path: Path) -> None:
    wf = write(tmp_path, QUICK)
    with process_pool() as pool:
        ok = run_file(wf, pool=pool)
        assert ok.ok, explain(ok)
        assert stray_processes(pool) == set()
        assert len(pool.worker_pids()) == 3  # 2 branch workers + the main flow's stay warm
        failed = run_file(wf, pool=pool, input={"fail": True})
        assert failed.status == "failed"
        assert failed.error == "node 'fail_after': asked to fail"
        assert stray_processes(pool) == set()
    assert worker_processes() == set()


@pytest.mark.parametrize("strategy", ["process", "thread"])
def test_cancel_kills_in_flight_branches(tmp_path: Path, strategy: str) -> None:
    wf = write(tmp_path, SLEEPERS)
    token = CancelToken()
    events: list[Event] = []

    def on_event(e: Event) -> None:
        events.append(e)
        if sum(isinstance(x, BranchStarted) for x in events) == 3:
            token.cancel()

    with process_pool() as pool:
        result = run_file(wf, pool=pool, strategy=strategy, cancel=token, events=on_event)
        assert result.status == "cancelled"
        assert result.error == "the run was cancelled"
        by_branch = {r["branch"]: r["error_type"] for r in result.branches}
        assert by_branch["one"] == by_branch["two"] == "Cancelled"
        assert by_branch["three"] in (None, "Cancelled")  # it may finish before the cancel
        assert stray_processes(pool) == set()
        again = run_file(write(tmp_path, QUICK, "quick.yaml"), pool=pool)
        assert again.ok, explain(again)
    assert worker_processes() == set()


def test_keyboard_interrupt_during_a_fan_out_stops_every_worker(tmp_path: Path) -> None:
    wf = write(tmp_path, SLEEPERS)
    events: list[Event] = []

    def on_event(e: Event) -> None:
        events.append(e)
        if sum(isinstance(x, BranchStarted) for x in events) == 3:
            raise KeyboardInterrupt

    with process_pool() as pool:
        with pytest.raises(KeyboardInterrupt):
            run_file(wf, pool=pool, events=on_event)
        assert stray_processes(pool) == set()
    assert worker_processes() == set()


MAIN_SPIN = """
name: main-spin
nodes:
  - name: spin
    run: |
      while true do end
"""


@pytest.mark.parametrize(
    ("workflow", "wait_for", "min_processes"),
    [(SLEEPERS, '"branch_started"', 5), (MAIN_SPIN, '"node_started"', 1)],
    ids=["during-fan-out", "during-main-flow-lua"],
)
def test_ctrl_c_on_the_cli_leaves_no_process(
    tmp_path: Path, workflow: str, wait_for: str, min_processes: int
) -> None:
    wf = write(tmp_path, workflow)
    events = tmp_path / "events.ndjson"
    marker = uuid.uuid4().hex
    env = dict(os.environ)
    env.update(
        TEA_LSP_TEST_MARK=marker,
        TEA_LSP_TEST_ACTIONS="1",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tea_lsp", "run", str(wf), "--events", str(events)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a terminal job
    )
    try:

        def started() -> bool:
            if not events.exists():
                return False
            text = events.read_text(encoding="utf-8")
            return text.count(wait_for) == (3 if "branch" in wait_for else 1)

        assert wait_until(started, 60)
        # During the fan-out: the CLI, the fork server and 3 workers.
        assert len(processes_with_marker(marker)) >= min_processes
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert out == ""
    assert err == "tea-lsp: interrupted\n"
    assert wait_until(lambda: not processes_with_marker(marker), 10)
