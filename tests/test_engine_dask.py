"""Strategy ``dask``: branches placed on a real Dask cluster, run by each worker's tea-lsp pool.

One local cluster (2 worker processes, 1 thread each) serves the module; the runs connect to
it by address, as to an external scheduler. One test starts its own cluster for the run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")

import dask
from distributed import Client, LocalCluster

from tea_lsp.analysis import analyze
from tea_lsp.engine import CancelToken, RunOptions, run_workflow
from tea_lsp.engine.actions.registry import default_registry
from tea_lsp.engine.dask_executor import DASK_CONFIG, DaskExecutor, DaskSetupError
from tea_lsp.engine.events import BranchStarted, Event, NodeStarted
from tea_lsp.engine.plan import compute_limits
from tests.conftest import FIXTURES, ROOT
from tests.engine_support import explain, final_state, run_file, wait_until, without_timing, write

FAN_OUT_CASES = ["fan_out_edges_a", "fan_out_list_c", "fan_out_list_d", "dynamic_items"]


@pytest.fixture(autouse=True)
def _test_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEA_LSP_TEST_ACTIONS", "1")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    # The config stays set while the cluster lives: a worker the nanny restarts reads it again.
    with dask.config.set(DASK_CONFIG):
        c = LocalCluster(  # type: ignore[no-untyped-call]
            processes=True,
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=50,
        )
        try:
            yield c
        finally:
            c.close()


@pytest.fixture
def address(cluster: LocalCluster) -> str:
    """The scheduler's address, once both workers are up (a killed one is restarted)."""
    with Client(cluster, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        client.wait_for_workers(2, timeout=30)
    return str(cluster.scheduler_address)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def _dask_worker_of(pid: int) -> int:
    """The Dask worker process above a branch's pool worker (a child of this process)."""
    me = os.getpid()
    while pid > 1:
        parent = _ppid(pid)
        if parent == me:
            return pid
        pid = parent
    raise AssertionError("the branch does not run under this test's cluster")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", FAN_OUT_CASES)
def test_results_identical_to_the_process_strategy(name: str, address: str) -> None:
    path = FIXTURES / "run" / f"{name}.yaml"
    expected = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    text = path.read_text(encoding="utf-8")
    starts: list[BranchStarted] = []

    def run(strategy: str, **extra: Any) -> Any:
        return run_workflow(
            text,
            path=str(path),
            options=RunOptions(strategy=strategy, **extra),  # type: ignore[arg-type]
            events=lambda e: starts.append(e) if isinstance(e, BranchStarted) else None,
        )

    local = run("process")
    starts.clear()
    remote = run("dask", dask_address=address)
    assert remote.ok, explain(remote)
    assert final_state(remote) == final_state(local) == expected
    assert without_timing(remote.branches) == without_timing(local.branches)
    assert remote.state is not None and local.state is not None
    assert without_timing(remote.state["parallel_results"]) == without_timing(
        local.state["parallel_results"]
    )
    # every branch started once, on a worker of the cluster (not a process of this one's pool)
    assert sorted(s.branch for s in starts) == sorted(b["branch"] for b in remote.branches)
    assert all(s.worker is not None and _dask_worker_of(s.worker) for s in starts)


LUA_ERROR = """
name: lua-error
nodes:
  - name: start
    run: return {}
  - name: good
    run: return { good = 1 }
    goto: join
  - name: bad
    run: |
      local t = nil
      return { x = t.field }
    goto: join
  - name: join
    fan_in: true
    run: "return { n = #state.parallel_results }"
edges:
  - {from: start, to: [good, bad], parallel: true, fan_in: join}
"""


@pytest.mark.timeout(60)
def test_lua_error_in_a_branch(tmp_path: Path, address: str) -> None:
    wf = write(tmp_path, LUA_ERROR)
    remote = run_file(wf, strategy="dask", dask_address=address)
    local = run_file(wf, strategy="process")
    assert remote.ok, explain(remote)
    bad = next(b for b in remote.branches if b["branch"] == "bad")
    assert bad["success"] is False and bad["error_type"] == "LuaError"
    assert bad["error"].startswith("node 'bad': ")
    assert "attempt to index a nil value" in bad["error"]
    assert without_timing(remote.branches) == without_timing(local.branches)
    diag = remote.branch_diagnostics[0]
    assert (diag.code, diag.span.start_line) == ("TEA601", 10)  # 0-based: the line of t.field
    assert remote.branch_diagnostics == local.branch_diagnostics


TIMEOUTS = """
name: timeouts
settings:
  parallel:
    lua_timeout: 0.5
nodes:
  - name: start
    run: return {}
  - name: loop
    run: while true do end
    goto: join
  - name: blocked
    uses: test.spin
    with: {seconds: 60}
    goto: join
  - name: fine
    run: return { fine = true }
    goto: join
  - name: join
    fan_in: true
    run: return { done = true }
edges:
  - {from: start, to: [loop, blocked, fine], parallel: true, fan_in: join}
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
    run: "return { n = #state.parallel_results }"
edges:
  - {from: start, to: [a, b], parallel: true, fan_in: join}
"""


@pytest.mark.timeout(60)
def test_timeouts_in_a_lua_loop_and_a_long_c_call(tmp_path: Path, address: str) -> None:
    wf = write(tmp_path, TIMEOUTS)
    result = run_file(wf, strategy="dask", dask_address=address, kill_grace=0.3)
    assert result.ok, explain(result)
    by = {b["branch"]: b for b in result.branches}
    assert by["fine"]["success"] is True
    assert by["loop"]["error_type"] == "TimeoutError" and by["loop"]["timeout"] is True
    assert by["blocked"]["error_type"] == "TimeoutError" and by["blocked"]["timeout"] is True
    assert by["blocked"]["error"] == (
        "node 'blocked': ran past the branch timeout of 0.5 s; the worker did not return "
        "from a call and was killed"
    )
    assert final_state(result) == {"done": True}
    # The next run is prompt: nothing of the killed branch holds a Dask worker.
    t0 = time.monotonic()
    again = run_file(write(tmp_path, QUICK, "quick.yaml"), strategy="dask", dask_address=address)
    assert again.ok, explain(again)
    assert final_state(again) == {"n": 2}
    assert time.monotonic() - t0 < 8.0


FAN_OUT_TIMEOUT = """
name: fan-out-timeout
settings:
  lua: {timeout: 60}
  parallel:
    timeout: 1
nodes:
  - name: start
    run: return {}
  - name: slow
    run: while true do end
    goto: join
  - name: quick
    language: python
    run: |
      return {"quick": sum(range(4))}
    goto: join
  - name: broken
    language: python
    run: |
      values = [1, 0]
      return {"x": values[0] / values[1]}
    goto: join
  - name: join
    fan_in: true
    run: return { done = true }
edges:
  - {from: start, to: [slow, quick, broken], parallel: true, fan_in: join}
"""


@pytest.mark.timeout(60)
def test_fan_out_timeout_and_python_branches(tmp_path: Path, address: str) -> None:
    # parallel.timeout travels as remaining seconds; Python branches run in a forked child
    # on the Dask worker, their errors mapped to the YAML lines as locally.
    wf = write(tmp_path, FAN_OUT_TIMEOUT)
    remote = run_file(wf, strategy="dask", dask_address=address)
    local = run_file(wf, strategy="process")
    assert remote.ok, explain(remote)
    by = {b["branch"]: b for b in remote.branches}
    assert by["slow"]["error_type"] == "TimeoutError" and by["slow"]["timeout"] is True
    assert by["slow"]["error"] == "node 'slow': lua code ran past the fan-out timeout of 1 s"
    assert remote.timing_ms < 6000  # the fan-out ended at its timeout, not at the 60 s
    assert by["quick"]["state"]["quick"] == 6
    assert by["broken"]["error_type"] == "PythonError"
    assert without_timing(remote.branches) == without_timing(local.branches)
    assert remote.branch_diagnostics == local.branch_diagnostics
    assert [(d.code, d.span.start_line) for d in remote.branch_diagnostics] == [
        ("TEA602", 9),
        ("TEA609", 20),
    ]


SLEEPERS = """
name: sleepers
settings:
  parallel:
    max_parallel_branches: 2
nodes:
  - name: start
    run: return {}
  - name: victim
    uses: time.sleep
    with: {seconds: 30}
    goto: join
  - name: other
    uses: time.sleep
    with: {seconds: 0.5}
    goto: join
  - name: join
    fan_in: true
    run: "return { n = #state.parallel_results }"
edges:
  - {from: start, to: [victim, other], parallel: true, fan_in: join}
"""


@pytest.mark.timeout(90)
def test_kill_9_of_a_dask_worker_is_a_worker_crash_never_a_retry(
    tmp_path: Path, address: str
) -> None:
    wf = write(tmp_path, SLEEPERS)
    starts: list[BranchStarted] = []
    killed: list[int] = []

    def on_event(e: Event) -> None:
        if isinstance(e, BranchStarted):
            starts.append(e)
        if isinstance(e, NodeStarted) and e.branch == "victim" and not killed:
            pid = next(s.worker for s in starts if s.branch == "victim")
            assert pid is not None
            target = _dask_worker_of(pid)
            os.kill(target, signal.SIGKILL)
            killed.append(target)

    result = run_file(wf, strategy="dask", dask_address=address, events=on_event)
    assert result.ok, explain(result)
    by = {b["branch"]: b for b in result.branches}
    assert by["other"]["success"] is True
    victim = by["victim"]
    assert victim["success"] is False and victim["error_type"] == "WorkerCrash"
    assert re.fullmatch(
        r"node 'victim': the Dask worker 'tcp://127\.0\.0\.1:\d+' died while running it",
        victim["error"],
    ), victim["error"]
    assert [s.branch for s in starts].count("victim") == 1  # never re-run elsewhere
    assert final_state(result) == {"n": 2}
    assert result.branch_diagnostics[0].code == "TEA604"


@pytest.mark.timeout(90)
def test_a_scheduler_that_re_runs_tasks_is_caught(tmp_path: Path) -> None:
    # A scheduler with Dask's default allowed-failures (3) re-runs a task whose worker died:
    # the second "started" of the branch is seen, the re-run stopped, the branch a WorkerCrash.
    wf = write(tmp_path, SLEEPERS)
    starts: list[BranchStarted] = []
    killed: list[int] = []

    def on_event(e: Event) -> None:
        if isinstance(e, BranchStarted):
            starts.append(e)
        if isinstance(e, NodeStarted) and e.branch == "victim" and not killed:
            pid = next(s.worker for s in starts if s.branch == "victim")
            assert pid is not None
            killed.append(_dask_worker_of(pid))
            os.kill(killed[0], signal.SIGKILL)

    config = {**DASK_CONFIG, "distributed.scheduler.allowed-failures": 3}
    with dask.config.set(config):
        retrying = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=50,
        )
        try:
            address = str(retrying.scheduler_address)
            result = run_file(wf, strategy="dask", dask_address=address, events=on_event)
        finally:
            retrying.close()
    assert result.ok, explain(result)
    victim = next(b for b in result.branches if b["branch"] == "victim")
    assert victim["error_type"] == "WorkerCrash"
    assert re.fullmatch(
        r"node 'victim': the Dask worker 'tcp://127\.0\.0\.1:\d+' died while running it "
        r"\(Dask re-ran the branch on another worker; it was stopped there\)",
        victim["error"],
    ), victim["error"]
    assert [s.branch for s in starts].count("victim") == 1  # the re-run is not reported


