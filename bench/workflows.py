"""Generators of realistic workflows shared by the benchmarks."""

from __future__ import annotations


def realistic_workflow(i: int, nodes: int = 12) -> str:
    """A workflow with sequential Lua nodes, a fan-out in one of three spellings, templates."""
    spelling = "ACD"[i % 3]
    lines = [
        f"name: pipeline_{i}",
        f"description: generated workflow number {i}",
        "state_schema:",
        "  items: list",
        "  total: int",
        "  report: str",
        "initial_state:",
        "  items: [1, 2, 3]",
        "settings:",
        "  parallel: {strategy: process, max_parallel_branches: 4}",
        "nodes:",
        "  - name: setup",
        "    run: |",
        "      local n = 0",
        "      for _, v in ipairs(state.items or {}) do n = n + v end",
        "      return { total = n }",
    ]
    for k in range(nodes):
        lines += [
            f"  - name: step_{k}",
            "    run: |",
            f"      local base = (state.total or 0) + {k}",
            "      local parts = {}",
            "      for i = 1, 3 do parts[#parts + 1] = tostring(base * i) end",
            "      return { report = table.concat(parts, ',') }",
        ]
    lines += [
        "  - name: fmt",
        "    uses: json.stringify",
        "    with:",
        "      data: '{{ state.items }}'",
        "    output: report",
        "  - name: branch_a",
        "    run: return { total = (state.total or 0) + 1 }",
        "  - name: branch_b",
        "    run: return { total = (state.total or 0) + 2 }",
        "  - name: join",
        "    fan_in: true",
        "    run: |",
        "      local sum = 0",
        "      for _, r in ipairs(state.parallel_results) do",
        "        if r.success then sum = sum + r.state.total end",
        "      end",
        "      return { total = sum }",
        "    goto: __end__",
        "edges:",
    ]
    last = "fmt"
    if spelling == "A":
        lines += [
            f"  - {{from: {last}, to: branch_a, type: parallel, fan_in: join}}",
            f"  - {{from: {last}, to: branch_b, type: parallel, fan_in: join}}",
        ]
    elif spelling == "C":
        lines += [f"  - {{from: {last}, to: [branch_a, branch_b], parallel: true, fan_in: join}}"]
    else:
        lines += [f"  - {{from: {last}, parallel: [branch_a, branch_b]}}"]
    lines += ["  - {from: branch_a, to: join}", "  - {from: branch_b, to: join}"]
    return "\n".join(lines) + "\n"
