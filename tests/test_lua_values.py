"""Values crossing the Lua boundary: key clashes in returned tables, read-only ``variables``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tea_lsp.langs.lua import LuaRuntimeError, LuaVM
from tests.engine_support import explain, final_state, run_file, write

VARIABLES = {"a": 1, "name": "tea", "nested": {"x": [1, 2, 3]}, "list": [10, 20]}


@pytest.fixture
def vm() -> Iterator[LuaVM]:
    with LuaVM(timeout=10.0, variables=VARIABLES) as v:
        yield v


# ---------------------------------------------------------------- key clashes


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            'return { [1] = "a", ["1"] = "b" }',
            "cannot return a table with both the keys 1 and \"1\": they would be the same key '1'",
        ),
        (
            'return { x = { y = { [true] = 1, ["true"] = 2 } } }',
            'cannot return a table with both the keys true and "true": they would be the same '
            "key 'true' (at 'x.y')",
        ),
        (
            'return { [1.5] = 1, ["1.5"] = 2 }',
            'cannot return a table with both the keys 1.5 and "1.5": they would be the same '
            "key '1.5'",
        ),
        (
            'return { { [3] = 1, ["3"] = 2 } }',
            'cannot return a table with both the keys 3 and "3": they would be the same key '
            "'3' (at '1')",
        ),
        (
            'return { list = { 1, 2, { [2] = "n", ["2"] = "s" } } }',
            'cannot return a table with both the keys 2 and "2": they would be the same key '
            "'2' (at 'list.3')",
        ),
    ],
)
def test_keys_that_collide_as_strings_are_a_node_error(vm: LuaVM, code: str, message: str) -> None:
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node(code, {})
    assert (err.value.message, err.value.line, err.value.error_type) == (message, None, "LuaError")
    assert vm.run_node("return { ok = true }", {}) == {"ok": True}


@pytest.mark.timeout(10)
def test_keys_that_do_not_collide_still_convert(vm: LuaVM) -> None:
    code = 'return { [1] = "a", [3] = "c", [true] = 1, ["x"] = { 1, 2 }, [2.5] = "f" }'
    assert vm.run_node(code, {}) == {"1": "a", "2.5": "f", "3": "c", "true": 1, "x": [1, 2]}
    assert vm.eval('{ [1] = "a", ["b"] = "c" }') == {"1": "a", "b": "c"}


@pytest.mark.timeout(30)
def test_key_clash_in_a_workflow_points_at_the_node(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """\
name: clash
nodes:
  - name: mixed
    run: |
      return { [1] = "a", ["1"] = "b" }