FAIL_FAST = """
name: fail-fast
settings:
  lua: {timeout: 60}
  parallel:
    fail_fast: true
    max_parallel_branches: 2
nodes:
  - name: start
    run: return {}
  - name: spinner
    uses: test.barrier
    with: {dir: meet, parties: 2}
    goto: spin
  - name: spin
    run: while true do end
    goto: join
  - name: wait
    uses: test.barrier
    with: {dir: meet, parties: 2}
    goto: boom
  - name: boom
    run: error("boom")
    goto: join
  - name: join
    fan_in: true
    run: return {}
edges:
  - {from: start, to: [spinner, wait], parallel: true, fan_in: join}
"""


@pytest.mark.timeout(60)
def test_fail_fast_stops_the_running_branch_on_its_worker(tmp_path: Path, address: str) -> None:
    wf = write(tmp_path, FAIL_FAST)
    result = run_file(wf, strategy="dask", dask_address=address)
    assert result.status == "failed"
    assert result.error == "branch 'wait' failed: node 'boom': boom"
    by = {b["branch"]: b for b in result.branches}
    assert by["spinner"]["error_type"] == "Cancelled"
    assert (
        by["spinner"]["error"] == "branch 'spinner' was cancelled: branch 'wait' failed (fail_fast)"
    )
    # Both met at the barrier (its files name their processes), so the spinner was running;
    # its process was killed on its Dask worker before the run returned.
    met = {
        f.read_text(encoding="utf-8"): int(f.name.split("-")[0])
        for f in (tmp_path / "meet").iterdir()
    }
    assert set(met) == {"spinner", "wait"}
    assert not _alive(met["spinner"])


