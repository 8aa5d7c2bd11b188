"""Where checking a large workflow spends its time: one line per stage of ``analyze()``.

Usage: ``.venv/bin/python bench/large_file_stages.py [--mb 5] [--repeat 3]``.

The workflow is ``bench/large_file.py``'s. Prints the median CPU time of each stage (parsing
the YAML tree, building the model, then each check in ``ALL_CHECKS`` order, on the same
context as ``analyze()`` gives them), its ratio to libyaml's ``yaml.compose`` of the same text
measured in the same run, and its share of the whole. The cyclic collector is off, as it is
during ``analyze()``. A stage's time includes what it computes first for later ones (the
routing table for the first graph check, the state flow for the first check asking for it).
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
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.large_file import large_workflow
from tea_lsp.checks import ALL_CHECKS
from tea_lsp.checks.base import CheckContext
from tea_lsp.config import Config
from tea_lsp.model.build import build_workflow
from tea_lsp.syntax.text import normalize
from tea_lsp.syntax.yaml_tree import parse_yaml

try:
    _LOADER: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover
    _LOADER = yaml.SafeLoader


def _cpu(times: dict[str, list[float]], name: str, fn: Callable[[], Any]) -> Any:
    start = time.process_time()
    result = fn()
    times.setdefault(name, []).append(time.process_time() - start)
    return result


def _one_run(text: str, times: dict[str, list[float]]) -> None:
    _cpu(times, "yaml.compose (baseline)", partial(yaml.compose, text, Loader=_LOADER))
    parsed = _cpu(times, "parse_yaml", partial(parse_yaml, text))
    doc = parsed.documents[0]
    wf = _cpu(times, "build_workflow", partial(build_workflow, doc.root))
    ctx = CheckContext(text, "large.yaml", parsed.lines, doc, wf, Config())
    for name, check in ALL_CHECKS:
        _cpu(times, f"check {name}", partial(check, ctx))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    text = normalize(large_workflow(args.mb))
    times: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        gc.collect()
        gc.disable()
        try:
            _one_run(text, times)
        finally:
            gc.enable()
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians.pop("yaml.compose (baseline)")
    total = sum(medians.values())
    print(f"{len(text) / 1e6:.1f} MB, medians of {args.repeat} (CPU time)")
    print(f"  {'yaml.compose (baseline)':28s} {base:7.3f} s   1.00x")
    for name, value in medians.items():
        print(f"  {name:28s} {value:7.3f} s {value / base:6.2f}x {100 * value / total:5.1f} %")
    print(f"  {'all stages':28s} {total:7.3f} s {total / base:6.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
