"""Parallel fan-out/fan-in: concurrency, isolation, results, timeouts, crashes, recovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tea_lsp.engine import ProcessPool
from tea_lsp.engine.actions.registry import default_registry
from tea_lsp.engine.events import BranchStarted, Event, NodeFinished, NodeStarted
from tests.engine_support import (
    explain,
    final_state,
    process_pool,
    run_file,
    stray_processes,
    without_timing,
    write,
)

STRATEGIES = ["process", "thread"]


@pytest.fixture(autouse=True)
def _test_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEA_LSP_TEST_ACTIONS", "1")


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    with process_pool() as p:
        yield p


BARRIER = """
name: barrier
settings:
  parallel:
    max_parallel_branches: {max_parallel}
nodes:
  - name: start
    run: return {{ started = true }}
  - name: a
    uses: test.barrier
    with: {{dir: {dir}, parties: 3, timeout: {timeout}}}
    output: a
    goto: join
  - name: b
    uses: test.barrier
    with: {{dir: {dir}, parties: 3, timeout: {timeout}}}
    output: b
    goto: join
  - name: c
    uses: test.barrier
    with: {{dir: {dir}, parties: 3, timeout: {timeout}}}
    output: c
    goto: join
  - name: join
    fan_in: true
    run: |
      return {{ n = #state.parallel_results }}
edges:
  - {{from: start, to: [a, b, c], parallel: true, fan_in: join}}
"""


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_branches_run_concurrently(tmp_path: Path, pool: ProcessPool, strategy: str) -> None:
    # A barrier that needs all three branches at once can only be passed if they overlap.
    wf = write(tmp_path, BARRIER.format(max_parallel=3, dir="meet", timeout=20))
    events: list[Event] = []
    result = run_file(wf, pool=pool, strategy=strategy, events=events.append)
    assert result.ok, explain(result)
    assert [(r["branch"], r["success"], r["error"]) for r in result.branches] == [
        ("a", True, None),
        ("b", True, None),
        ("c", True, None),
    ]
    assert [r["state"][r["branch"]] for r in result.branches] == [3, 3, 3]
    starts = [e.t_ms for e in events if isinstance(e, NodeStarted) and e.branch]
    ends = [e.t_ms for e in events if isinstance(e, NodeFinished) and e.branch]
    assert len(starts) == len(ends) == 3
    assert max(starts) < min(ends)  # every branch started before any finished


BOUNDED = """
name: bounded
settings:
  parallel:
    max_parallel_branches: 1
nodes:
  - name: start
    run: return {}
  - name: a
    uses: test.barrier
    with: {dir: meet, parties: 2, timeout: 0.5}
    goto: join
  - name: b
    uses: test.barrier
    with: {dir: meet, parties: 2, timeout: 0.5}
    goto: join
  - name: join
    fan_in: true
    run: return {}
edges:
  - {from: start, to: [a, b], parallel: true, fan_in: join}
"""


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_max_parallel_branches_bounds_concurrency(
    tmp_path: Path, pool: ProcessPool, strategy: str
) -> None:
    # One at a time: 'a' waits alone for a second party and gives up; 'b' then starts and
    # finds the mark 'a' left behind.
    result = run_file(write(tmp_path, BOUNDED), pool=pool, strategy=strategy)
    assert result.ok, explain(result)
    assert [(r["branch"], r["success"], r["error"]) for r in result.branches] == [
        ("a", False, "node 'a': action 'test.barrier': barrier 'meet': 1 of 2 arrived"),
        ("b", True, None),
    ]


ISOLATION = """
name: isolation
nodes:
  - name: start
    run: |
      main_only = "main"
      return { started = true }
  - name: define
    run: |
      local fresh = rawget(_G, "shared") == nil and rawget(_G, "main_only") == nil
      shared = "from a"
      function helper() return "a" end
      string.shout = function(s) return s .. "!" end
      setmetatable(_G, { __index = function(_, k) return "meta:" .. k end })
      return { fresh_a = fresh, a_sees_own = helper() .. ("x"):shout() }
  - name: a_wait
    uses: test.barrier
    with: {dir: iso, parties: 2, timeout: 20}
  - name: b_wait
    uses: test.barrier
    with: {dir: iso, parties: 2, timeout: 20}
  - name: inspect
    run: |
      return {
        fresh_b = rawget(_G, "main_only") == nil,
        shared = rawget(_G, "shared") == nil,
        helper = rawget(_G, "helper") == nil,
        shout = string.shout == nil and ("x").shout == nil,
        meta = getmetatable(_G) == nil,
      }
  - name: join
    fan_in: true
    run: |
      return {
        a = state.parallel_results[1].state.a_sees_own,
        fresh_a = state.parallel_results[1].state.fresh_a,
        b = state.parallel_results[2].state,
        main_shared = rawget(_G, "shared") == nil,
        main_helper = rawget(_G, "helper") == nil,
        main_shout = string.shout == nil,
        main_meta = getmetatable(_G) == nil,
        main_only = main_only,
      }
edges:
  - {from: start, to: [define, b_wait], parallel: true, fan_in: join}
  - {from: define, to: a_wait}
  - {from: a_wait, to: join}
  - {from: b_wait, to: inspect}
  - {from: inspect, to: join}
"""


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_branch_has_its_own_vm(tmp_path: Path, pool: ProcessPool, strategy: str) -> None:
    wf = write(tmp_path, ISOLATION)
    expected_b = {
        "started": True,
        "fresh_b": True,
        "shared": True,
        "helper": True,
        "shout": True,
        "meta": True,
        "result": 2,  # the barrier action's value (no 'output' key given)
    }
    for attempt in range(2):  # the second run reuses the same warm workers
        for f in (tmp_path / "iso").glob("*"):
            f.unlink()
        result = run_file(wf, pool=pool, strategy=strategy, max_parallel_branches=2)
        assert result.ok, (attempt, result.error)
        assert result.state is not None
        got = {k: v for k, v in result.state.items() if k not in ("started", "parallel_results")}
        assert got == {
            "a": "ax!",
            "fresh_a": True,
            "b": expected_b,
            "main_shared": True,
            "main_helper": True,
            "main_shout": True,
            "main_meta": True,
            "main_only": "main",
        }


FAN_IN = """
name: fan-in
initial_state: {n: 3}
nodes:
  - name: start
    run: return { n = state.n + 1 }
  - name: ok1
    run: return { one = state.n * 10 }
  - name: ok1b
    run: return { one_b = state.one + 1 }
  - name: bad
    run: |
      local x = 1
      error("bad input " .. x)
  - name: ok2
    run: return { two = "b" }
  - name: join
    fan_in: true
    run: |
      local copy = {}
      for i, r in ipairs(state.parallel_results) do
        copy[i] = { branch = r.branch, success = r.success, error_type = r.error_type or "-",
                    has_timing = type(r.timing_ms) == "number" }
      end
      return { seen = copy, n = state.n }
edges:
  - {from: start, parallel: [ok1, bad, ok2]}
  - {from: ok1, to: ok1b}
  - {from: ok1b, to: join}
  - {from: bad, to: join}
  - {from: ok2, to: join}
"""


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fan_in_receives_every_result(tmp_path: Path, pool: ProcessPool, strategy: str) -> None:
    wf = write(tmp_path, FAN_IN)
    result = run_file(wf, pool=pool, strategy=strategy)
    assert result.ok, explain(result)
    assert without_timing(result.branches) == [
        {
            "branch": "ok1",
            "success": True,
            "state": {"n": 4, "one": 40, "one_b": 41},
            "error": None,
            "error_type": None,
            "timeout": False,
        },
        {
            "branch": "bad",
            "success": False,
            "state": None,
            "error": "node 'bad': bad input 1",
            "error_type": "LuaError",
            "timeout": False,
        },
        {
            "branch": "ok2",
            "success": True,
            "state": {"n": 4, "two": "b"},
            "error": None,
            "error_type": None,
            "timeout": False,
        },
    ]
    assert final_state(result) == {
        "n": 4,
        "seen": [
            {"branch": "ok1", "success": True, "error_type": "-", "has_timing": True},
            {"branch": "bad", "success": False, "error_type": "LuaError", "has_timing": True},
            {"branch": "ok2", "success": True, "error_type": "-", "has_timing": True},
        ],
    }
    # The failed branch is a warning at its failing Lua line (0-based 12: `error(...)`).
    [warn] = result.branch_diagnostics
    assert (warn.code, warn.span.start_line, warn.span.start_col) == ("TEA601", 12, 6)
    assert warn.message == "branch 'bad' failed: node 'bad': bad input 1"


TIMEOUTS = """
name: timeouts
settings:
  lua:
    max_memory: 4MB
  parallel:
    lua_timeout: 0.4
    max_parallel_branches: 5
nodes:
  - name: start
    run: return {}
  - name: spin
    run: |
      while true do end
    goto: join
  - name: spin_coroutine
    run: |
      local co = coroutine.wrap(function()
        while true do end
      end)
      co()
    goto: join
  - name: hog
    run: |
      local t = {}
      for i = 1, 1e8 do t[i] = i end
    goto: join
  - name: fine
    run: return { fine = true }
    goto: join
  - name: fine_too
    uses: time.sleep
    with: {seconds: 0.01}
    goto: join
  - name: join
    fan_in: true
    run: return {}
edges:
  - {from: start, to: [spin, spin_coroutine, hog, fine, fine_too], parallel: true, fan_in: join}
"""


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_timeouts_and_memory_are_per_branch(
    tmp_path: Path, pool: ProcessPool, strategy: str
) -> None:
    wf = write(tmp_path, TIMEOUTS)
    result = run_file(wf, pool=pool, strategy=strategy)
    assert result.ok, explain(result)
    got = [(r["branch"], r["success"], r["error_type"], r["timeout"]) for r in result.branches]
    assert got == [
        ("spin", False, "TimeoutError", True),
        ("spin_coroutine", False, "TimeoutError", True),
        ("hog", False, "MemoryError", False),
        ("fine", True, None, False),
        ("fine_too", True, None, False),
    ]
    errors = [r["error"] for r in result.branches[:3]]
    assert errors == [
        "node 'spin': lua code ran past the branch timeout of 0.4 s",
        "node 'spin_coroutine': lua code ran past the branch timeout of 0.4 s",
        "node 'hog': lua code exceeded the memory limit of 4 MB",
    ]
    codes = [(d.code, d.span.start_line) for d in result.branch_diagnostics]
    # Timeouts point at the running line (for a coroutine: the line running inside it); a memory
    # error has no line of its own and points at the snippet's first line.
    assert codes == [("TEA602", 12), ("TEA602", 17), ("TEA603", 23)]


C_CALL = """
name: c-call
settings:
  parallel:
    lua_timeout: 0.3
nodes:
  - name: start
    run: return {}
  - name: pattern
    run: |
      local s = string.rep("a", 4000)
      return { found = s:find(".-.-.-.-b") }
    goto: join
  - name: blocked
    uses: test.spin
    with: {seconds: 30}
    goto: join
  - name: fine
    run: return { fine = true }
    goto: join
  - name: join
    fan_in: true
    run: return { done = true }
edges:
  - {from: start, to: [pattern, blocked, fine], parallel: true, fan_in: join}
"""


def test_long_c_call_kills_the_worker_and_the_pool_recovers(
    tmp_path: Path, pool: ProcessPool
) -> None:
    shared = pool
    wf = write(tmp_path, C_CALL)
    with process_pool() as pool:
        result = run_file(wf, pool=pool, kill_grace=0.3)
        assert result.ok, explain(result)
        got = [(r["branch"], r["success"], r["error_type"], r["timeout"]) for r in result.branches]
        assert got == [
            ("pattern", False, "TimeoutError", True),
            ("blocked", False, "TimeoutError", True),
            ("fine", True, None, False),
        ]
        assert result.branches[0]["error"] == (
            "node 'pattern': ran past the branch timeout of 0.3 s; the worker did not return "
            "from a call and was killed"
        )
        assert stray_processes(pool, shared) == set()
        again = run_file(write(tmp_path, FAN_IN, "again.yaml"), pool=pool)
        assert again.ok and [r["success"] for r in again.branches] == [True, False, True]
        assert stray_processes(pool, shared) == set()
    assert stray_processes(shared) == set()


CRASH = """
name: crash
nodes:
  - name: start
    run: return {}
  - name: boom
    uses: test.crash
    goto: join
  - name: fine
    run: return { fine = true }
  - name: fine_after
    uses: time.sleep
    with: {seconds: 0.05}
  - name: join
    fan_in: true
    run: |
      local r = state.parallel_results
      return { crashed = r[1].error_type, fine = r[2].state.fine }
edges:
  - {from: start, to: [boom, fine], parallel: true, fan_in: join}
  - {from: fine, to: fine_after}
  - {from: fine_after, to: join}
"""


def test_worker_crash_fails_only_its_branch(tmp_path: Path, pool: ProcessPool) -> None:
    shared = pool
    wf = write(tmp_path, CRASH)
    with process_pool() as pool:
        first = run_file(wf, pool=pool)
        assert first.ok, first.error
        assert final_state(first) == {"crashed": "WorkerCrash", "fine": True}
        assert without_timing(first.branches)[0] == {
            "branch": "boom",
            "success": False,
            "state": None,
            "error": "node 'boom': the worker process was killed by SIGKILL",
            "error_type": "WorkerCrash",
            "timeout": False,
        }
        [warn] = first.branch_diagnostics
        assert (warn.code, warn.span.start_line, warn.span.start_col) == ("TEA604", 4, 10)
        assert stray_processes(pool, shared) == set()
        second = run_file(wf, pool=pool)  # the pool replaced the dead worker
        assert final_state(second) == {"crashed": "WorkerCrash", "fine": True}
        ok = run_file(write(tmp_path, FAN_IN, "ok.yaml"), pool=pool)
        assert ok.ok
        assert stray_processes(pool, shared) == set()


FAIL_FAST = """
name: fail-fast
settings:
  parallel:
    fail_fast: true
    max_parallel_branches: 2
nodes:
  - name: start
    run: return {}
  - name: slow
    uses: time.sleep
    with: {seconds: 30}
    goto: join
  - name: bad
    run: |
      return { x = nil .. "x" }
    goto: join
  - name: never_started
    run: return {}
    goto: join
  - name: join
    fan_in: true
    run: return {}
edges:
  - {from: start, to: [slow, bad, never_started], parallel: true, fan_in: join}
"""


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fail_fast_cancels_the_rest(tmp_path: Path, pool: ProcessPool, strategy: str) -> None:
    wf = write(tmp_path, FAIL_FAST)
    result = run_file(wf, pool=pool, strategy=strategy)
    assert result.status == "failed"
    assert result.error == ("branch 'bad' failed: node 'bad': attempt to concatenate a nil value")
    assert result.error_diagnostic is not None
    d = result.error_diagnostic
    assert (d.code, d.span.start_line, d.span.start_col) == ("TEA601", 14, 6)
    assert [(r["branch"], r["error_type"]) for r in result.branches] == [
        ("slow", "Cancelled"),
        ("bad", "LuaError"),
        ("never_started", "Cancelled"),
    ]
    assert result.branches[0]["error"] == (
        "branch 'slow' was cancelled: branch 'bad' failed (fail_fast)"
    )
    assert stray_processes(pool) == set()


FAN_OUT_TIMEOUT = """
name: fan-out-timeout
settings:
  parallel:
    timeout: 0.4
    max_parallel_branches: 1
nodes:
  - name: start
    run: return {}
  - name: slow
    uses: time.sleep
    with: {seconds: 30}
    goto: join
  - name: later
    run: return { later = true }
    goto: join
  - name: join
    fan_in: true
    run: |
      return { timeouts = { state.parallel_results[1].timeout,
                            state.parallel_results[2].timeout } }
edges:
  - {from: start, to: [slow, later], parallel: true, fan_in: join}
"""


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fan_out_timeout(tmp_path: Path, pool: ProcessPool, strategy: str) -> None:
    wf = write(tmp_path, FAN_OUT_TIMEOUT)
    result = run_file(wf, pool=pool, strategy=strategy)
    assert result.ok, explain(result)
    assert final_state(result) == {"timeouts": [True, True]}
    assert [(r["branch"], r["error"]) for r in result.branches] == [
        ("slow", "node 'slow': action 'time.sleep': sleeping 30 s would pass the deadline"),
        ("later", "branch 'later': the fan-out timeout passed before the branch started"),
    ]


TEMPLATES = """
name: templates
nodes:
  - name: start
    run: return {{ base = "x" }}
{branches}
  - name: join
    fan_in: true
    run:
      type: expression
      value: "{{{{ parallel_results | map(attribute='state.out') | list }}}}"
      output_key: outs
edges:
  - {{from: start, to: [{names}], parallel: true, fan_in: join}}
{edges}
"""

BRANCH = """
  - name: b{i}
    run: return {{ k = {i}, word = string.rep("w", {i}) }}
  - name: b{i}_render
    uses: json.stringify
    with:
      data:
        k: "{{{{ state.k * 100 }}}}"
        text: "{{{{ state.base }}}}-{{{{ state.word | upper }}}}"
        items: "{{{{ range(state.k) | list }}}}"
      sort_keys: true
    output: out
    goto: join
"""


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_templates_render_safely_in_parallel_branches(
    tmp_path: Path, pool: ProcessPool, strategy: str
) -> None:
    n = 6
    wf = write(
        tmp_path,
        TEMPLATES.format(
            branches="".join(BRANCH.format(i=i) for i in range(1, n + 1)),
            names=", ".join(f"b{i}" for i in range(1, n + 1)),
            edges="\n".join(f"  - {{from: b{i}, to: b{i}_render}}" for i in range(1, n + 1)),
        ),
    )
    result = run_file(wf, pool=pool, strategy=strategy, max_parallel_branches=n)
    assert result.ok, explain(result)
    assert result.state is not None
    expected = [
        '{"items": [' + ", ".join(str(j) for j in range(i)) + f'], "k": {i * 100}, '
        f'"text": "x-{"W" * i}"}}'
        for i in range(1, n + 1)
    ]
    assert [out["text"] for out in result.state["outs"]] == expected


REGISTRY = """
name: registry
nodes:
  - name: start
    run: return {}
  - name: one
    uses: test.registry
    output: one
    goto: join
  - name: two
    uses: test.registry
    output: two
    goto: join
  - name: join
    fan_in: true
    run: |
      local r = state.parallel_results
      return { one = r[1].state.one, two = r[2].state.two }
edges:
  - {from: start, to: [one, two], parallel: true, fan_in: join}
"""


def test_action_registry_is_the_same_in_every_worker(tmp_path: Path, pool: ProcessPool) -> None:
    import os

    result = run_file(write(tmp_path, REGISTRY), pool=pool, max_parallel_branches=2)
    assert result.ok, explain(result)
    assert result.state is not None
    parent = default_registry(True).names()
    one: dict[str, Any] = result.state["one"]
    two: dict[str, Any] = result.state["two"]
    assert one["names"] == two["names"] == parent
    assert os.getpid() not in (one["pid"], two["pid"])  # they ran in worker processes
    assert one["pid"] in pool.worker_pids() and two["pid"] in pool.worker_pids()


def test_branch_events_carry_worker_pids(tmp_path: Path, pool: ProcessPool) -> None:
    events: list[Event] = []
    result = run_file(write(tmp_path, FAN_IN), pool=pool, events=events.append)
    assert result.ok
    started = [e for e in events if isinstance(e, BranchStarted)]
    assert sorted(e.branch for e in started) == ["bad", "ok1", "ok2"]
    assert all(e.worker in pool.worker_pids() for e in started)
