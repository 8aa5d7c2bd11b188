"""The Lua time limit costs nothing until the deadline, then stops the code where it runs.

A watchdog thread turns the VM's count hook on at the deadline; the hook raises the timeout at
the next instruction, from inside Lua, so the user gets the same ``TEA602`` message and the
line that was running. These tests cover every kind of loop, coroutines, several VMs at once
in threads, forked workers, every place a Lua node runs (main flow, thread and process
branches, each with a kill grace long enough that only the hook can stop the code in time),
and the count-hook fallback used where lupa does not export Lua's C API.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tea_lsp.engine import ProcessPool
from tea_lsp.langs.lua import LuaTimeout, LuaVM
from tests.engine_support import explain, process_pool, run_file, write

SHORT = 0.3
MESSAGE = "lua code exceeded the time limit of 0.3 s"

# Each snippet loops forever; the value holds the snippet lines the timeout may point at.
LOOPS: dict[str, tuple[str, int | tuple[int, ...]]] = {
    "numeric-for": ("local s = 0\nfor i = 1, math.maxinteger do\n  s = s + i\nend", (2, 3)),
    "while": ("local n = 0\nwhile true do n = n + 1 end", 2),
    "empty-while": ("local n = 0\nwhile true do end", 2),
    "repeat": ("local n = 0\nrepeat\n  n = n + 1\nuntil false", (3, 4)),
    "goto": ("local n = 0\n::top::\nn = n + 1\ngoto top", (3, 4)),
    "float-for": ("local s = 0\nfor x = 0.5, math.huge do\n  s = s + x\nend", (2, 3)),
    "generic-for": (
        "local function up(_, i) return i + 1 end\nfor i in up, nil, 0 do\n  local _ = i\nend",
        (1, 2, 3),  # in the iterator, the loop or its body
    ),
    "recursion-in-tail-calls": ("local function f(n)\n  return f(n + 1)\nend\nf(0)", 2),
    "in-coroutine-wrap": (
        "local s = 0\ncoroutine.wrap(function()\n  while true do s = s + 1 end\nend)()",
        3,
    ),
    "in-coroutine-resume": (
        "local co = coroutine.create(function()\n  while true do end\nend)\n"
        "local ok, e = coroutine.resume(co)\nwhile true do end",
        5,
    ),
    "caught-by-pcall-in-a-loop": (
        "while true do\n  pcall(function() while true do end end)\nend",
        2,
    ),
}


@pytest.fixture
def vm() -> Iterator[LuaVM]:
    with LuaVM(timeout=30.0) as v:
        yield v


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(LOOPS))
def test_every_loop_times_out_at_its_line(vm: LuaVM, name: str) -> None:
    code, line = LOOPS[name]
    t0 = time.monotonic()
    with pytest.raises(LuaTimeout) as err:
        vm.run_node(code, {}, timeout=SHORT)
    elapsed = time.monotonic() - t0
    lines = line if isinstance(line, tuple) else (line,)
    assert err.value.message == MESSAGE
    assert err.value.line in lines
    assert err.value.error_type == "TimeoutError"
    assert SHORT <= elapsed < 3.0
    assert vm.run_node("return { ok = true }", {}) == {"ok": True}


@pytest.mark.timeout(30)
def test_no_hook_is_left_between_calls(vm: LuaVM) -> None:
    # Calls that end long before their deadline; then the deadline passes while the VM is idle.
    for _ in range(200):
        assert vm.run_node("return { n = 1 }", {}, timeout=0.05) == {"n": 1}
    time.sleep(0.2)
    # A later call without a time limit runs to the end (no stale alarm fires into it).
    code = "local s = 0\nfor i = 1, 3000000 do s = s + 1 end\nreturn { s = s }"
    assert vm.run_node(code, {}, timeout=None) == {"s": 3000000}
    with LuaVM(timeout=None) as free:
        assert free.run_node(code, {}) == {"s": 3000000}


@pytest.mark.timeout(30)
def test_a_call_ending_just_before_its_deadline_is_not_a_timeout(vm: LuaVM) -> None:
    # The deadline passes after the user's code returned: the result stands.
    code = "local s = 0\nfor i = 1, 200000 do s = s + 1 end\nreturn { s = s }"
    assert vm.run_node(code, {}, timeout=10.0) == {"s": 200000}


@pytest.mark.timeout(30)
def test_vms_in_threads_each_keep_their_own_deadline() -> None:
    results: dict[str, object] = {}

    def spin(name: str, timeout: float) -> None:
        with LuaVM(timeout=timeout) as v:
            try:
                results[name] = v.run_node("local n = 0\nwhile true do n = n + 1 end", {})
            except LuaTimeout as exc:
                results[name] = (exc.message, exc.line, time.monotonic() - t0)

    def work() -> None:
        with LuaVM(timeout=20.0) as v:
            code = "local s = 0\nfor i = 1, 5000000 do s = s + 1 end\nreturn { s = s }"
            results["work"] = v.run_node(code, {})

    t0 = time.monotonic()
    threads = [
        threading.Thread(target=spin, args=("short", 0.3)),
        threading.Thread(target=spin, args=("long", 1.0)),
        threading.Thread(target=work),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["work"] == {"s": 5000000}
    short, long = results["short"], results["long"]
    assert isinstance(short, tuple) and isinstance(long, tuple)
    assert short[:2] == ("lua code exceeded the time limit of 0.3 s", 2)
    assert long[:2] == ("lua code exceeded the time limit of 1 s", 2)
    assert 0.3 <= short[2] < long[2]


_FORKED = """
import os, sys
from tea_lsp.langs.lua import LuaTimeout, LuaVM
vm = LuaVM(timeout=0.2)
try:
    vm.run_node("while true do end", {})
