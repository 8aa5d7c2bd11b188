"""Compatibility with real TEA workflows: check every workflow under a TEA checkout.

Usage: ``.venv/bin/python bench/compat.py PATH [--json OUT] [--show CODE,...] [--files]``

PATH is a checkout of the TEA repository (or any folder). Every ``*.yaml``/``*.yml`` file with a
top-level ``nodes:`` key is checked with the default configuration. Prints the number of files
checked, the files that fail ``tea-lsp check`` (an error or a warning: the default
``--fail-on warning``), and the diagnostics per severity and per code. ``--show`` prints every
diagnostic of the named codes (``path:line:col: code message``); ``--files`` lists failing files;
``--json`` writes every diagnostic per file, for comparing two versions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tea_lsp.analysis import analyze, is_workflow_text
from tea_lsp.diagnostics import Severity


def workflow_files(root: Path) -> list[Path]:
    out: list[Path] = []
    for p in sorted(root.rglob("*")):
        if p.suffix not in (".yaml", ".yml") or "node_modules" in p.parts or not p.is_file():
            continue
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if is_workflow_text(text):
            out.append(p)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path", type=Path)
    ap.add_argument("--json", type=Path, help="write every diagnostic per file to this file")
    ap.add_argument("--show", default="", help="print each diagnostic of these codes")
    ap.add_argument("--files", action="store_true", help="list the failing files")
    args = ap.parse_args()

    files = workflow_files(args.path)
    show = {c.strip().upper() for c in args.show.split(",") if c.strip()}
    by_code: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    failing: list[str] = []
    per_file: dict[str, list[dict[str, object]]] = {}
    t0 = time.perf_counter()
    for p in files:
        rel = str(p.relative_to(args.path))
        a = analyze(p.read_text(encoding="utf-8", errors="replace"), rel)
        per_file[rel] = []
        for d in a.diagnostics:
            by_code[d.code] += 1
            by_severity[d.severity.label] += 1
            per_file[rel].append(
                {
                    "line": d.span.start_line + 1,
                    "column": d.span.start_col + 1,
                    "code": d.code,
                    "severity": d.severity.label,
                    "message": d.message,
                }
            )
            if d.code in show:
                print(f"{rel}:{d.span.start_line + 1}:{d.span.start_col + 1}: {d.code} {d.message}")
        if any(d.severity <= Severity.WARNING for d in a.diagnostics):
            failing.append(rel)
    elapsed = time.perf_counter() - t0

    print(f"files checked: {len(files)} in {elapsed:.2f} s")
    print(f"files failing check (error or warning): {len(failing)}")
    print(
        "diagnostics by severity: "
        + ", ".join(f"{s} {by_severity[s]}" for s in ("error", "warning", "info", "hint"))
    )
    print("diagnostics by code:")
    for code, n in sorted(by_code.items()):
        print(f"  {code} {n}")
    if args.files:
        print("failing files:")
        for rel in failing:
            print(f"  {rel}")
    if args.json:
        args.json.write_text(json.dumps(per_file, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
