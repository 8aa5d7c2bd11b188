"""Start-up: wall time of short commands, in one run, against ``python -c pass``.

Usage: ``.venv/bin/python bench/startup.py [--repeat 15] [--file FILE]`` (default FILE:
``examples/parallel_pipeline.tea.yaml``).
Prints the median wall time of each command and its ratio to ``python -c pass`` (the cost of
starting the interpreter at all), and the median CPU time (user + system) of the command, which
other load on the machine disturbs less than wall time. Aims: one-file ``check`` within 3x of
``python -c pass``, and faster than check-jsonschema (schema only) on the same file. An
editable install (``make install``) adds its import hook to every start; a regular install
does not.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
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
    args = ap.parse_args()
    tea = str(BIN / "tea-lsp")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "tea-lsp --version": [tea, "--version"],
        "tea-lsp explain TEA201": [tea, "explain", "TEA201"],
        "tea-lsp check FILE": [tea, "check", "--no-config", args.file],
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
    print(f"{'command':<26} {'wall':>9} {'ratio':>6} {'cpu':>9} {'ratio':>6}  (to python -c pass)")
    for name in commands:
        wall = statistics.median(walls[name])
        cpu = statistics.median(cpus[name])
        ratios = f"{wall / base:5.2f}x {cpu * 1000:6.1f} ms {cpu / base_cpu:5.2f}x"
        print(f"{name:<26} {wall * 1000:6.1f} ms {ratios}")
    check = statistics.median(walls["tea-lsp check FILE"])
    cjs = statistics.median(walls["check-jsonschema FILE"])
    print(f"check / check-jsonschema: {check / cjs:.2f} (below 1.0: tea-lsp is faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
