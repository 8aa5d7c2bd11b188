"""Start-up: wall time of short commands, in one run, against ``python -c pass``.

Usage: ``.venv/bin/python bench/startup.py [--repeat 15] [--file FILE] [--bin DIR]`` (default
FILE: ``examples/parallel_pipeline.tea.yaml``; DIR: the ``bin`` folder of the environment to
measure, default this interpreter's, e.g. that of a regular ``pip install .`` venv).
Prints the median wall time of each command and its ratio to ``python -c pass`` (the cost of
starting the interpreter at all), and the median CPU time (user + system) of the command, which
other load on the machine disturbs less than wall time. Aims: one-file ``check`` within 3x of
``python -c pass``, and faster than check-jsonschema (schema only) on the same file. An
editable install (``make install``) adds its import hook to every start; a regular install
does not: it makes ``python -c pass`` slower, and the ratios smaller.

``check FILE`` is measured twice: answered from the result cache (a temporary cache folder,
filled by the warm-up run), and with ``--no-cache`` (the file analysed: what CI's first run
and every changed file cost). The row ``import argparse, pathlib, dataclasses`` is the floor a
Python command line with those modules pays before doing anything.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


# As on a user's machine: byte-code is cached (this sandbox sets PYTHONDONTWRITEBYTECODE,
# which makes every start compile tea-lsp's and its dependencies' sources again).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _time(cmd: list[str], repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU times of ``repeat`` runs."""
    # warm the disk and byte-code caches
    subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False, env=ENV)
    walls, cpus = [], []
    for _ in range(repeat):
        c0 = _cpu()
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False, env=ENV)
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
    return walls, cpus


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--file", default="examples/parallel_pipeline.tea.yaml")
    ap.add_argument("--bin", type=Path, default=BIN, help="bin folder of the environment")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tea-lsp-bench-") as cache:
        return _run(args, cache)


def _run(args: argparse.Namespace, cache: str) -> int:
    tea = str(args.bin / "tea-lsp")
    python = str(args.bin / "python")
    check = [tea, "check", "--no-config"]
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "import argparse, pathlib, dataclasses": [
            python,
            "-c",
            "import argparse, pathlib, dataclasses; argparse.ArgumentParser().add_subparsers()",
        ],
        "tea-lsp --version": [tea, "--version"],
        "tea-lsp explain TEA201": [tea, "explain", "TEA201"],
        "check FILE (cached)": [*check, "--cache-dir", cache, args.file],
        "check --no-cache FILE": [*check, "--no-cache", args.file],
        "check-jsonschema FILE": [
            str(BIN / "check-jsonschema"),
            "--schemafile",
            "schemas/workflow.schema.json",
            args.file,
        ],
    }
    # interleave the commands so that load on the machine hits them alike
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(3):
        for name, cmd in commands.items():
            w, c = _time(cmd, max(1, args.repeat // 3))
            walls[name].extend(w)
            cpus[name].extend(c)
    base = statistics.median(walls["python -c pass"])
    base_cpu = statistics.median(cpus["python -c pass"])
    print(f"{'command':<38} {'wall':>9} {'ratio':>6} {'cpu':>9} {'ratio':>6}  (to python -c pass)")
    for name in commands:
        wall = statistics.median(walls[name])
        cpu = statistics.median(cpus[name])
        ratios = f"{wall / base:5.2f}x {cpu * 1000:6.1f} ms {cpu / base_cpu:5.2f}x"
        print(f"{name:<38} {wall * 1000:6.1f} ms {ratios}")
    cjs = statistics.median(walls["check-jsonschema FILE"])
    for name in ("check FILE (cached)", "check --no-cache FILE"):
        ratio = statistics.median(walls[name]) / cjs
        print(f"{name} / check-jsonschema: {ratio:.2f} (below 1.0: tea-lsp is faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