except LuaTimeout as e:
    print("parent", e.message)
pid = os.fork()
if pid == 0:
    try:
        LuaVM(timeout=0.2).run_node("local n = 0\\nwhile true do n = n + 1 end", {})
    except LuaTimeout as e:
        print("child", e.message, e.line, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.timeout(30)
def test_a_forked_worker_gets_its_own_watchdog() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _FORKED], capture_output=True, text=True, timeout=25, check=True
    )
    assert out.stdout.splitlines() == [
        "parent lua code exceeded the time limit of 0.2 s",
        "child lua code exceeded the time limit of 0.2 s 2",
    ]


_FALLBACK = """
from tea_lsp.langs.lua import LuaTimeout, LuaVM
from tea_lsp.langs.lua import runtime
assert runtime._LUA_API is None
with LuaVM(timeout=0.2) as vm:
    for code in ("local n = 0\\nwhile true do n = n + 1 end",
                 "coroutine.wrap(function()\\n  while true do end\\nend)()"):
        try:
            vm.run_node(code, {})
        except LuaTimeout as e:
            print(e.message, e.line)
    print(vm.run_node("return { ok = true }", {}))
"""


@pytest.mark.timeout(30)
def test_count_hook_fallback_still_enforces_the_limit() -> None:
    # Where lupa does not export lua_sethook, a count hook checks the clock instead.
    import os

    env = {**os.environ, "TEA_LSP_LUA_COUNT_HOOK": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _FALLBACK],
        capture_output=True,
        text=True,
        timeout=25,
        check=True,
        env=env,
    )
    assert out.stdout.splitlines() == [
        "lua code exceeded the time limit of 0.2 s 2",
        "lua code exceeded the time limit of 0.2 s 2",
        "{'ok': True}",
    ]


# ---------------------------------------------------------------- in the runner


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPool]:
    with process_pool() as p:
        yield p


ENGINE_LOOPS = ("numeric-for", "in-coroutine-wrap", "caught-by-pcall-in-a-loop")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", ENGINE_LOOPS)
def test_main_flow_hot_loop_stops_at_its_line(tmp_path: Path, pool: ProcessPool, name: str) -> None:
    code, line = LOOPS[name]
    lines = line if isinstance(line, tuple) else (line,)
    body = textwrap.indent(code, " " * 6)
    wf = write(
        tmp_path,
        f"name: hot\nsettings:\n  lua:\n    timeout: {SHORT}\nnodes:\n  - name: spin\n"
        f"    run: |\n{body}\n",
    )
    # A long kill grace: the hook, not the outside kill, must stop the code.
    result = run_file(wf, pool=pool, kill_grace=30.0)
    d = result.error_diagnostic
    assert d is not None, explain(result)
    assert (d.code, d.message) == ("TEA602", f"node 'spin': {MESSAGE}")
    snippet_line = d.span.start_line - 6  # the snippet starts on (0-based) line 7, column 6
    assert snippet_line in lines
    text = code.splitlines()[snippet_line - 1]
    assert d.span.start_col == 6 + len(text) - len(text.lstrip())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("strategy", ["thread", "process"])
@pytest.mark.parametrize("name", ENGINE_LOOPS)
def test_branch_hot_loop_stops_by_its_deadline(
    tmp_path: Path, pool: ProcessPool, strategy: str, name: str
) -> None:
    code, _line = LOOPS[name]
    body = textwrap.indent(code, " " * 6)
    wf = write(
        tmp_path,
        f"""\
name: hot
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
""",
    )
    t0 = time.monotonic()
    result = run_file(wf, pool=pool, strategy=strategy, kill_grace=30.0)
    assert time.monotonic() - t0 < 20
    assert result.ok, explain(result)
    got = [(r["branch"], r["success"], r["error_type"], r["timeout"]) for r in result.branches]
    assert got == [("spin", False, "TimeoutError", True), ("fine", True, None, False)]
    assert (
        result.branches[0]["error"] == "node 'spin': lua code ran past the branch timeout of 0.3 s"
    )