@pytest.mark.timeout(60)
def test_cancel_stops_running_branches_on_the_workers(tmp_path: Path, address: str) -> None:
    wf = write(tmp_path, SLEEPERS.replace("seconds: 0.5", "seconds: 30"))
    token = CancelToken()
    pids: dict[str, int] = {}

    def on_event(e: Event) -> None:
        if isinstance(e, BranchStarted) and e.worker is not None:
            pids[e.branch] = e.worker
            if len(pids) == 2:
                token.cancel()

    t0 = time.monotonic()
    result = run_file(wf, strategy="dask", dask_address=address, cancel=token, events=on_event)
    assert result.status == "cancelled"
    assert result.error == "the run was cancelled"
    assert {b["branch"]: b["error_type"] for b in result.branches} == {
        "victim": "Cancelled",
        "other": "Cancelled",
    }
    assert not any(_alive(p) for p in pids.values())
    assert time.monotonic() - t0 < 20.0  # not the 30 s of the sleeps
    again = run_file(write(tmp_path, QUICK, "quick.yaml"), strategy="dask", dask_address=address)
    assert again.ok, explain(again)


@pytest.mark.timeout(60)
def test_missing_action_on_the_workers_is_a_clear_error(tmp_path: Path, address: str) -> None:
    # Here the test actions are registered (the checker and the plan accept 'test.spin'); on
    # the workers they are not (the run asks for a registry without them): an action plugin
    # installed on this machine only.
    wf = write(
        tmp_path,
        """
        name: plugin
        nodes:
          - name: start
            run: return {}
          - name: a
            uses: test.spin
            with: {seconds: 0}
            goto: join
          - name: b
            run: return {}
            goto: join
          - name: join
            fan_in: true
            run: return {}
        edges:
          - {from: start, to: [a, b], parallel: true, fan_in: join}
        """,
    )
    result = run_workflow(
        wf.read_text(encoding="utf-8"),
        path=str(wf),
        options=RunOptions(strategy="dask", dask_address=address, test_actions=False),
        registry=default_registry(True),
    )
    assert result.status == "failed"
    assert result.error is not None
    assert re.fullmatch(
        r"Dask worker 'tcp://127\.0\.0\.1:\d+' does not provide action 'test\.spin'; "
        r"install the same action plugins on every worker",
        result.error,
    ), result.error
    assert result.error_diagnostic is not None and result.error_diagnostic.code == "TEA630"
    assert result.branches == []  # nothing ran
    assert result.steps == 0


