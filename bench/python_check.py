"""Cost of the static Python check per snippet, against a bare ``ast.parse`` in the same run.

Usage: ``.venv/bin/python bench/python_check.py [PATH]`` (PATH: a TEA checkout; default: the
repository's own fixtures). Collects every snippet read as Python (unmarked code included) and
times, uncached: ``ast.parse`` alone (the baseline), ``python_syntax_error`` and
``python_facts`` (what the checker runs), and ``auto_language`` (the language decision).
"""

from __future__ import annotations

import ast
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.compat import workflow_files
from tea_lsp.langs import detect
from tea_lsp.langs.python import check
from tea_lsp.model.build import build_workflow
from tea_lsp.syntax.yaml_tree import parse_yaml


def snippets(root: Path) -> list[str]:
    out: list[str] = []
    for p in workflow_files(root):
        for doc in parse_yaml(p.read_text(encoding="utf-8", errors="replace")).documents:
            wf = build_workflow(doc.root)
            if wf is None:
                continue
            for n in wf.all_nodes():
                if n.code is not None and detect.resolve_language(n, "auto") == "python":
                    out.append(n.code.text)
    return out


def _parses(text: str) -> bool:
    try:
        ast.parse(check.mask_jinja(text))
    except (SyntaxError, ValueError):
        return False
    return True


def timed(fn: Callable[[str], object], texts: list[str], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for t in texts:
            fn(t)
        best = min(best, time.perf_counter() - t0)
    return best / max(1, len(texts))


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "tests"
    # snippets that parse (the error fixtures hold broken ones, where the baseline would raise)
    texts = [t for t in snippets(root) if _parses(t)]
    if not texts:
        print("no Python snippets found")
        return 1
    # Unique texts with a salt per round would defeat caches; calling the undecorated
    # functions is simpler.
    parse = timed(lambda t: ast.parse(check.mask_jinja(t)), texts, 5)
    syntax = timed(lambda t: check._parse(t, "exec"), texts, 5)
    facts = timed(lambda t: check._analysis.__wrapped__(t, "exec"), texts, 5)

    chars = sum(len(t) for t in texts) / len(texts)
    print(f"{len(texts)} Python snippets, {chars:.0f} characters on average")
    print(f"ast.parse (baseline):   {parse * 1e6:8.1f} µs per snippet")
    print(f"parse + compile:        {syntax * 1e6:8.1f} µs  ({syntax / parse:.2f}x baseline)")
    print(f"parse, compile, facts:   {facts * 1e6:8.1f} µs  ({facts / parse:.2f}x baseline)")

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