# ---------------------------------------------------------------- coroutines across calls


@pytest.mark.timeout(30)
def test_more_coroutines_than_the_watchdog_tracks_still_time_out(vm: LuaVM) -> None:
    # The first TRACK_MAX coroutines are hooked by the watchdog, the rest by a count hook.
    code = (
        "local cos = {}\n"
        "for i = 1, 100 do cos[i] = coroutine.create(function() coroutine.yield() end) end\n"
        "for i = 1, 100 do coroutine.resume(cos[i]) end\n"
        "coroutine.wrap(function()\n  while true do end\nend)()"
    )
    with pytest.raises(LuaTimeout) as err:
        vm.run_node(code, {}, timeout=SHORT)
    assert (err.value.message, err.value.line) == (MESSAGE, 5)


@pytest.mark.timeout(30)
def test_a_coroutine_resumed_in_a_later_call_times_out(vm: LuaVM) -> None:
    vm.run_node(
        "gen = coroutine.wrap(function()\n  coroutine.yield(1)\n  while true do end\nend)\n"
        "return { first = gen() }",
        {},
        timeout=5.0,
    )
    with pytest.raises(LuaTimeout) as err:
        vm.run_node("return { second = gen() }", {}, timeout=SHORT)
    assert (err.value.message, err.value.line) == (MESSAGE, 3)


@pytest.mark.timeout(30)
def test_a_coroutine_started_without_a_limit_times_out_later() -> None:
    # Started in a call without a limit, it has a count hook; a later call's limit applies.
    with LuaVM(timeout=None) as free:
        free.run_node(
            "gen = coroutine.wrap(function()\n  coroutine.yield(1)\n  while true do end\nend)\n"
            "gen()",
            {},
        )
        with pytest.raises(LuaTimeout) as err:
            free.run_node("gen()", {}, timeout=SHORT)
        assert (err.value.message, err.value.line) == (MESSAGE, 3)


@pytest.mark.timeout(30)
def test_a_suspended_coroutine_resumed_after_the_deadline_stops_at_once(vm: LuaVM) -> None:
    code = (
        "local co = coroutine.create(function()\n  coroutine.yield()\n  local n = 0\n"
        "  while true do n = n + 1 end\nend)\n"
        "coroutine.resume(co)\n"
        "local ok = pcall(function() while true do end end)\n"
        "local ok2, e = coroutine.resume(co)\n"
        "return { ok = ok, ok2 = ok2 }"
    )
    with pytest.raises(LuaTimeout) as err:
        vm.run_node(code, {}, timeout=SHORT)
    assert err.value.message == MESSAGE
    assert err.value.line in (7, 8, 9)


@pytest.mark.timeout(30)
def test_a_tracked_coroutine_still_times_out_with_every_slot_taken(vm: LuaVM) -> None:
    # `gen` is tracked in the first call; 100 newer live coroutines then fill the watchdog's
    # slots (the rest get count hooks): in the third call `gen` is still stopped.
    vm.run_node(
        "gen = coroutine.wrap(function()\n  coroutine.yield(1)\n  while true do end\nend)\n"
        "return { first = gen() }",
        {},
        timeout=5.0,
    )
    vm.run_node(
        "keep = {}\nfor i = 1, 100 do\n"
        "  keep[i] = coroutine.create(function() coroutine.yield() end)\n"
        "  coroutine.resume(keep[i])\nend",
        {},
        timeout=5.0,
    )
    with pytest.raises(LuaTimeout) as err:
        vm.run_node("return { second = gen() }", {}, timeout=SHORT)
    assert (err.value.message, err.value.line) == (MESSAGE, 3)


@pytest.mark.timeout(60)
def test_deadlines_firing_at_any_moment_always_give_a_timeout() -> None:
    # Very short limits make the watchdog fire anywhere: before the user's code starts (while
    # the VM registers live coroutines), in it, in coroutines, or while the result is copied.
    code = (
        "local function f(d)\n  if d == 0 then return {} end\n  return f(d - 1)\nend\n"
        "gens = gens or {}\n"
        "local g = coroutine.wrap(function()\n"
        "  while true do f(20) coroutine.yield() end\nend)\n"
        "gens[#gens % 80 + 1] = g\n"
        "while true do f(30) g() end"
    )
    outcomes: set[str] = set()
    with LuaVM(timeout=None) as v:
        for i in range(1000):
            try:
                v.run_node(code, {}, timeout=0.001 + (i % 4) * 0.001)
            except LuaTimeout as exc:
                outcomes.add(exc.message.rsplit(" of ", 1)[0])
        assert v.run_node("return { ok = true }", {}) == {"ok": True}
    assert outcomes == {"lua code exceeded the time limit"}
