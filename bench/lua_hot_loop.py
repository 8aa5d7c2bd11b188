"""Lua hot loop: the cost of the node time limit, in one run, against bare lupa.

Usage: ``.venv/bin/python bench/lua_hot_loop.py [--n 40000000] [--repeat 5]``.
Runs the same integer loop (``for i = 1, n do s = s + i % 7 end``) in a bare ``lupa.lua54``
runtime and as a node of tea-lsp's sandboxed VM (``LuaVM.run_node`` with a 60 s time limit),
in the main Lua thread and inside a coroutine. Prints the median of each and its ratio to
bare lupa. Aim: both within 1.1x of bare lupa (the deadline costs nothing until it passes).
Set ``TEA_LSP_LUA_COUNT_HOOK=1`` to measure the count-hook fallback instead (about 2x).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import lupa.lua54 as lupa

from tea_lsp.langs.lua import LuaVM

LOOP = "local s = 0\nfor i = 1, n do s = s + i % 7 end\n"


def _median(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=40_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.n

    rt = lupa.LuaRuntime()
    bare = rt.eval(f"function(n)\n{LOOP}return s\nend")
    vm = LuaVM(timeout=60.0)
    node = f"local n = state.n\n{LOOP}return {{ s = s }}"
    co_node = (
        f"local n = state.n\nreturn coroutine.wrap(function()\n{LOOP}return {{ s = s }}\nend)()"
    )
    expected = bare(n)
    assert vm.run_node(node, {"n": n}) == {"s": expected}
    assert vm.run_node(co_node, {"n": n}) == {"s": expected}

    rows = [
        ("bare lupa", _median(lambda: bare(n), args.repeat)),
        ("node (LuaVM, 60 s limit)", _median(lambda: vm.run_node(node, {"n": n}), args.repeat)),
        (
            "node, loop in a coroutine",
            _median(lambda: vm.run_node(co_node, {"n": n}), args.repeat),
        ),
    ]
    base = rows[0][1]
    print(f"{n:,} iterations, median of {args.repeat}")
    for name, t in rows:
        print(f"  {name:<28} {t:8.3f} s  {t / base:5.2f}x")


if __name__ == "__main__":
    main()
