"""Sequential flow, golden run fixtures, runtime errors mapped to YAML, refusals, events."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tea_lsp.analysis import analyze
from tea_lsp.engine import CancelToken, ProcessPool, RunOptions, run_workflow
from tea_lsp.engine.events import Event
from tests.conftest import FIXTURES
from tests.engine_support import explain, final_state, process_pool, run_file, without_timing, write

RUN_CASES = sorted((FIXTURES / "run").glob("*.yaml"))


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    with process_pool() as p:
        yield p


@pytest.mark.parametrize("strategy", ["process", "thread"])
@pytest.mark.parametrize("path", RUN_CASES, ids=lambda p: p.stem)
def test_run_fixture(path: Path, strategy: str, pool: ProcessPool) -> None:
    expected = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    input_file = path.with_suffix(".input.json")
    data = json.loads(input_file.read_text(encoding="utf-8")) if input_file.exists() else None
    result = run_workflow(
        path.read_text(encoding="utf-8"),
        path=str(path),
        input=data,
        options=RunOptions(strategy=strategy),  # type: ignore[arg-type]
        pool=pool,
    )
    assert result.ok, explain(result)
    assert result.diagnostics == []
    assert final_state(result) == expected
    assert result.state is not None
    if result.branches:  # the last fan-in's results stay in the final state, as in TEA
        kept = result.state["parallel_results"]
        assert without_timing(kept) == without_timing(result.branches[-len(kept) :])
    else:
        assert "parallel_results" not in result.state


def test_run_fixtures_check_clean() -> None:
    for path in RUN_CASES:
        analysis = analyze(path.read_text(encoding="utf-8"), str(path))
        assert analysis.diagnostics == [], path


def _diag(result: object) -> tuple[str, int, int, str]:
    d = getattr(result, "error_diagnostic", None)
    assert d is not None
    return (d.code, d.span.start_line, d.span.start_col, d.message)


def test_lua_runtime_error_points_at_its_yaml_line(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: err
        nodes:
          - name: first
            run: return { a = 1 }
          - name: compute
            run: |
              local a = state.a
              local b = nil
              return { c = a + b }
          - name: never
            run: return { never = true }
        """,
    )
    result = run_file(wf)
    assert result.status == "failed" and result.state is None
    assert (
        result.error == "node 'compute': attempt to perform arithmetic on a nil value (local 'b')"
    )
    assert _diag(result) == (
        "TEA601",
        8,
        6,
        "node 'compute': attempt to perform arithmetic on a nil value (local 'b')",
    )
    assert result.error_diagnostic is not None
    assert result.error_diagnostic.span.end_col == 6 + len("return { c = a + b }")


def test_error_in_an_inline_run_points_into_the_line(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: inline
        nodes:
          - name: boom
            run: error("no way")
        """,
    )
    result = run_file(wf)
    assert _diag(result) == ("TEA601", 3, 9, "node 'boom': no way")


def test_main_flow_timeout_and_memory(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: limits
        settings:
          lua:
            timeout: 0.3
            max_memory: 4MB
        nodes:
          - name: spin
            run: |
              local n = 0
              while true do n = n + 1 end
        """,
    )
    result = run_file(wf)
    assert _diag(result) == (
        "TEA602",
        9,
        6,
        "node 'spin': lua code exceeded the time limit of 0.3 s",
    )
    hog = write(
        tmp_path,
        """
        name: hog
        settings:
          lua:
            max_memory: 4MB
        nodes:
          - name: hog
            run: |
              local s = string.rep("x", 64 * 1024 * 1024)
              return { n = #s }
        """,
        "hog.yaml",
    )
    result = run_file(hog)
    assert _diag(result) == (
        "TEA603",
        7,
        6,
        "node 'hog': lua code exceeded the memory limit of 4 MB",
    )


def test_max_steps_guard(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: cycle
        nodes:
          - name: ping
            run: return { n = (state.n or 0) + 1 }
            goto: pong
          - name: pong
            run: return {}
            goto: ping
        """,
    )
    result = run_file(wf, max_steps=7)
    assert result.status == "failed"
    assert _diag(result) == (
        "TEA606",
        5,
        10,
        "node 'pong': the run reached its limit of 7 steps; a cycle may never end (raise "
        "--max-steps to allow longer runs)",
    )
    assert result.steps == 7


def test_main_flow_nodes_share_one_vm(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: shared
        nodes:
          - name: define
            run: |
              counter = 10
              function bump(x) return x + 1 end
              return {}
          - name: use
            run: |
              counter = bump(counter)
              return { counter = counter }
          - name: again
            run: return { counter = bump(counter) }
        """,
    )
    result = run_file(wf)
    assert result.ok, explain(result)
    assert result.state == {"counter": 12}


