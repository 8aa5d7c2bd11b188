"""How many workflows of a TEA checkout run to completion with ``tea-lsp run --input '{}'``.

Usage: ``.venv/bin/python bench/run_compat.py PATH [--source DIR] [--jobs N] [--timeout S]``

``--source`` runs the tea-lsp found in ``DIR`` (a checkout of another commit, to compare
before/after) instead of this one. ``--skip-checker`` measures the runner alone: checker
errors (other than unreadable YAML, TEA0xx) are dropped before running, as if the checker
accepted every file TEA accepts. Prints the count per outcome (exit code): 0 ran to
completion, 1 the run failed, 3 checker errors or refused (TEA607), timeout; with
``--files``, the outcome of every file.

The workflows' own code runs (Python and Lua nodes, file actions relative to each file):
point it only at a checkout you trust, as ``tea run`` would.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import inspect
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from bench.compat import workflow_files  # noqa: E402


def runner_only(path: str) -> int:
    """Run one file with checker errors dropped; exit codes as ``tea-lsp run``."""
    from tea_lsp.analysis import analyze
    from tea_lsp.diagnostics import Severity
    from tea_lsp.engine import run_workflow

    analysis = analyze(Path(path).read_text(encoding="utf-8", errors="replace"), path)
    analysis.diagnostics = [
        d for d in analysis.diagnostics if d.severity != Severity.ERROR or d.code.startswith("TEA0")
    ]
    result = run_workflow(analysis, input={})
    if not result.ok:
        first = result.error_diagnostic or next(
            (d for d in result.diagnostics if d.severity == Severity.ERROR), None
        )
        shown = f"{first.code} {first.message}" if first is not None else result.error
        print(f"{result.status}: {shown}", file=sys.stderr)
    return {"ok": 0, "failed": 1, "invalid": 3, "refused": 3}.get(result.status, 130)


def run_one(
    path: Path, source: Path, timeout: float, skip_checker: bool = False
) -> tuple[Path, str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(source) + os.pathsep + env.get("PYTHONPATH", "")
    if skip_checker:  # the function's source, so that it runs against ``source``'s tea_lsp
        code = inspect.getsource(runner_only) + "\nsys.exit(runner_only(sys.argv[1]))\n"
        prelude = "import sys\nfrom pathlib import Path\n"
        cmd = [sys.executable, "-c", prelude + code, str(path)]
    else:
        cmd = [sys.executable, "-m", "tea_lsp", "run", str(path), "--input", "{}"]
    with tempfile.TemporaryDirectory() as tmp:
        env["TMPDIR"] = tmp
        try:
            proc = subprocess.run(
                cmd,
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            return path, "timeout", ""
    first = (proc.stderr.strip().splitlines() or [""])[0]
    return path, str(proc.returncode), first


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path", type=Path)
    ap.add_argument("--source", type=Path, default=HERE, help="tea-lsp checkout to run")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--files", action="store_true", help="print every file's outcome")
    ap.add_argument("--skip-checker", action="store_true", help="measure the runner alone")
    args = ap.parse_args()
    files = workflow_files(args.path)
    counts: collections.Counter[str] = collections.Counter()
    rows: list[tuple[Path, str, str]] = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for row in pool.map(
            lambda p: run_one(p, args.source, args.timeout, args.skip_checker), files
        ):
            rows.append(row)
            counts[row[1]] += 1
    print(f"workflows: {len(files)}  (tea-lsp from {args.source})")
    for outcome, n in sorted(counts.items()):
        label = {"0": "ran to completion", "1": "run failed", "3": "invalid or refused"}.get(
            outcome, outcome
        )
        print(f"  exit {outcome:<8} {n:4d}  {label}")
    if args.files:
        for path, outcome, first in rows:
            print(f"{outcome:<8} {path.relative_to(args.path)}  {first[:140]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
