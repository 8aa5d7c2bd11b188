"""``tea-lsp check`` vs ``check-jsonschema`` on ~200 generated workflows, in one run.

Usage: ``.venv/bin/python bench/check_throughput.py [--files 200] [--repeat 3]``.
Prints wall times (median of the repeats) and the ratio tea-lsp / check-jsonschema:
below 1.0 means tea-lsp is faster while checking far more (graph, Lua, templates).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.workflows import realistic_workflow

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _time(cmd: list[str], repeat: int) -> tuple[float, int]:
    times = []
    code = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        code = proc.returncode
    return statistics.median(times), code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(args.files):
            p = Path(tmp) / f"wf_{i:03d}.tea.yaml"
            p.write_text(realistic_workflow(i), encoding="utf-8")
            files.append(str(p))
        tea = [str(BIN / "tea-lsp"), "check", "--no-cache", "--no-config", "--format", "json", tmp]
        cjs = [str(BIN / "check-jsonschema"), "--schemafile", "schemas/workflow.schema.json"]
        t_tea, rc_tea = _time(tea, args.repeat)
        t_cjs, rc_cjs = _time(cjs + files, args.repeat)
        t_one, _ = _time(
            [
                str(BIN / "tea-lsp"),
                "check",
                "--no-cache",
                "--no-config",
                "--format",
                "json",
                "-j",
                "1",
                tmp,
            ],
            args.repeat,
        )
    n = args.files
    print(f"files: {n} generated workflows")
    print(f"check-jsonschema (schema only)   {t_cjs * 1000:8.0f} ms  exit {rc_cjs}  (baseline)")
    print(f"tea-lsp check (all checks, -j 0) {t_tea * 1000:8.0f} ms  exit {rc_tea}")
    print(f"tea-lsp check (all checks, -j 1) {t_one * 1000:8.0f} ms")
    print(f"ratio tea-lsp / check-jsonschema: {t_tea / t_cjs:.2f}  (aim < 1.0)")
    print(f"ratio tea-lsp -j1 / check-jsonschema: {t_one / t_cjs:.2f}")
    print(
        f"per file: tea-lsp {t_tea / n * 1000:.2f} ms, check-jsonschema {t_cjs / n * 1000:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
