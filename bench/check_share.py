"""Where the checking time of a large workflow goes: CPU time per check, against ``yaml.compose``.

Usage: ``.venv/bin/python bench/check_share.py [--mb 5] [--repeat 3]``.
Generates the workflow of ``bench/large_file.py``, then times ``analyze()`` with every check
wrapped in a CPU-time counter (medians over the repeats, the snippet caches cleared before each
run). A check that computes something shared (the Lua snippets' facts, the state flow) is
charged for it when it runs first: ``lua_syntax`` carries compiling and scanning every Lua
snippet. The last lines sum the Lua checks (TEA301-TEA311) and the template check
(TEA401-TEA405), and give every figure as a ratio to libyaml's ``yaml.compose`` of the same text.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.large_file import large_workflow
from tea_lsp import analysis
from tea_lsp.checks import ALL_CHECKS, CheckContext
from tea_lsp.langs import lua
from tea_lsp.langs.jinja import check as jinja_check

LUA_CHECKS = ("lua_syntax", "lua_semantics", "lua_writes", "lua_language")
TEMPLATE_CHECKS = ("jinja_templates",)

try:
    _LOADER: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover
    _LOADER = yaml.SafeLoader


def _clear_caches() -> None:
    lua.compile_check.cache_clear()
    lua.snippet_facts.cache_clear()
    jinja_check._analyze_cached.cache_clear()
    jinja_check._NEEDS.clear()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    text = large_workflow(args.mb)

    spent: dict[str, list[float]] = defaultdict(list)
    run: dict[str, float] = {}

    def timed(name: str, check: Callable[[CheckContext], None]) -> Callable[[CheckContext], None]:
        def wrapper(ctx: CheckContext) -> None:
            c0 = time.process_time()
            try:
                check(ctx)
            finally:
                run[name] = run.get(name, 0.0) + time.process_time() - c0

        return wrapper

    original = list(ALL_CHECKS)
    ALL_CHECKS[:] = [(name, timed(name, check)) for name, check in original]
    totals, bases = [], []
    try:
        for _ in range(args.repeat):
            gc.collect()
            gc.disable()  # as in bench/large_file.py (analyze() pauses the collector anyway)
            try:
                c0 = time.process_time()
                yaml.compose(text, Loader=_LOADER)
                bases.append(time.process_time() - c0)
                _clear_caches()
                run.clear()
                c0 = time.process_time()
                analysis.analyze(text, "large.yaml")
                totals.append(time.process_time() - c0)
            finally:
                gc.enable()
            for name, _check in original:
                spent[name].append(run.get(name, 0.0))
    finally:
        ALL_CHECKS[:] = original

    base = statistics.median(bases)
    total = statistics.median(totals)
    print(f"{len(text) / 1e6:.1f} MB, CPU seconds, medians of {args.repeat}")
    print(f"  {'yaml.compose (baseline)':<26} {base:7.3f}s {1.0:7.2f}x")
    print(f"  {'analyze() in all':<26} {total:7.3f}s {total / base:7.2f}x")
    medians = {name: statistics.median(times) for name, times in spent.items()}
    for name, seconds in sorted(medians.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.001:
            print(f"  {name:<26} {seconds:7.3f}s {seconds / base:7.2f}x {seconds / total:6.1%}")
    for label, names in (("Lua checks", LUA_CHECKS), ("template check", TEMPLATE_CHECKS)):
        seconds = sum(medians.get(n, 0.0) for n in names)
        print(f"  {label:<26} {seconds:7.3f}s {seconds / base:7.2f}x {seconds / total:6.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