@pytest.mark.timeout(60)
def test_other_tea_lsp_version_on_a_worker_is_a_clear_error(tmp_path: Path, address: str) -> None:
    import tea_lsp

    def set_version(v: str) -> None:
        tea_lsp.__version__ = v

    with Client(address, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        client.run(set_version, "0.0.1")
        try:
            result = run_file(write(tmp_path, QUICK), strategy="dask", dask_address=address)
        finally:
            client.run(set_version, tea_lsp.__version__)
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("Dask worker 'tcp://127.0.0.1:")
    assert result.error.endswith(
        f"' has tea-lsp '0.0.1', expected '{tea_lsp.__version__}' (the same version as here)"
    )


@pytest.mark.timeout(30)
def test_no_worker_and_no_scheduler_time_out_with_a_clear_error() -> None:
    with dask.config.set(DASK_CONFIG):
        empty = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=0, processes=True, host="127.0.0.1", dashboard_address=":0"
        )
    try:
        ex = DaskExecutor(str(empty.scheduler_address), worker_timeout=0.5)
        with pytest.raises(DaskSetupError) as info:
            ex.connect(set(), False)
        assert str(info.value) == (
            f"no Dask worker joined Dask scheduler '{empty.scheduler_address}' within 0.5 s"
        )
    finally:
        empty.close()
    nowhere = DaskExecutor("tcp://127.0.0.1:9", connect_timeout=0.5)
    with pytest.raises(DaskSetupError) as info:
        nowhere.connect(set(), False)
    assert str(info.value).startswith("cannot connect to Dask scheduler 'tcp://127.0.0.1:9': ")