def test_input_wins_over_initial_state(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: input
        initial_state: {a: 1, b: {deep: true}}
        nodes:
          - name: show
            run: return { seen = state.a .. "/" .. tostring(state.b.deep) }
        """,
    )
    result = run_file(wf, input={"a": 5, "b": {"deep": False}, "c": [1, 2]})
    assert result.state == {"a": 5, "b": {"deep": False}, "c": [1, 2], "seen": "5/false"}


def test_conditional_goto_without_a_match_fails_the_run(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: routes
        nodes:
          - name: decide
            run: return { go = false }
            goto:
              - if: state.go
                to: elsewhere
          - name: elsewhere
            run: return { reached = true }
        """,
    )
    result = run_file(wf)
    assert (result.status, result.error) == (
        "failed",
        "node 'decide': no rule of its 'goto' matched, so the run cannot go on; add a last rule "
        "without 'if' as the fallback",
    )
    d = result.error_diagnostic
    assert d is not None
    assert (d.code, d.span.start_line + 1, d.span.start_col + 1) == ("TEA611", 5, 5)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            """
            nodes:
              - name: pl
                language: prolog
                run: "x(1)."
            """,
            [
                (
                    4,
                    14,
                    "node 'pl': prolog code is not run by the tea-lsp runner; only Lua and "
                    "Python nodes run",
                )
            ],
        ),
        (
            """
            nodes:
              - name: ask
                run: return {}
                interrupt: before
            """,
            [
                (
                    5,
                    4,
                    "node 'ask': 'interrupt' pauses a run for a human; the tea-lsp runner does "
                    "not pause",
                )
            ],
        ),
        (
            """
            config:
              interrupt_before: [a]
            nodes:
              - name: a
                run: return {}
            """,
            [
                (
                    3,
                    2,
                    "'config.interrupt_before' pauses a run for a human; the tea-lsp runner "
                    "does not pause",
                )
            ],
        ),
        (
            """
            nodes:
              - name: fan
                type: dynamic_parallel
                items: "{{ state.xs }}"
                subgraph: ./per_item.yaml
                fan_in: join
              - name: join
                fan_in: true
                run: return {}
            """,
            [
                (
                    6,
                    4,
                    "node 'fan': a dynamic_parallel 'subgraph' is not run by the tea-lsp runner; "
                    "give the work as 'steps' or an 'action'",
                )
            ],
        ),
    ],
    ids=["python", "interrupt", "interrupt_before", "dynamic_parallel_subgraph"],
)
def test_unsupported_features_are_refused_before_running(
    tmp_path: Path, body: str, expected: list[tuple[int, int, str]]
) -> None:
    wf = write(tmp_path, "name: refused\nstate_schema: {xs: list}\n" + _dedent(body))
    result = run_file(wf)
    assert result.status == "refused", explain(result)
    assert result.state is None and result.steps == 0
    refusals = [
        (d.span.start_line, d.span.start_col, d.message)
        for d in result.diagnostics
        if d.code == "TEA607"
    ]
    assert refusals == expected


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).lstrip("\n")


def test_invalid_workflow_does_not_run(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: invalid
        nodes:
          - name: a
            run: return { x = 1
            goto: nowhere
        """,
    )
    result = run_file(wf)
    assert result.status == "invalid"
    assert result.error == "the workflow has 2 errors; nothing was run"
    assert sorted(d.code for d in result.diagnostics) == ["TEA201", "TEA301"]


def test_template_error_at_run_time(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: template
        state_schema: {n: int}
        nodes:
          - name: start
            run: return { n = 0 }
          - name: divide
            uses: json.stringify
            with:
              data: "{{ 10 // state.n }}"
        """,
    )
    result = run_file(wf)
    assert _diag(result) == (
        "TEA608",
        8,
        13,
        "node 'divide': template error: ZeroDivisionError: integer division or modulo by zero",
    )


def test_action_error_points_at_uses(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: action
        nodes:
          - name: load
            uses: file.read
            with: {path: ../outside.txt}
        """,
    )
    result = run_file(wf)
    assert _diag(result) == (
        "TEA605",
        3,
        10,
        "node 'load': action 'file.read': path '../outside.txt' escapes the workflow's folder",
    )


def test_events_of_a_sequential_run(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: events
        nodes:
          - name: a
            run: return { x = 1 }
          - name: b
            run: return { y = 2 }
        """,
    )
    events: list[Event] = []
    result = run_file(wf, events=events.append)
    assert result.ok
    summary = [(e.type, getattr(e, "node", None)) for e in events]
    assert summary == [
        ("run_started", None),
        ("node_started", "a"),
        ("node_finished", "a"),
        ("node_started", "b"),
        ("node_finished", "b"),
        ("run_finished", None),
    ]
    times = [e.t_ms for e in events]
    assert times == sorted(times)
    last = events[-1].to_json()
    assert (last["event"], last["ok"], last["status"], last["steps"]) == (
        "run_finished",
        True,
        "ok",
        2,
    )


def test_cancel_stops_the_main_flow(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: cancel
        nodes:
          - name: loop
            uses: time.sleep
            with: {seconds: 0.05}
            goto: loop
        """,
    )
    token = CancelToken()
    threading.Timer(0.2, token.cancel).start()
    result = run_file(wf, cancel=token, max_steps=100_000)
    assert result.status == "cancelled"
    assert result.error == "the run was cancelled"
    assert result.state is None
