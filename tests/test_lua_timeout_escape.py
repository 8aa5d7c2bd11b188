"""The Lua time limit holds against message handlers that loop (xpcall, gsub, coroutines).

Lua runs an ``xpcall`` message handler before unwinding; for the timeout error (raised inside
the hook) it runs with hooks off. Each variant below ran forever before the sandbox wrapped
``xpcall``. Every test is bounded by ``pytest.mark.timeout`` so a regression fails, not hangs.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tea_lsp.engine import ProcessPool
from tea_lsp.langs.lua import LuaRuntimeError, LuaTimeout, LuaVM
from tests.engine_support import explain, process_pool, run_file, write

LOOP = "function() while true do end end"
ESCAPES = {
    "looping-handler": f"xpcall({LOOP}, {LOOP})",
    "looping-handler-after-user-error": f"xpcall(function() error('boom') end, {LOOP})",
    "gsub-callback-in-handler": (
        f"xpcall({LOOP}, function(e)\n"
        "  return (string.gsub(string.rep('a', 8), '.', function() while true do end end))\n"
        "end)"
    ),
    "gsub-callback-after-user-error": (
        "xpcall(function() error('boom') end, function(e)\n"
        "  return (string.gsub(string.rep('a', 8), '.', function() while true do end end))\n"
        "end)"
    ),
    "inside-coroutine-wrap": (f"coroutine.wrap(function()\n  xpcall({LOOP}, {LOOP})\nend)()"),
    "handler-looping-over-pcall": (
        f"xpcall({LOOP}, function(e)\n  while true do pcall({LOOP}) end\nend)"
    ),
    "handler-looping-over-pcall-after-user-error": (
        f"xpcall(function() error('boom') end, function(e)\n  while true do pcall({LOOP}) end\nend)"
    ),
    "nested-xpcall-in-handler": (
        f"xpcall({LOOP}, function(e)\n  xpcall({LOOP}, {LOOP})\n  while true do end\nend)"
    ),
}
SHORT = 0.3


@pytest.fixture
def vm() -> Iterator[LuaVM]:
    with LuaVM(timeout=5.0) as v:
        yield v


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escape_attempts_time_out_in_the_vm(vm: LuaVM, name: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(LuaTimeout) as err:
        vm.run_node(ESCAPES[name], {}, timeout=SHORT)
    assert err.value.message == "lua code exceeded the time limit of 0.3 s"
    assert time.monotonic() - t0 < 3.0
    # The VM stays usable afterwards.
    assert vm.run_node("return { ok = true }", {}) == {"ok": True}


def test_xpcall_still_behaves_like_lua(vm: LuaVM) -> None:
    code = """
    local ok, msg = xpcall(function() error('boom', 0) end, function(e) return 'handled: ' .. e end)
    local ok2, a, b = xpcall(function(x, y) return x + y, x * y end, print, 3, 4)
    return { ok = ok, msg = msg, ok2 = ok2, a = a, b = b }
    """
    assert vm.run_node(textwrap.dedent(code), {}) == {
        "ok": False,
        "msg": "handled: boom",
        "ok2": True,
        "a": 7,
        "b": 12,
    }
    with pytest.raises(LuaRuntimeError) as err:
        vm.run_node("xpcall(function() end, 42)", {})
    assert err.value.message == "bad argument #2 to 'xpcall' (function expected, got number)"
    assert err.value.line == 1


def _workflow(tmp_path: Path, code: str, *, branch: bool) -> Path:
    body = textwrap.indent(code, " " * 6)
    if not branch:
        text = f"""\
name: escape
settings:
  lua:
    timeout: {SHORT}
nodes:
  - name: spin
    run: |
{body}
"""
    else:
        text = f"""\
name: escape
settings:
  parallel:
    lua_timeout: {SHORT}
nodes:
  - name: start
    run: return {{}}
  - name: spin
    run: |
{body}
    goto: join
  - name: fine
    run: return {{ fine = true }}
    goto: join
  - name: join
    fan_in: true
    run: return {{}}
edges:
  - {{from: start, to: [spin, fine], parallel: true, fan_in: join}}
"""
    return write(tmp_path, text)


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    with process_pool() as p:
        yield p


@pytest.fixture(autouse=True)
def _test_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEA_LSP_TEST_ACTIONS", "1")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escape_attempts_time_out_in_the_main_flow(tmp_path: Path, name: str) -> None:
    result = run_file(_workflow(tmp_path, ESCAPES[name], branch=False))
    assert (result.status, result.error) == (
        "failed",
        "node 'spin': lua code exceeded the time limit of 0.3 s",
    ), explain(result)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("strategy", ["thread", "process"])
@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escape_attempts_time_out_in_a_branch(
    tmp_path: Path, pool: ProcessPool, strategy: str, name: str
) -> None:
    # A long kill grace: a process branch must stop by its own hook, not by the outside kill.
    wf = _workflow(tmp_path, ESCAPES[name], branch=True)
    result = run_file(wf, pool=pool, strategy=strategy, kill_grace=30.0)
    assert result.ok, explain(result)
    got = [(r["branch"], r["success"], r["error_type"], r["timeout"]) for r in result.branches]
    assert got == [("spin", False, "TimeoutError", True), ("fine", True, None, False)]
    assert (
        result.branches[0]["error"] == "node 'spin': lua code ran past the branch timeout of 0.3 s"
    )