@pytest.mark.timeout(60)
def test_daemonic_workers_are_refused_on_connect(tmp_path: Path) -> None:
    # Dask's default: daemonic workers, which cannot start tea-lsp's worker processes.
    with dask.config.set({"distributed.worker.daemon": True}):
        daemonic = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=50,
        )
        try:
            address = str(daemonic.scheduler_address)
            result = run_file(write(tmp_path, QUICK), strategy="dask", dask_address=address)
        finally:
            daemonic.close()
    assert result.status == "failed"
    assert result.error_diagnostic is not None and result.error_diagnostic.code == "TEA630"
    assert re.fullmatch(
        r"Dask worker 'tcp://127\.0\.0\.1:\d+' is a daemonic process, which cannot start "
        r"tea-lsp's worker processes; start the workers with "
        r"DASK_DISTRIBUTED__WORKER__DAEMON=False",
        result.error or "",
    ), result.error


@pytest.mark.timeout(90)
def test_a_local_cluster_for_the_run_leaves_no_process(tmp_path: Path) -> None:
    before = _children_tree()
    result = run_file(write(tmp_path, QUICK), strategy="dask")
    assert result.ok, explain(result)
    assert final_state(result) == {"n": 2}
    assert wait_until(lambda: _children_tree() <= before | _shared_pool_pids(), 10.0), (
        _children_tree() - before
    )


def _children_tree() -> set[int]:
    from tests.engine_support import descendants

    return {p for p, (_, _, st) in descendants().items() if st != "Z"}


def _shared_pool_pids() -> set[int]:
    """The shared pool's workers and its fork server (they stay warm between runs)."""
    from tea_lsp.engine import executors

    pool = executors._default_pool
    pids = set(pool.worker_pids()) if pool is not None else set()
    return pids | {_ppid(p) for p in pids if _alive(p)}


def test_no_dask_installed_is_refused_before_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    result = run_file(write(tmp_path, QUICK), strategy="dask")
    assert result.status == "refused"
    refusal = [d for d in result.diagnostics if d.code == "TEA607"]
    assert [d.message for d in refusal] == [
        "parallel strategy 'dask' needs Dask: install it with \"pip install 'tea-lsp[dask]'\" "
        "(dask[distributed])"
    ]


def test_scheduler_address_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "name: p\nsettings:\n  parallel:\n    dask: {address: 'tcp://scheduler.example:8786'}\n"
        "nodes:\n  - name: a\n    run: return {}\n"
    )
    wf = analyze(text, "p.yaml").workflows[0]
    assert wf is not None
    bare = analyze("name: p\nnodes:\n  - name: a\n    run: return {}\n", "p.yaml").workflows[0]
    assert bare is not None
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://10.0.0.9:8786")
    cli = RunOptions(strategy="dask", dask_address="tcp://127.0.0.1:8786")
    assert compute_limits(wf, cli).dask_address == "tcp://127.0.0.1:8786"
    assert (
        compute_limits(wf, RunOptions(strategy="dask")).dask_address
        == "tcp://scheduler.example:8786"
    )
    assert compute_limits(bare, RunOptions(strategy="dask")).dask_address == "tcp://10.0.0.9:8786"
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
    assert compute_limits(bare, RunOptions(strategy="dask")).dask_address is None


@pytest.mark.timeout(90)
def test_cli_strategy_dask_with_a_scheduler(tmp_path: Path, address: str) -> None:
    path = FIXTURES / "run" / "dynamic_items.yaml"
    expected = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "tea-lsp"),
            "run",
            str(path),
            "--strategy",
            "dask",
            "--scheduler",
            address,
        ],
        capture_output=True,
        text=True,
        timeout=80,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    state = json.loads(proc.stdout)
    state.pop("parallel_results")
    assert state == expected
