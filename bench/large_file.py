"""Checking time of large workflow files against ``yaml.compose`` of the same text, one run.

Usage: ``.venv/bin/python bench/large_file.py [--mb 1 5] [--repeat 3]``.
For each size, a workflow of that many megabytes (Lua nodes, action nodes with templates,
every snippet and template with its own text, not only its own digits;
shared settings through an anchor, which also keeps ``analyze`` from reusing the trees of
the previous repeat) is generated; prints the median wall time of libyaml's
``yaml.compose`` (the floor: parsing alone) and of ``analyze()`` (``tea-lsp check`` minus
reading the file), their ratio, the time per megabyte, and the CPU time of ``analyze()`` with
its ratio to ``yaml.compose``'s. A ratio that stays flat as the
size grows means checking is linear in the file size.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tea_lsp.analysis import analyze

try:
    _LOADER: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover
    _LOADER = yaml.SafeLoader


def _word(i: int) -> str:
    """A distinct identifier without digits for each ``i`` (``a``, ``b``, ..., ``ba``, ...)."""
    out = ""
    while True:
        out = chr(ord("a") + i % 26) + out
        i //= 26
        if not i:
            return "v_" + out


def large_workflow(megabytes: float) -> str:
    parts = [
        "name: large\n",
        "settings:\n  variables:\n    retry: &retry {attempts: 3, delay: 1}\n",
        "state_schema:\n  total: int\n",
        "nodes:\n",
    ]
    size = sum(map(len, parts))
    i = 0
    while size < megabytes * 1_000_000:
        # every snippet and template its own text, not only in its digits: a checker may reuse
        # work for repeated text, and real files repeat some, but not every node
        word = _word(i)
        part = (
            f"  - name: step_{i}\n"
            "    language: lua\n"
            "    run: |\n"
            f"      local {word} = (state.total or 0) + {i}\n"
            f"      return {{ total = {word} }}\n"
            f"  - name: fetch_{i}\n"
            "    uses: json.parse\n"
            "    with:\n"
            f"      text: '{{{{ state.total }}}} in {word}'\n"
            f"    output: parsed_{i}\n"
        )
        parts.append(part)
        size += len(part)
        i += 1
    return "".join(parts)


def _median(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and CPU times; the cyclic collector is off for both (``analyze`` pauses it
    anyway). CPU time is what other load on the machine disturbs least."""
    times, cpus = [], []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        finally:
            gc.enable()
    return statistics.median(times), statistics.median(cpus)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, nargs="+", default=[1.0, 5.0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(
        f"{'size':>8} {'yaml.compose':>13} {'analyze':>9} {'ratio':>6} {'s/MB':>6}"
        f" {'analyze cpu':>12} {'cpu ratio':>9}"
    )
    for mb in args.mb:
        text = large_workflow(mb)
        base, base_cpu = _median(partial(yaml.compose, text, Loader=_LOADER), args.repeat)
        ours, ours_cpu = _median(partial(analyze, text, "large.yaml"), args.repeat)
        size = len(text) / 1e6
        print(
            f"{size:6.1f}MB {base:12.2f}s {ours:8.2f}s {ours / base:6.1f} {ours / size:6.2f}"
            f" {ours_cpu:11.2f}s {ours_cpu / base_cpu:9.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
