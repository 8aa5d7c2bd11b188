"""The sandboxed Lua VM (``tea_lsp.langs.lua.LuaVM``): sandbox, limits, values, lines, globals."""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterator

import pytest

from tea_lsp.langs.lua import (
    REMOVED_GLOBALS,
    LuaError,
    LuaMemoryError,
    LuaRuntimeError,
    LuaTimeout,
    LuaVM,
    parse_memory,
    sandbox_globals,
)

SHORT = 0.3


@pytest.fixture
def vm() -> Iterator[LuaVM]:
    v = LuaVM(timeout=5.0, variables={"greeting": "hi", "nested": {"list": [1, 2, 3]}})
    yield v
    v.close()


# ---------------------------------------------------------------- sandbox


@pytest.mark.parametrize("name", REMOVED_GLOBALS)
def test_removed_globals_are_nil(vm: LuaVM, name: str) -> None:
    assert vm.eval(f"type({name})") == "nil"
    assert vm.eval(f"type(_G[{name!r}])") == "nil"
    assert vm.eval(f"rawget(_G, {name!r}) == nil") is True


@pytest.mark.parametrize("name", REMOVED_GLOBALS)
def test_removed_globals_unreachable_through_load(vm: LuaVM, name: str) -> None:
    # load's default environment is the sandbox, not the stock globals.
    assert vm.eval(f"load('return type({name})')()") == "nil"
    assert vm.eval(f"load('return type(_ENV[\"{name}\"])', 'x', 't')()") == "nil"
    assert vm.eval(f"load(function() return nil end) and type({name})") == "nil"


def test_string_dump_removed_everywhere(vm: LuaVM) -> None:
    assert vm.eval("string.dump") is None
    assert vm.eval("getmetatable('').__index == string") is True
    assert vm.eval("getmetatable('').__index.dump") is None
    assert vm.eval("('x').dump") is None
    assert vm.eval("type(load('return string.dump')())") == "nil"


def test_python_bridge_absent(vm: LuaVM) -> None:
    assert vm.eval("python") is None
    assert "python" not in sandbox_globals()
    with pytest.raises(LuaRuntimeError) as err:
        vm.eval("python.eval('1')")
    assert err.value.message == "attempt to index a nil value (global 'python')"


def test_binary_chunks_refused(vm: LuaVM) -> None:
    message = "attempt to load a binary chunk (mode is 't')"
    for mode in ("b", "bt", "t"):
        assert vm.eval(f"select(2, load('\\27Lua\\x54\\0', 'bin', '{mode}'))") == message
    assert vm.eval("load('\\27Lua\\x54\\0')") is None


def test_load_with_explicit_environment(vm: LuaVM) -> None:
    assert vm.eval("load('return x', 'c', 't', {x = 41})() + 1") == 42
    assert vm.eval("select(2, pcall(load('return print', 'c', 't', {})))") is None


def test_gc_metamethods_refused(vm: LuaVM) -> None:
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node("setmetatable({}, {__gc = function() end})", {})
    assert err.value.message == "'__gc' metamethods are not available in the sandbox"
    assert err.value.line == 1
    assert vm.eval("getmetatable(setmetatable({}, {__index = {a = 1}})).__index.a") == 1


def test_sandbox_global_names() -> None:
    names = sandbox_globals()
    assert {"state", "python", "io", "os", "debug", "require"}.isdisjoint(names)
    assert {"print", "string", "table", "math", "utf8", "coroutine", "variables", "_G"} <= names


def test_variables_are_read_only(vm: LuaVM) -> None:
    assert vm.eval("variables.greeting") == "hi"
    assert vm.eval("variables.nested.list[3]") == 3
    assert vm.eval("#variables.nested.list") == 3
    assert (
        vm.eval(
            "(function() local n = 0 for _, v in ipairs(variables.nested.list) do n = n + v end"
            " return n end)()"
        )
        == 6
    )
    assert (
        vm.eval(
            "(function() local k = {} for key in pairs(variables) do k[#k + 1] = key end"
            " table.sort(k) return table.concat(k, ',') end)()"
        )
        == "greeting,nested"
    )
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node("variables.nested.list[1] = 5", {})
    assert (err.value.message, err.value.line) == ("'variables' is read-only", 1)
    assert vm.eval("getmetatable(variables)") is False


