"""Python nodes: TEA's contract, errors at the YAML line, isolation, limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tea_lsp.engine import ProcessPool
from tea_lsp.engine.events import Event
from tests.engine_support import explain, final_state, process_pool, run_file, write

STRATEGIES = ["process", "thread"]


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    with process_pool() as p:
        yield p


def _where(result: object) -> tuple[str, int, int, str]:
    d = getattr(result, "error_diagnostic", None)
    assert d is not None, explain(result)  # type: ignore[arg-type]
    return (d.code, d.span.start_line + 1, d.span.start_col + 1, d.message)


CONTRACT = """
name: contract
variables: {factor: 3}
nodes:
  - name: locals
    language: python
    run: |
      import math
      doubled = state["x"] * 2
      _private = 1
      def helper():
          return 1
      root = math.isqrt(16)
  - name: returns
    language: python
    run: |
      total = state["doubled"] + variables["factor"]
      return {"total": total}
  - name: args
    language: python
    with:
      greeting: "hello {{ state.x }}"
    run: |
      return {"said": greeting, "parsed": json.loads('[1, 2]')}
  - name: scalar
    language: python
    run: return state["total"] * 10
  - name: nothing
    language: python
    run: return None
  - name: action
    language: python
    run: |
      text = actions["json.stringify"](state=state, data={"a": 1})
      return {"text": text}
  - name: expr
    run:
      type: expression
      value: 'state["total"] + state["parsed"][1]'
      output_key: expr
"""


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_python_contract(tmp_path: Path, pool: ProcessPool, strategy: str) -> None:
    result = run_file(write(tmp_path, CONTRACT), pool=pool, strategy=strategy, input={"x": 5})
    assert result.ok, explain(result)
    assert result.state == {
        "x": 5,
        "doubled": 10,
        "root": 4,
        "total": 13,
        "said": "hello 5",
        "parsed": [1, 2],
        "result": 130,
        "text": {"text": '{"a": 1}', "success": True},
        "expr": 15,
    }


def test_python_error_at_the_yaml_line_with_traceback(tmp_path: Path, pool: ProcessPool) -> None:
    wf = write(
        tmp_path,
        """
        name: err
        nodes:
          - name: divide
            language: python
            run: |
              def ratio(v):
                  return 10 / v
              x = ratio(state.get("zero", 0))
        """,
    )
    events: list[Event] = []
    result = run_file(wf, pool=pool, events=events.append)
    assert result.status == "failed"
    assert _where(result) == ("TEA609", 7, 11, "node 'divide': ZeroDivisionError: division by zero")
    d = result.error_diagnostic
    assert d is not None
    assert [(r.span.start_line + 1, r.span.start_col + 1, r.message) for r in d.related] == [
        (8, 7, 'in <node>: x = ratio(state.get("zero", 0))'),
        (7, 11, "in ratio: return 10 / v"),
    ]
    finished = [e.to_json() for e in events if e.type == "node_finished"]
    assert finished[-1]["traceback"] == [
        {"line": 8, "column": 7, "function": "<node>", "text": 'x = ratio(state.get("zero", 0))'},
        {"line": 7, "column": 11, "function": "ratio", "text": "return 10 / v"},
    ]


def test_python_syntax_error_position(tmp_path: Path, pool: ProcessPool) -> None:
    wf = write(
        tmp_path,
        """
        name: err
        nodes:
          - name: broken
            language: python
            run: |
              x = 1
              y = (
        """,
    )
    result = run_file(wf, pool=pool)
    # the checker may or may not catch this first; either way nothing half-runs
    assert result.status in ("failed", "invalid"), explain(result)
    if result.status == "failed":
        code, line, _col, message = _where(result)
        assert (code, line) == ("TEA609", 7)
        assert message.startswith("node 'broken': SyntaxError: ")


def test_a_non_json_value_names_the_node_and_key(tmp_path: Path, pool: ProcessPool) -> None:
    wf = write(
        tmp_path,
        """
        name: sets
        nodes:
          - name: tags
            language: python
            run: |
              return {"tags": {"a": [1, {"b"}]}}
        """,
    )
    result = run_file(wf, pool=pool)
    assert result.status == "failed"
    assert _where(result) == (
        "TEA610",
        5,
        10,
        "node 'tags': state key 'tags' holds a 'set' value (at 'tags.a[1]'); state values must "
        "be JSON-like: null, booleans, numbers, strings, lists and mappings with string keys",
    )


PARALLEL = """
name: isolation
nodes:
  - name: start
    language: python
    run: |
      import json as _j
      return {"seed": 1}
  - name: left
    language: python
    run: |
      import json
      json.tea_marker = "left"
      secret = 42
      return {"mine": "left"}
  - name: left_2
    run: return { lua_after_python = state.mine }
    goto: join
  - name: right
    language: python
    run: |
      import json
      return {"seen": getattr(json, "tea_marker", None), "secret": "secret" in dir()}
    goto: join
  - name: join
    language: python
    run: |
      import json
      results = sorted(
          (r["branch"], r["state"]) for r in parallel_results if r["success"]
      )
      return {"results": results, "main_sees": getattr(json, "tea_marker", None)}
edges:
  - {from: start, to: [left, right], parallel: true, fan_in: join}
"""


def test_branches_do_not_share_python_modules_or_names(tmp_path: Path, pool: ProcessPool) -> None:
    result = run_file(write(tmp_path, PARALLEL), pool=pool, max_parallel_branches=1)
    assert result.ok, explain(result)
    state = final_state(result)
    assert state is not None
    assert state["main_sees"] is None
    assert state["results"] == [
        ["left", {"seed": 1, "mine": "left", "lua_after_python": "left"}],
        ["right", {"seed": 1, "seen": None, "secret": False}],
    ]


@pytest.mark.timeout(30)
def test_endless_python_loop_times_out_in_the_main_flow(tmp_path: Path, pool: ProcessPool) -> None:
    wf = write(
        tmp_path,
        """
        name: spin
        settings: {python: {timeout: 0.5}}
        nodes:
          - name: spin
            language: python
            run: |
              n = 0
              while True:
                  n += 1
        """,
    )
    result = run_file(wf, pool=pool)
    assert result.status == "failed"
    code, line, _col, message = _where(result)
    assert (code, message) == (
        "TEA602",
        "node 'spin': python code exceeded the time limit of 0.5 s",
    )
    assert line in (7, 8)


@pytest.mark.timeout(30)
def test_endless_python_loop_in_a_branch_while_siblings_finish(
    tmp_path: Path, pool: ProcessPool
) -> None:
    wf = write(
        tmp_path,
        """
        name: spin
        settings: {parallel: {lua_timeout: 0.5}}
        nodes:
          - name: start
            run: return {}
          - name: spin
            language: python
            run: |
              while True:
                  pass
            goto: join
          - name: fine
            language: python
            run: ok = True
            goto: join
          - name: join
            language: python
            run: |
              return {"outcome": [
                  (r["branch"], r["success"], r["error_type"]) for r in parallel_results
              ]}
        edges:
          - {from: start, to: [spin, fine], parallel: true, fan_in: join}
        """,
    )
    result = run_file(wf, pool=pool)
    assert result.ok, explain(result)
    state = final_state(result)
    assert state == {"outcome": [["spin", False, "TimeoutError"], ["fine", True, None]]}
    assert (
        result.branches[0]["error"]
        == "node 'spin': python code ran past the branch timeout of 0.5 s"
    )


@pytest.mark.timeout(30)
def test_os_exit_in_a_branch_is_a_worker_crash(tmp_path: Path, pool: ProcessPool) -> None:
    wf = write(
        tmp_path,
        """
        name: crash
        nodes:
          - name: start
            run: return {}
          - name: dies
            language: python
            run: |
              import os
              os._exit(1)
            goto: join
          - name: lives
            language: python
            run: ok = True
            goto: join
          - name: join
            language: python
            run: |
              return {"outcome": [(r["branch"], r["error_type"]) for r in parallel_results]}
        edges:
          - {from: start, to: [dies, lives], parallel: true, fan_in: join}
        """,
    )
    result = run_file(wf, pool=pool)
    assert result.ok, explain(result)
    assert final_state(result) == {"outcome": [["dies", "WorkerCrash"], ["lives", None]]}
    assert result.branches[0]["error"] == "node 'dies': the worker process exited with code 1"
    again = run_file(wf, pool=pool)  # the pool recovered
    assert again.ok, explain(again)


def test_prolog_stays_refused(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: pl
        nodes:
          - name: facts
            run:
              type: prolog
              code: "x(1)."
        """,
    )
    result = run_file(wf)
    assert result.status == "refused"
    [d] = [d for d in result.diagnostics if d.code == "TEA607"]
    assert d.message == (
        "node 'facts': prolog code is not run by the tea-lsp runner; only Lua and Python nodes run"
    )


