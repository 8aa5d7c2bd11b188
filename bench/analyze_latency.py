"""``analyze()`` latency on a generated workflow of N Lua snippets and N templates.

Usage: ``.venv/bin/python bench/analyze_latency.py [--nodes 300] [--repeat 7]``.

Prints, in one run (medians of ``--repeat``):

* baseline — ``yaml.compose`` of the same text (libyaml), the floor any YAML tool pays;
* cold, fresh process — the first ``analyze()`` in a new interpreter (imports excluded;
  includes creating the compile VM and reading the sandbox's globals);
* cold, caches cleared — ``analyze()`` in this process after clearing the snippet caches;
* warm — the same text again (everything cached);
* after a one-character edit inside one Lua snippet (only that snippet is recompiled);
* per Lua snippet: compile check + globals listing, from cold caches;
* globals listing, tokenizer + scope pass vs bytecode (``string.dump`` + Lua 5.4 dump reader);
* compiling in a fresh VM per snippet vs the per-thread compile-only VM.

Ratios are against the baseline measured in the same run. Aims: cold < 150 ms, edit < 30 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from tea_lsp.analysis import analyze
from tea_lsp.checks import lua_semantics, lua_syntax
from tea_lsp.checks.base import CheckContext
from tea_lsp.config import Config
from tea_lsp.langs import lua, lua_scan
from tea_lsp.langs.lua import check as lua_check
from tea_lsp.model.build import build_workflow
from tea_lsp.syntax.yaml_tree import parse_yaml

ROOT = Path(__file__).resolve().parent.parent


def generate_workflow(n_nodes: int) -> str:
    """A workflow with, for each ``i < n_nodes``, a Lua node and a ``json.stringify`` node.

    The Lua node ``lua_<i>`` reads ``state.x_<i-1>`` and returns ``x_<i>``; the action node
    ``fmt_<i>`` renders ``'{{ state.x_<i> }}'`` into ``s_<i>``. Every key is declared in
    ``state_schema``, so the file is clean: the checks run in full and report nothing.
    """
    out = [
        f"name: generated_{n_nodes}",
        f"description: {n_nodes} Lua snippets and {n_nodes} templates",
        "state_schema:",
    ]
    for i in range(n_nodes):
        out += [f"  x_{i}: int", f"  s_{i}: str"]
    out += ["initial_state:", "  x_0: 1", "nodes:"]
    for i in range(n_nodes):
        prev = f"x_{i - 1}" if i else "x_0"
        out += [
            f"  - name: lua_{i}",
            "    run: |",
            f"      local base = state.{prev} or {i}",
            "      local parts = {}",
            "      for k = 1, 3 do parts[#parts + 1] = base * k end",
            "      local total = 0",
            "      for _, v in ipairs(parts) do total = total + v // 2 end",
            f"      return {{ x_{i} = total + {i} }}",
            f"  - name: fmt_{i}",
            "    uses: json.stringify",
            "    with:",
            f"      data: '{{{{ state.x_{i} }}}}'",
            f"    output: s_{i}",
        ]
    return "\n".join(out) + "\n"


def clear_caches() -> None:
    """Forget every per-snippet result (Lua and, when present, compiled templates)."""
    lua.compile_check.cache_clear()
    lua.snippet_facts.cache_clear()
    from tea_lsp.langs.jinja import check, render

    render._cache.clear()
    check._analyze_cached.cache_clear()
    check._NEEDS.clear()


def median_ms(fn: Callable[[], Any], repeat: int, setup: Callable[[], None] | None = None) -> float:
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


_FRESH = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from bench.analyze_latency import generate_workflow
    from tea_lsp.analysis import analyze
    text = generate_workflow({n})
    t0 = time.perf_counter()
    a = analyze(text, "gen.yaml")
    print((time.perf_counter() - t0) * 1000, len(a.diagnostics))
    """
)


