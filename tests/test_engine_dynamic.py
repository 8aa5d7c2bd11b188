"""``type: dynamic_parallel``: one branch per item, joined at the node's ``fan_in``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tea_lsp.engine import ProcessPool
from tea_lsp.engine.events import BranchStarted, Event, FanOutStarted
from tests.engine_support import (
    explain,
    final_state,
    process_pool,
    run_file,
    without_timing,
    write,
)

STRATEGIES = ["process", "thread"]


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    with process_pool() as p:
        yield p


def _diag(result: object) -> tuple[str, int, int, str]:
    d = getattr(result, "error_diagnostic", None)
    assert d is not None
    return (d.code, d.span.start_line, d.span.start_col, d.message)


LUA_STEPS = """
name: dp-lua
initial_state:
  numbers: [2, 3, 4]
  base: 100
nodes:
  - name: start
    run: |
      helper = "main flow global"
      return { started = true }
  - name: squares
    type: dynamic_parallel
    items: "{{ state.numbers }}"
    fan_in: sum
    steps:
      - name: square
        run: |
          -- every item has a fresh VM: the main flow's global is not here
          assert(helper == nil, "saw the main flow's global")
          assert(mine == nil, "saw another item's global")
          mine = state.item
          return { square = state.item * state.item }
      - name: shift
        run: |
          return { shifted = state.square + state.base + state.index }
  - name: sum
    fan_in: true
    run: |
      local total = 0
      for _, r in ipairs(state.parallel_results) do
        total = total + r.state.shifted
      end
      return { total = total, count = #state.parallel_results }
  - name: after
    run: |
      return { after = true }
"""


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_lua_steps_per_item_joined_at_the_fan_in(
    tmp_path: Path, pool: ProcessPool, strategy: str
) -> None:
    events: list[Event] = []
    result = run_file(
        write(tmp_path, LUA_STEPS), pool=pool, strategy=strategy, events=events.append
    )
    assert result.ok, explain(result)
    assert result.diagnostics == []
    assert final_state(result) == {
        "numbers": [2, 3, 4],
        "base": 100,
        "started": True,
        "total": 4 + 100 + 0 + 9 + 100 + 1 + 16 + 100 + 2,
        "count": 3,
        "after": True,
    }
    common = {"numbers": [2, 3, 4], "base": 100, "started": True}
    assert without_timing(result.branches) == [
        {
            "branch": f"squares[{k}]",
            "success": True,
            "state": {
                **common,
                "item": n,
                "index": k,
                "square": n * n,
                "shifted": n * n + 100 + k,
            },
            "error": None,
            "error_type": None,
            "timeout": False,
        }
        for k, n in enumerate([2, 3, 4])
    ]
    [fan_out] = [e for e in events if isinstance(e, FanOutStarted)]
    assert (fan_out.source, fan_out.fan_in, fan_out.branches) == (
        "squares",
        "sum",
        ("squares[0]", "squares[1]", "squares[2]"),
    )
    started = [e for e in events if isinstance(e, BranchStarted)]
    assert sorted(e.branch for e in started) == ["squares[0]", "squares[1]", "squares[2]"]
    if strategy == "process":
        assert all(e.worker is not None for e in started)


ACTION = """
name: dp-action
initial_state:
  records:
    - {id: 1, tags: [a]}
    - {id: 2, tags: []}
settings:
  parallel:
    max_parallel_branches: 1
nodes:
  - name: encode
    type: dynamic_parallel
    items: "state.records"
    item_var: record
    index_var: position
    max_concurrency: 2
    fan_in: collect
    action: json.stringify  # tea-lsp: ignore[TEA108]
    with:
      data: "{{ {'n': position, 'record': record} }}"
      sort_keys: true
    output: text
  - name: collect
    fan_in: true
    run:
      type: expression
      value: "{{ parallel_results | map(attribute='state.text.text') | list }}"
      output_key: texts
"""


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_action_per_item(tmp_path: Path, pool: ProcessPool, strategy: str) -> None:
    result = run_file(write(tmp_path, ACTION), pool=pool, strategy=strategy)
    assert result.ok, explain(result)
    assert result.diagnostics == []
    assert final_state(result) == {
        "records": [{"id": 1, "tags": ["a"]}, {"id": 2, "tags": []}],
        "texts": [
            '{"n": 0, "record": {"id": 1, "tags": ["a"]}}',
            '{"n": 1, "record": {"id": 2, "tags": []}}',
        ],
    }
    assert [r["branch"] for r in result.branches] == ["encode[0]", "encode[1]"]
    assert result.branches[1]["state"]["position"] == 1


ACTION_MAPPING = """
name: dp-action-mapping
state_schema: {xs: list, texts: list}
initial_state:
  xs: [1, "two", null]
nodes:
  - name: fan
    type: dynamic_parallel
    items: "{{ state.xs }}"
    action: {uses: json.stringify, with: {data: "{{ [index, item] }}"}, output: text}
    fan_in: join
  - name: join
    fan_in: true
    run: |
      local texts = {}
      for i, r in ipairs(state.parallel_results) do texts[i] = r.state.text.text end
      return { texts = texts }
"""


def test_action_mapping_per_item(tmp_path: Path, pool: ProcessPool) -> None:
    result = run_file(write(tmp_path, ACTION_MAPPING), pool=pool)
    assert result.ok, explain(result)
    assert result.diagnostics == []
    assert final_state(result) == {
        "xs": [1, "two", None],
        "texts": ["[0, 1]", '[1, "two"]', "[2, null]"],
    }


FAILING = """
name: dp-failing
nodes:
  - name: check
    type: dynamic_parallel
    items: "[1, 2, 3]"
    fan_in: report
    steps:
      - name: validate
        run: |
          if state.item == 2 then
            error("item " .. state.item .. " is bad")
          end
          return { ok = state.item }
  - name: report
    fan_in: true
    run: |
      local out = {}
      for _, r in ipairs(state.parallel_results) do
        out[#out + 1] = r.success and ("ok " .. r.state.ok) or (r.error_type .. ": " .. r.error)
      end
      return { report = out }
"""


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_failing_item_does_not_stop_the_others(
    tmp_path: Path, pool: ProcessPool, strategy: str
) -> None:
    result = run_file(write(tmp_path, FAILING), pool=pool, strategy=strategy)
    assert result.ok, explain(result)
    assert final_state(result) == {
        "report": ["ok 1", "LuaError: node 'validate': item 2 is bad", "ok 3"],
    }
    assert without_timing(result.branches)[1] == {
        "branch": "check[1]",
        "success": False,
        "state": None,
        "error": "node 'validate': item 2 is bad",
        "error_type": "LuaError",
        "timeout": False,
    }
    assert [r["success"] for r in result.branches] == [True, False, True]
    # A warning at the failing Lua line (0-based 10: `error(...)`).
    [warn] = result.branch_diagnostics
    assert (warn.code, warn.span.start_line, warn.span.start_col) == ("TEA601", 10, 12)
    assert warn.message == "branch 'check[1]' failed: node 'validate': item 2 is bad"


def test_fail_fast_on_the_node_fails_the_run(tmp_path: Path, pool: ProcessPool) -> None:
    text = FAILING.replace("    fan_in: report\n", "    fan_in: report\n    fail_fast: true\n")
    text = text.replace("    steps:\n", "    max_concurrency: 1\n    steps:\n")
    result = run_file(write(tmp_path, text), pool=pool)
    assert result.status == "failed" and result.state is None
    assert result.error == "branch 'check[1]' failed: node 'validate': item 2 is bad"
    assert _diag(result) == ("TEA601", 12, 12, result.error)
    assert [(r["branch"], r["success"]) for r in result.branches] == [
        ("check[0]", True),
        ("check[1]", False),
        ("check[2]", False),
    ]
    assert result.branches[2]["error_type"] == "Cancelled"


def test_items_not_a_list_fails_the_run(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: dp-not-a-list
        initial_state:
          numbers: {a: 1}
        nodes:
          - name: each
            type: dynamic_parallel
            items: "{{ state.numbers }}"
            fan_in: join
            steps:
              - name: work
                run: return { x = 1 }
          - name: join
            fan_in: true
            run: return {}
        """,
    )
    result = run_file(wf, strategy="thread")
    assert result.status == "failed" and result.state is None
    assert (
        result.error == "node 'each': 'items' must evaluate to a list, got a mapping '{\"a\": 1}'"
    )
    assert _diag(result) == ("TEA608", 6, 11, result.error)
    assert result.branches == []


def test_subgraph_is_refused(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """
        name: dp-subgraph
        nodes:
          - name: each
            type: dynamic_parallel
            items: "[1, 2]"
            fan_in: join
            subgraph: ./per_item.yaml
          - name: join
            fan_in: true
            run: return {}
        """,
    )
    result = run_file(wf)
    assert result.status == "refused" and result.state is None
    [refusal] = [d for d in result.diagnostics if d.code == "TEA607"]
    assert (refusal.span.start_line, refusal.span.start_col) == (6, 4)
    assert refusal.message == (
        "node 'each': a dynamic_parallel 'subgraph' is not run by the tea-lsp runner; give the "
        "work as 'steps' or an 'action'"
    )
    assert result.error == refusal.message
