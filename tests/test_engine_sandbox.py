"""The sandbox holds in the main flow and inside branches, whatever the strategy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tea_lsp.engine import ProcessPool
from tests.engine_support import explain, final_state, process_pool, run_file, write

PROBE = """
      local found = {}
      local names = {"io", "os", "debug", "package", "require", "dofile", "loadfile",
                     "collectgarbage", "python"}
      for _, name in ipairs(names) do
        if _G[name] ~= nil then found[#found + 1] = name end
        local chunk = load("return " .. name)
        if chunk ~= nil and chunk() ~= nil then found[#found + 1] = "load:" .. name end
        local with_g = load("return " .. name, "probe", "t", _G)
        if with_g ~= nil and with_g() ~= nil then found[#found + 1] = "load_G:" .. name end
      end
      local dump = "du" .. "mp"  -- spelt dynamically: the checker would reject the literal
      if string[dump] ~= nil then found[#found + 1] = "string.dump" end
      local meta = getmetatable("")
      if meta ~= nil and meta.__index ~= nil and meta.__index[dump] ~= nil then
        found[#found + 1] = "string metatable dump"
      end
      for _, mode in ipairs({"b", "bt", "t"}) do
        local ok, fn = pcall(load, "\\27Lua\\84\\0\\25\\147\\r\\n\\26\\n", "bin", mode)
        if ok and fn ~= nil then found[#found + 1] = "binary chunk (" .. mode .. ")" end
      end
      local ok_attr = pcall(function() return string.format.__class__ end)
      if ok_attr and string.format.__class__ ~= nil then found[#found + 1] = "python attrs" end
      return { {key} = found }
"""

WORKFLOW = (
    """
name: sandbox
nodes:
  - name: main_probe
    run: |"""
    + PROBE.replace("{key}", "main")
    + """
  - name: branch_one
    run: |"""
    + PROBE.replace("{key}", "one")
    + """
    goto: join
  - name: branch_two
    run: |"""
    + PROBE.replace("{key}", "two")
    + """
    goto: join
  - name: join
    fan_in: true
    run: |
      local r = state.parallel_results
      return { one = r[1].state and r[1].state.one or r[1].error,
               two = r[2].state and r[2].state.two or r[2].error }
edges:
  - {from: main_probe, to: [branch_one, branch_two], parallel: true, fan_in: join}
"""
)


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    with process_pool() as p:
        yield p


@pytest.mark.parametrize("strategy", ["process", "thread"])
def test_nothing_removed_is_reachable(tmp_path: Path, pool: ProcessPool, strategy: str) -> None:
    wf = write(tmp_path, WORKFLOW)
    result = run_file(wf, pool=pool, strategy=strategy)
    assert result.ok, explain(result)
    # Empty Lua tables come back as {}: nothing was found anywhere.
    assert final_state(result) == {"main": {}, "one": {}, "two": {}}