def fresh_process_ms(n: int, repeat: int) -> tuple[float, int]:
    times, ndiags = [], 0
    for _ in range(max(1, repeat // 2)):
        proc = subprocess.run(
            [sys.executable, "-c", _FRESH.format(root=str(ROOT), n=n)],
            capture_output=True,
            text=True,
            check=True,
        )
        ms, count = proc.stdout.split()
        times.append(float(ms))
        ndiags = int(count)
    return statistics.median(times), ndiags


def _context(text: str) -> CheckContext:
    parsed = parse_yaml(text)
    doc = parsed.documents[0]
    return CheckContext(text, "gen.yaml", parsed.lines, doc, build_workflow(doc.root), Config())


def lua_checks_ms(text: str, edited: str, repeat: int) -> tuple[float, float, float]:
    """The Lua checks alone (TEA301-TEA308) on a parsed document: cold, warm, after an edit."""

    def run(t: str) -> Callable[[], None]:
        def go() -> None:
            ctx = _context(t)
            t0 = time.perf_counter()
            lua_syntax.check(ctx)
            lua_semantics.check(ctx)
            spent.append((time.perf_counter() - t0) * 1000)

        return go

    def measure(t: str, setup: Callable[[], None]) -> float:
        spent.clear()
        for _ in range(repeat):
            setup()
            run(t)()
        return statistics.median(spent)

    spent: list[float] = []
    cold = measure(text, clear_caches)
    warm = measure(text, lambda: None)

    def reset() -> None:
        clear_caches()
        run(text)()
        spent.pop()  # the re-warming run is not part of the measure

    edit = measure(edited, reset)
    return cold, warm, edit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    n, repeat = args.nodes, args.repeat
    text = generate_workflow(n)
    marker = f"local base = state.x_{n // 2 - 1} or {n // 2}"
    assert marker in text
    edited = text.replace(marker, marker[:-1] + "9")

    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    base = median_ms(lambda: yaml.compose(text, Loader=loader), repeat)
    fresh, ndiags = fresh_process_ms(n, repeat)
    cold = median_ms(lambda: analyze(text, "gen.yaml"), repeat, setup=clear_caches)
    analyze(text, "gen.yaml")
    warm = median_ms(lambda: analyze(text, "gen.yaml"), repeat)

    def edit_once() -> None:
        analyze(edited, "gen.yaml")

    def reset_edit() -> None:
        lua.compile_check.cache_clear()
        lua.snippet_facts.cache_clear()
        analyze(text, "gen.yaml")

    edit = median_ms(edit_once, repeat, setup=reset_edit)

    lua_cold, lua_warm, lua_edit = lua_checks_ms(text, edited, repeat)

    a = analyze(text, "gen.yaml")
    wf = a.workflow
    assert wf is not None
    snippets = [nd.code.text for nd in wf.all_nodes() if nd.code is not None]

    def per_snippet() -> None:
        for s in snippets:
            lua.compile_check(s)
            lua.snippet_facts(s)

    lua_total = median_ms(per_snippet, repeat, setup=clear_caches)
    scan = median_ms(lambda: [lua_scan.scan(s) for s in snippets], repeat)
    dump = median_ms(lambda: [lua_check._facts_from_bytecode(s) for s in snippets], repeat)
    shared = median_ms(lambda: [lua_check._load(s) for s in snippets], repeat)

    fresh_vm = median_ms(lambda: [lua_check._load_in_fresh_vm(s) for s in snippets], repeat)

    def row(label: str, ms: float) -> None:
        print(f"  {label:<46} {ms:9.2f} ms   {ms / base:7.1f}x baseline")

    print(f"analyze() on {n} Lua snippets + {n} templates ({len(text) / 1024:.0f} KiB), ")
    print(f"diagnostics: {ndiags} (expected 0), medians of {repeat}")
    row("baseline: yaml.compose (libyaml)", base)
    row("cold: first analyze() in a fresh process", fresh)
    row("cold: analyze(), snippet caches cleared", cold)
    row("warm: analyze() of the same text", warm)
    row("edit: one character in one Lua snippet", edit)
    row("Lua checks alone (TEA301-308), cold", lua_cold)
    row("Lua checks alone, warm", lua_warm)
    row("Lua checks alone, after the edit", lua_edit)
    print(f"  per Lua snippet (compile + globals, cold): {lua_total / len(snippets) * 1000:.1f} µs")
    print(
        f"  globals listing: tokenizer+scope {scan / len(snippets) * 1000:.1f} µs/snippet, "
        f"bytecode {dump / len(snippets) * 1000:.1f} µs/snippet "
        f"(bytecode / tokenizer = {dump / scan:.2f}x)"
    )
    print(
        f"  compile: shared compile-only VM {shared / len(snippets) * 1000:.1f} µs/snippet, "
        f"fresh VM per snippet {fresh_vm / len(snippets) * 1000:.1f} µs/snippet"
    )
    ok = fresh < 150 and cold < 150 and edit < 30
    print(f"aims (cold < 150 ms, edit < 30 ms): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