def test_print_goes_to_stderr(vm: LuaVM, capfd: pytest.CaptureFixture[str]) -> None:
    vm.run_node("print('hello', 1, nil, true)", {})
    out, err = capfd.readouterr()
    assert out == ""
    assert err == "hello\t1\tnil\ttrue\n"


# ---------------------------------------------------------------- the node contract


def test_state_is_a_fresh_copy(vm: LuaVM) -> None:
    state = {"count": 1, "items": [1, 2], "meta": {"a": "b"}}
    result = vm.run_node(
        "state.items[1] = 99; state.meta.a = 'z'; return { count = state.count + 1 }", state
    )
    assert result == {"count": 2}
    assert state == {"count": 1, "items": [1, 2], "meta": {"a": "b"}}


def test_return_values(vm: LuaVM) -> None:
    assert vm.run_node("return nil", {}) is None
    assert vm.run_node("local x = 1", {}) is None
    assert vm.run_node("return {}", {}) == {}
    assert vm.run_node("return 42", {}) == {"result": 42}
    assert vm.run_node("return 'text'", {}) == {"result": "text"}
    assert vm.run_node("return false", {}) == {"result": False}
    assert vm.run_node("return {10, 20}", {}) == {"1": 10, "2": 20}
    assert vm.run_node("return {a = 1}, 'ignored'", {}) == {"a": 1}


def test_value_conversion(vm: LuaVM) -> None:
    result = vm.run_node(
        """
        return {
          list = {1, 2, 3}, empty = {}, nested = {{a = 1}, {b = {true, false}}},
          mixed = {1, 2, x = 3}, holes = {[1] = 'a', [3] = 'c'}, keys = {[true] = 1, [2.5] = 2},
          float = 1.5, int = 2^53 // 1, big = math.maxinteger, text = 'héllo',
          bad_utf8 = 'a\\xffb', inf = math.huge, ninf = -math.huge,
        }
        """,
        {},
    )
    assert result is not None
    assert result["list"] == [1, 2, 3]
    assert result["empty"] == {}
    assert result["nested"] == [{"a": 1}, {"b": [True, False]}]
    assert result["mixed"] == {"1": 1, "2": 2, "x": 3}
    assert result["holes"] == {"1": "a", "3": "c"}
    assert result["keys"] == {"true": 1, "2.5": 2}
    assert result["float"] == 1.5
    assert result["int"] == 2.0**53
    assert result["big"] == 2**63 - 1
    assert result["text"] == "héllo"
    assert result["bad_utf8"] == "a\ufffdb"
    assert result["inf"] == math.inf
    assert result["ninf"] == -math.inf
    nan = vm.run_node("return {n = 0/0}", {})
    assert nan is not None and math.isnan(nan["n"])


def test_values_going_in(vm: LuaVM) -> None:
    state = {
        "t": (1, 2),
        "none": None,
        "huge": 2**80,
        "obj": object(),
        "flag": True,
        "nan": math.nan,
        "deep": {"x": [{"y": "z"}]},
    }
    out = vm.run_node(
        "return { t = #state.t, none = state.none == nil, huge = math.type(state.huge),"
        " obj = type(state.obj), flag = state.flag, nan = state.nan ~= state.nan,"
        " deep = state.deep.x[1].y }",
        state,
    )
    assert out == {
        "t": 2,
        "none": True,
        "huge": "float",
        "obj": "string",
        "flag": True,
        "nan": True,
        "deep": "z",
    }


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("return { f = function() end }", "cannot return a function from node (at 'f')"),
        ("return function() end", "cannot return a function from node"),
        ("return { co = coroutine.create(print) }", "cannot return a thread from node (at 'co')"),
        (
            "local t = {}; t.self = t; return { t = t }",
            "cannot return a table that contains itself (at 't.self')",
        ),
        ("return { [{}] = 1 }", "cannot return a table with a table key"),
    ],
)
def test_unreturnable_values(vm: LuaVM, code: str, message: str) -> None:
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node(code, {})
    assert err.value.message == message
    assert err.value.error_type == "LuaError"


