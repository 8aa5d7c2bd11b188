"""The main flow runs in a worker process kept for the run: killable, bounded, isolated."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tea_lsp.engine import CancelToken, ProcessPool
from tests.engine_support import explain, process_pool, run_file, stray_processes, write


@pytest.fixture(autouse=True)
def _test_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEA_LSP_TEST_ACTIONS", "1")


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    with process_pool() as p:
        yield p


def _where(result: object) -> tuple[str, int, int, str]:
    d = getattr(result, "error_diagnostic", None)
    assert d is not None, explain(result)  # type: ignore[arg-type]
    return (d.code, d.span.start_line + 1, d.span.start_col + 1, d.message)


def test_main_flow_code_never_runs_in_this_process(tmp_path: Path, pool: ProcessPool) -> None:
    wf = write(
        tmp_path,
        """
        name: where
        nodes:
          - name: mark
            language: python
            run: |
              import os, json
              json.tea_lsp_marker = True
              return {"pid": os.getpid()}
          - name: lua
            run: |
              counter = (counter or 0) + 1
              return { n = counter }
          - name: again
            run: |
              counter = counter + 1
              return { n = counter }
        """,
    )
    result = run_file(wf, pool=pool)
    assert result.ok, explain(result)
    assert result.state is not None
    assert result.state["pid"] != os.getpid()
    assert result.state["n"] == 2  # main-flow Lua globals persist between nodes
    assert not hasattr(json, "tea_lsp_marker")
    # The worker that ran Python code is not reused: a later run starts clean.
    assert result.state["pid"] not in pool.worker_pids()
    assert stray_processes(pool) == set()


@pytest.mark.timeout(30)
def test_long_c_call_in_the_main_flow_is_killed(tmp_path: Path, pool: ProcessPool) -> None:
    wf = write(
        tmp_path,
        """
        name: stuck
        settings: {lua: {timeout: 0.3}, python: {timeout: 0.3}}
        nodes:
          - name: first
            run: return { ok = true }
          - name: blocked
            uses: test.spin
            with: {seconds: 60}
        """,
    )
    start = time.monotonic()
    result = run_file(wf, pool=pool, kill_grace=0.3)
    assert time.monotonic() - start < 10
    assert result.status == "failed"
    assert _where(result) == (
        "TEA602",
        6,
        11,
        "node 'blocked': ran past the time limit of 0.3 s; the worker did not return from a "
        "call and was killed",
    )
    assert stray_processes(pool) == set()


@pytest.mark.timeout(30)
def test_long_lua_pattern_in_the_main_flow_is_killed(tmp_path: Path, pool: ProcessPool) -> None:
    wf = write(
        tmp_path,
        """
        name: pattern
        settings: {lua: {timeout: 0.3}, python: {timeout: 0.3}}
        nodes:
          - name: pattern
            run: |
              local s = string.rep("a", 6000)
              return { found = s:find(".-.-.-.-b") }
        """,
    )
    result = run_file(wf, pool=pool, kill_grace=0.3)
    assert result.status == "failed"
    code, _line, _col, message = _where(result)
    assert code == "TEA602"
    assert message.startswith("node 'pattern': ")


@pytest.mark.timeout(30)
def test_a_crash_in_the_main_flow_fails_the_run(tmp_path: Path, pool: ProcessPool) -> None:
    wf = write(
        tmp_path,
        """
        name: crash
        nodes:
          - name: dies
            language: python
            run: |
              import os
              os._exit(3)
        """,
    )
    result = run_file(wf, pool=pool)
    assert result.status == "failed"
    assert _where(result) == (
        "TEA604",
        3,
        11,
        "node 'dies': the worker process exited with code 3",
    )
    assert stray_processes(pool) == set()
    ok = run_file(write(tmp_path, "nodes:\n  - name: a\n    run: return {a = 1}\n", "ok.yaml"))
    assert ok.ok, explain(ok)


@pytest.mark.timeout(30)
def test_cancel_stops_a_main_flow_loop_at_once(tmp_path: Path, pool: ProcessPool) -> None:
    wf = write(
        tmp_path,
        """
        name: loop
        nodes:
          - name: spin
            language: python
            run: |
              while True:
                  pass
        """,
    )
    token = CancelToken()
    timer = threading.Timer(0.5, token.cancel)
    timer.start()
    start = time.monotonic()
    result = run_file(wf, pool=pool, cancel=token)
    took = time.monotonic() - start
    timer.join()
    assert (result.status, result.error) == ("cancelled", "the run was cancelled")
    assert took < 5
    assert stray_processes(pool) == set()


@pytest.mark.timeout(60)
def test_memory_is_capped_per_worker(tmp_path: Path, pool: ProcessPool) -> None:
    wf = write(
        tmp_path,
        """
        name: big
        nodes:
          - name: grow
            language: python
            run: |
              blob = b"x" * (1024 * 2**20)
        """,
    )
    result = run_file(wf, pool=pool, worker_memory=256 * 2**20)
    assert result.status == "failed"
    assert _where(result) == (
        "TEA603",
        6,
        7,
        "node 'grow': python code ran out of memory (the worker's memory limit)",
    )


@pytest.mark.timeout(60)
def test_template_bomb_in_the_main_flow_fails_cleanly(tmp_path: Path, pool: ProcessPool) -> None:
    wf = write(
        tmp_path,
        """
        name: bomb
        nodes:
          - name: wide
            uses: json.stringify
            with:
              data:  "{{ 'x' | center(3000000000) }}"
        """,
    )
    result = run_file(wf, pool=pool, worker_memory=256 * 2**20)
    assert result.status == "failed", explain(result)
    # The template's own size limit stops it long before the worker's address-space cap.
    assert result.error == (
        "node 'wide': template error: the result of 'center' is too large: 3000000003 "
        "characters or items, the limit is 10000000"
    )
    assert stray_processes(pool) == set()


def _wide(n: int) -> str:
    names = [f"b{i}" for i in range(n)]
    lines = [
        "name: wide",
        f"settings: {{parallel: {{max_parallel_branches: {n}}}}}",
        "nodes:",
        "  - name: start",
        "    run: return { round = (state.round or 0) + 1 }",
    ]
    for b in names:
        lines += [
            f"  - name: {b}",
            "    uses: test.barrier",
            f"    with: {{dir: 'meet{{{{ state.round }}}}', parties: {n}, timeout: 20}}",
            "    goto: join",
        ]
    lines += [
        "  - name: join",
        "    fan_in: true",
        "    run: return {}",
        "    goto:",
        "      - if: state.round < 2",
        "        to: start",
        "      - to: __end__",
        "edges:",
        f"  - {{from: start, to: [{', '.join(names)}], parallel: true, fan_in: join}}",
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(120)
def test_a_wide_fan_out_keeps_its_workers_warm_then_trims(
    tmp_path: Path, pool: ProcessPool
) -> None:
    shared = pool
    from tea_lsp.engine.events import BranchStarted, Event

    events: list[Event] = []
    with process_pool(max_idle=2) as pool:
        result = run_file(write(tmp_path, _wide(6)), pool=pool, events=events.append)
        assert result.ok, explain(result)
        pids = [e.worker for e in events if isinstance(e, BranchStarted)]
        first, second = set(pids[:6]), set(pids[6:])
        assert len(first) == 6  # six branches met at the barrier: six workers
        assert second == first  # the second fan-out found them all warm
        # Trimmed after the run to the pool's idle cap: 2, plus one for a main flow.
        assert len(pool.worker_pids()) == 3
        assert stray_processes(pool, shared) == set()