""",
    )
    result = run_file(wf)
    d = result.error_diagnostic
    assert d is not None, explain(result)
    assert (d.code, d.message) == (
        "TEA601",
        "node 'mixed': cannot return a table with both the keys 1 and \"1\": they would be the "
        "same key '1'",
    )
    assert (d.span.start_line, d.span.start_col) == (4, 6)  # the snippet (0-based)


# ---------------------------------------------------------------- read-only variables

READONLY = "'variables' is read-only"


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "code",
    [
        "variables.a = 2",
        "variables.new = 2",
        "variables.nested.x[1] = 5",
        'rawset(variables, "a", 2)',
        'rawset(variables, "new", 2)',
        'rawset(variables.nested, "y", 1)',
        "rawset(variables.nested.x, 4, 1)",
        "table.insert(variables.list, 3)",
        "table.remove(variables.list)",
        "table.sort(variables.list, function(a, b) return a > b end)",
        "table.move({ 1 }, 1, 1, 1, variables.list)",
    ],
)
def test_every_write_to_variables_fails(vm: LuaVM, code: str) -> None:
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node(code, {})
    assert (err.value.message, err.value.line) == (READONLY, 1)
    # Nothing changed, whatever the way of reading it.
    out = vm.run_node(
        "return { a = variables.a, ra = rawget(variables, 'a'), new = rawget(variables, 'new'),"
        " y = variables.nested.y, x = variables.nested.x, list = variables.list }",
        {},
    )
    assert out == {"a": 1, "ra": 1, "x": [1, 2, 3], "list": [10, 20]}


@pytest.mark.timeout(10)
def test_variables_read_like_a_plain_table(vm: LuaVM) -> None:
    code = """
    local keys = {}
    for k in pairs(variables) do keys[#keys + 1] = k end
    table.sort(keys)
    local nkeys = {}
    for k in next, variables do nkeys[#nkeys + 1] = k end
    table.sort(nkeys)
    local firstk, firstv = next(variables.list)
    local items = {}
    for i, v in ipairs(variables.nested.x) do items[i] = v * 10 end
    return {
      keys = keys, nkeys = nkeys, firstk = firstk, firstv = firstv, items = items,
      len = #variables.list, rawlen = rawlen(variables.nested.x),
      raw = rawget(variables, "name"), rawx = rawget(variables.nested, "x")[2],
      same = rawget(variables, "nested") == variables.nested,
      concat = table.concat(variables.list, ","),
      unpacked = select("#", table.unpack(variables.list)),
      whole = variables, part = variables.nested,
    }
    """
    assert vm.run_node(code, {}) == {
        "keys": ["a", "list", "name", "nested"],
        "nkeys": ["a", "list", "name", "nested"],
        "firstk": 1,
        "firstv": 10,
        "items": [10, 20, 30],
        "len": 2,
        "rawlen": 3,
        "raw": "tea",
        "rawx": 2,
        "same": True,
        "concat": "10,20",
        "unpacked": 2,
        "whole": VARIABLES,
        "part": {"x": [1, 2, 3]},
    }


@pytest.mark.timeout(10)
def test_raw_functions_still_work_on_other_tables(vm: LuaVM) -> None:
    code = """
    local t = setmetatable({}, { __newindex = function() error("no") end })
    rawset(t, "a", 1)
    local n = 0
    for k, v in next, { 5, 6, 7 } do n = n + v end
    return { a = rawget(t, "a"), n = n, len = rawlen({ 1, 2 }), slen = rawlen("abc"),
             r = rawset(t, "b", 2) == t, empty = next({}) == nil }
    """
    assert vm.run_node(code, {}) == {
        "a": 1,
        "n": 18,
        "len": 2,
        "slen": 3,
        "r": True,
        "empty": True,
    }


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("rawset(1, 2, 3)", "bad argument #1 to 'rawset' (table expected, got number)"),
        ("rawget()", "bad argument #1 to 'rawget' (table expected, got no value)"),
        ("rawlen(5)", "bad argument #1 to 'rawlen' (table or string expected, got number)"),
        ("next(nil)", "bad argument #1 to 'next' (table expected, got nil)"),
        ("local t = {}\nrawset(t, nil, 1)", "table index is nil"),
    ],
)
def test_raw_functions_report_bad_arguments_like_lua(vm: LuaVM, code: str, message: str) -> None:
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node(code, {})
    assert (err.value.message, err.value.line) == (message, code.count("\n") + 1)


@pytest.mark.timeout(30)
def test_lua_and_templates_agree_on_variables(tmp_path: Path) -> None:
    wf = write(
        tmp_path,
        """\
name: agree
variables:
  greeting: hello
nodes:
  - name: sneaky
    run: |
      local ok, err = pcall(rawset, variables, "greeting", "bye")
      return { ok = ok, lua = variables.greeting }
  - name: template
    run: |
      return { tpl = "{{ variables.greeting }}", lua2 = variables.greeting }
""",
    )
    result = run_file(wf)
    assert result.ok, explain(result)
    state = final_state(result)
    assert state is not None
    assert {k: state[k] for k in ("ok", "lua", "lua2")} == {
        "ok": False,
        "lua": "hello",
        "lua2": "hello",
    }