def test_deeply_nested_result_refused(vm: LuaVM) -> None:
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node("local t = {} local c = t for i = 1, 500 do c.x = {} c = c.x end return t", {})
    assert err.value.message.startswith("cannot return tables nested deeper than 200 levels")


def test_shared_subtables_are_fine(vm: LuaVM) -> None:
    out = vm.run_node("local s = {1} return { a = s, b = s }", {})
    assert out == {"a": [1], "b": [1]}


# ---------------------------------------------------------------- errors and lines


def test_runtime_error_lines_are_the_users(vm: LuaVM) -> None:
    code = "local a = 1\nlocal b = nil\n\nreturn { x = b.field }"
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node(code, {}, chunkname="my_node")
    assert err.value.line == 4
    assert err.value.message == "attempt to index a nil value (local 'b')"
    assert err.value.error_type == "LuaError"


def test_error_on_first_line_is_line_one(vm: LuaVM) -> None:
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node("error('boom')", {})
    assert (err.value.message, err.value.line) == ("boom", 1)


def test_error_values_without_position(vm: LuaVM) -> None:
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node("local x = 1\n\nerror({code = 1})", {})
    assert (err.value.message, err.value.line) == ("(error object is a table value)", 3)
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node("local x = 1\nerror('plain', 0)", {})
    assert (err.value.message, err.value.line) == ("plain", 2)
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node("error(42)", {})
    assert (err.value.message, err.value.line) == ("42", 1)


def test_error_inside_nested_function_and_coroutine(vm: LuaVM) -> None:
    code = "local function f()\n  local t = nil\n  return t.x\nend\nreturn f()"
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node(code, {})
    assert err.value.line == 3
    code = "local co = coroutine.wrap(function()\n\n  error('inside')\nend)\nco()"
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node(code, {})
    assert (err.value.message, err.value.line) == ("inside", 3)


def test_error_in_function_from_an_earlier_node(vm: LuaVM) -> None:
    vm.run_node("function helper()\n  error('from helper')\nend", {}, chunkname="defs")
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node("local x = 1\nhelper()", {}, chunkname="user")
    # The message keeps where the error happened; the line is the caller's in this snippet.
    assert err.value.message == "defs:2: from helper"
    assert err.value.line == 2


def test_syntax_error_at_run_time(vm: LuaVM) -> None:
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node("local x = 1\nreturn { x = }", {})
    assert err.value.message == "syntax error: unexpected symbol near '}'"
    assert err.value.line == 2


def test_errors_pickle() -> None:
    for cls in (LuaRuntimeError, LuaTimeout, LuaMemoryError):
        e = cls("msg", 3)
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is cls
        assert (back.message, back.line, back.error_type) == ("msg", 3, cls.error_type)
        assert isinstance(back, LuaError)


# ---------------------------------------------------------------- time limit


def test_endless_loop_times_out(vm: LuaVM) -> None:
    with pytest.raises(LuaTimeout) as err:
        vm.run_node("local n = 0\nwhile true do n = n + 1 end", {}, timeout=SHORT)
    assert err.value.error_type == "TimeoutError"
    assert err.value.line == 2
    assert err.value.message == "lua code exceeded the time limit of 0.3 s"


def test_endless_loop_inside_coroutine_times_out(vm: LuaVM) -> None:
    code = "local co = coroutine.create(function() while true do end end)\ncoroutine.resume(co)"
    with pytest.raises(LuaTimeout):
        vm.run_node(code, {}, timeout=SHORT)
    code = "local f = coroutine.wrap(function() while true do end end)\nf()"
    with pytest.raises(LuaTimeout):
        vm.run_node(code, {}, timeout=SHORT)


def test_nested_coroutines_time_out(vm: LuaVM) -> None:
    code = """
    local outer = coroutine.wrap(function()
      local inner = coroutine.wrap(function() while true do end end)
      inner()
    end)
    outer()
    """
    with pytest.raises(LuaTimeout):
        vm.run_node(code, {}, timeout=SHORT)


