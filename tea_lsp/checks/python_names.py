"""TEA702 undefined names, TEA703 unknown state keys, TEA704 non-mapping returns, TEA705 updates
lost to a stray ``return`` in Python code.

Names are checked against what TEA's Python engine gives a node's code (``ENGINE_NAMES``,
builtins, the node's ``with:`` argument names) plus every name the code binds anywhere
(assignments, imports, definitions, parameters, comprehension variables, ``global``): a
lenient reading that never reports a name the code could define. ``from x import *`` switches
the name check off for that snippet.
"""

from __future__ import annotations

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.lua_common import provided_state_keys
from tea_lsp.checks.python_common import PyEntry, python_entries, python_state_keys
from tea_lsp.diagnostics import Fix, TextEdit
from tea_lsp.langs.python.check import BUILTIN_NAMES, ENGINE_NAMES, EXPRESSION_NAMES
from tea_lsp.util import did_you_mean, suggest


def check(ctx: CheckContext) -> None:
    wf = ctx.workflow
    if wf is None:
        return
    entries = [e for e in python_entries(ctx) if e.facts is not None]
    if not entries:
        return
    provided = _provided(ctx)
    for e in entries:
        _names(ctx, e)
        if provided is not None:
            _keys(ctx, e, provided)
        _returns(ctx, e)
        _lost(ctx, e)


def _known(e: PyEntry) -> set[str]:
    known = set(BUILTIN_NAMES)
    known |= EXPRESSION_NAMES if e.mode == "eval" else ENGINE_NAMES
    text = e.snippet.text
    if e.mode == "exec" and ("OpenAI" in text or "openai" in text):
        known.add("OpenAI")
    if e.node.with_args is not None:
        known.update(k for k in e.node.with_args.keys() if isinstance(k, str))  # noqa: SIM118
    return known


def _names(ctx: CheckContext, e: PyEntry) -> None:
    facts = e.facts
    assert facts is not None
    if facts.star_import or not facts.free_names:
        return
    known = _known(e)
    candidates = (known | facts.bound) - {n for n in BUILTIN_NAMES if n.startswith("_")}
    seen: set[str] = set()
    for use in facts.free_names:
        if use.name in known or use.name in seen:
            continue
        seen.add(use.name)  # once per name and snippet
        span = e.span(use.line, use.col, use.col + len(use.name))
        best = suggest(use.name, candidates)
        fix = None
        if best is not None and e.smap.exact:
            fix = Fix(f"Replace '{use.name}' with '{best}'", (TextEdit(span, best),))
        ctx.report(
            "TEA702",
            span,
            f"undefined name '{use.name}'{did_you_mean(use.name, candidates)}",
            fix=fix,
        )


def _provided(ctx: CheckContext) -> frozenset[str] | None:
    """Keys a read may name, or ``None`` when the check cannot know (then it stays quiet)."""
    wf = ctx.workflow
    if wf is None or wf.state_schema is None:
        return None
    py_keys, opaque = python_state_keys(ctx)
    if opaque:
        return None
    return provided_state_keys(ctx) | py_keys | {"parallel_results"}


def _keys(ctx: CheckContext, e: PyEntry, provided: frozenset[str]) -> None:
    facts = e.facts
    assert facts is not None
    if facts.state_rebound:
        return
    extra = e.node.item_names()
    for read in facts.key_reads:
        if read.key in provided or read.key in extra:
            continue
        ctx.report(
            "TEA703",
            e.span(read.line, read.col, read.end_col),
            f"state key '{read.key}' is not declared in 'state_schema'"
            f"{did_you_mean(read.key, provided | extra)}",
        )


def _returns(ctx: CheckContext, e: PyEntry) -> None:
    facts = e.facts
    assert facts is not None
    for r in facts.bad_returns:
        ctx.report(
            "TEA704",
            e.span(r.line, r.col, r.end_col),
            f"python node returns {r.what}, not a dict of state updates; TEA stores it as "
            "state key 'result' (return {'result': ...} if that is meant)",
        )


def _lost(ctx: CheckContext, e: PyEntry) -> None:
    facts = e.facts
    assert facts is not None
    lost = facts.lost
    if lost is None:
        return
    names = ", ".join(f"'{n}'" for n in lost.names[:3]) + (", ..." if len(lost.names) > 3 else "")
    ctx.report(
        "TEA705",
        e.span(lost.line, lost.col, lost.col + len("return")),
        f"the code contains 'return' but no return statement: TEA's Python engine then runs it "
        f"as a function, so {names} {'is' if len(lost.names) == 1 else 'are'} not merged into "
        "the state; return a dict of updates (or avoid the word)",
    )