# ---- TEA semantics (issue 9)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_lua_sequence_becomes_result(tmp_path: Path, pool: ProcessPool, strategy: str) -> None:
    wf = write(
        tmp_path,
        """
        name: seq
        nodes:
          - name: list
            language: lua
            run: return {"a", "b", 3}
        """,
    )
    result = run_file(wf, pool=pool, strategy=strategy)
    assert result.ok, explain(result)
    assert result.state == {"result": ["a", "b", 3]}


def test_parallel_results_stay_in_the_final_state(tmp_path: Path, pool: ProcessPool) -> None:
    wf = write(
        tmp_path,
        """
        name: keep
        nodes:
          - name: start
            run: return {}
          - name: a
            run: return { v = 1 }
            goto: join
          - name: b
            run: return { v = 2 }
            goto: join
          - name: join
            fan_in: true
            run: "return { n = #state.parallel_results }"
        edges:
          - {from: start, to: [a, b], parallel: true, fan_in: join}
        """,
    )
    result = run_file(wf, pool=pool)
    assert result.ok, explain(result)
    assert result.state is not None
    kept = result.state["parallel_results"]
    assert [(r["branch"], r["success"], r["state"]) for r in kept] == [
        ("a", True, {"v": 1}),
        ("b", True, {"v": 2}),
    ]
    assert result.state["n"] == 2
    json.dumps(result.state)


def test_checking_never_executes_code(tmp_path: Path) -> None:
    from tea_lsp.analysis import analyze

    marker = tmp_path / "ran.txt"
    text = f"""
name: quiet
nodes:
  - name: py
    language: python
    run: |
      open({str(marker)!r}, "w").write("python")
  - name: expr
    run:
      type: expression
      value: >-
        open({str(marker)!r}, "w").write("expression")
  - name: unmarked
    run: |
      import pathlib
      pathlib.Path({str(marker)!r}).write_text("unmarked")
"""
    analysis = analyze(text, str(tmp_path / "wf.yaml"))
    assert analysis.workflow is not None
    assert not marker.exists()