def test_pcall_cannot_swallow_the_timeout(vm: LuaVM) -> None:
    code = """
    local caught = 0
    while true do
      local ok, err = pcall(function() while true do end end)
      caught = caught + 1
    end
    """
    with pytest.raises(LuaTimeout):
        vm.run_node(code, {}, timeout=SHORT)
    # Even code that catches once and returns quickly is reported as timed out.
    code = "local ok = pcall(function() while true do end end)\nreturn { ok = ok }"
    with pytest.raises(LuaTimeout):
        vm.run_node(code, {}, timeout=SHORT)


def test_resuming_a_dead_coroutine_loop_times_out(vm: LuaVM) -> None:
    code = "while true do coroutine.resume(coroutine.create(function() while true do end end)) end"
    with pytest.raises(LuaTimeout):
        vm.run_node(code, {}, timeout=SHORT)


def test_vm_default_timeout_and_recovery() -> None:
    with LuaVM(timeout=SHORT) as v:
        with pytest.raises(LuaTimeout):
            v.run_node("while true do end", {})
        assert v.run_node("return { ok = true }", {}) == {"ok": True}
        with pytest.raises(LuaTimeout):
            v.eval("(function() while true do end end)()")


def test_no_timeout_means_no_hook(vm: LuaVM) -> None:
    with LuaVM(timeout=None) as v:
        assert v.run_node("local s = 0 for i = 1, 1000 do s = s + i end return s", {}) == {
            "result": 500500
        }


# ---------------------------------------------------------------- memory


def test_memory_cap() -> None:
    with LuaVM(max_memory=8 * 2**20, timeout=10) as v:
        with pytest.raises(LuaMemoryError) as err:
            v.run_node("local t = {}\nfor i = 1, 1e8 do t[i] = i end", {})
        assert err.value.error_type == "MemoryError"
        assert err.value.message == "lua code exceeded the memory limit of 8 MB"
        with pytest.raises(LuaMemoryError):
            v.run_node("local s = string.rep('x', 2^30)", {})
        # The VM survives and keeps working.
        assert v.run_node("return { ok = true }", {}) == {"ok": True}


def test_memory_error_caught_by_pcall_is_the_users_business() -> None:
    with LuaVM(max_memory=8 * 2**20, timeout=10) as v:
        out = v.run_node(
            "local ok, err = pcall(string.rep, 'x', 2^30)\nreturn { ok = ok, err = err }", {}
        )
        assert out == {"ok": False, "err": "not enough memory"}


def test_state_too_large_for_the_vm() -> None:
    with LuaVM(max_memory=2 * 2**20, timeout=10) as v, pytest.raises(LuaMemoryError):
        v.run_node("return nil", {"big": ["x" * 1000] * 5000})


def test_parse_memory() -> None:
    assert parse_memory("64MB") == 64 * 2**20
    assert parse_memory("512KB") == 512 * 2**10
    assert parse_memory("1GB") == 2**30
    assert parse_memory("1 GiB") == 2**30
    assert parse_memory("16m") == 16 * 2**20
    assert parse_memory("2048") == 2048
    assert parse_memory(4096) == 4096
    for bad in ("", "lots", "-1MB", "0", 0, True, "12XB"):
        with pytest.raises(ValueError):
            parse_memory(bad)


# ---------------------------------------------------------------- globals


def test_globals_persist_on_one_vm(vm: LuaVM) -> None:
    vm.run_node("counter = 1\nfunction inc() counter = counter + 1 end", {})
    vm.run_node("inc()", {})
    assert vm.run_node("return { c = counter }", {}) == {"c": 2}


def test_globals_do_not_leak_between_vms() -> None:
    with LuaVM(timeout=5) as a, LuaVM(timeout=5) as b:
        a.run_node("secret = 'a'; string.shout = function(s) return s:upper() end", {})
        assert a.run_node("return { v = ('x'):shout() }", {}) == {"v": "X"}
        assert b.run_node("return { v = secret, s = string.shout }", {}) == {}
        assert b.eval("('x').shout") is None


def test_closed_vm_refuses_work() -> None:
    v = LuaVM()
    v.close()
    assert v.closed
    with pytest.raises(RuntimeError):
        v.run_node("return {}", {})


def test_memory_used_is_reported(vm: LuaVM) -> None:
    assert 0 < vm.memory_used() < 2 * 2**20
