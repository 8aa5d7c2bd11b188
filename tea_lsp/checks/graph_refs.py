"""TEA201: node names in ``goto``, ``from``, ``to``, ``fan_in``, ``parallel`` and ``targets``
that name no node."""

from __future__ import annotations

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.spans import first_line_span
from tea_lsp.diagnostics import Fix, TextEdit
from tea_lsp.model.workflow import END, START, Ref, Workflow
from tea_lsp.util import suggest

# Roles where the virtual entry / exit may be named.
_START_ROLES = frozenset({"from"})
_END_ROLES = frozenset({"to", "goto", "targets"})
_LIST_LIMIT = 8


def _candidates(ref: Ref, names: list[str]) -> list[str]:
    candidates = list(names)
    if ref.role in _START_ROLES:
        candidates.append(START)
    if ref.role in _END_ROLES:
        candidates.append(END)
    return candidates


def _message(ref: Ref, names: list[str]) -> str | None:
    if ref.name == START:
        if ref.role in _START_ROLES:
            return None
        return f"'__start__' is the virtual entry and cannot be used in '{ref.role}'"
    if ref.name == END:
        if ref.role in _END_ROLES:
            return None
        return f"'__end__' is the virtual exit and cannot be used in '{ref.role}'"
    candidates = _candidates(ref, names)
    message = f"unknown node '{ref.name}' in '{ref.role}'"
    best = suggest(ref.name, candidates)
    if best is not None:
        return f"{message}; did you mean '{best}'?"
    if 0 < len(candidates) <= _LIST_LIMIT:
        shown = [f"'{c}'" for c in candidates]
        listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
        return f"{message}; expected {listed}"
    return message


def unresolved(wf: Workflow) -> list[tuple[Ref, str]]:
    """References that name no node (or misuse a virtual node), with their messages.

    Kept with the complete model: three graph checks ask."""
    kept: tuple[tuple[Ref, str], ...] | None = wf.kept("unresolved")
    if kept is not None:
        return list(kept)
    names = [n for n in wf.by_name if n not in (START, END)]
    out: list[tuple[Ref, str]] = []
    for ref in wf.refs():
        if ref.name in wf.by_name and ref.name not in (START, END):
            continue
        message = _message(ref, names)
        if message is not None:
            out.append((ref, message))
    wf.keep("unresolved", tuple(out))
    return out


def check(ctx: CheckContext) -> None:
    wf = ctx.workflow
    if wf is None:
        return
    names = [n for n in wf.by_name if n not in (START, END)]
    for ref, message in unresolved(wf):
        span = first_line_span(ref.span, ctx.lines)
        best = suggest(ref.name, _candidates(ref, names))
        fix = None
        if best is not None and ref.span.start_line == ref.span.end_line:
            fix = Fix(
                f"Replace '{ref.name}' with '{best}'",
                (TextEdit(ref.span, _requote(ctx, ref, best)),),
            )
        ctx.report("TEA201", span, message, fix=fix)


def _requote(ctx: CheckContext, ref: Ref, name: str) -> str:
    """``name`` written with the same quotes as the reference it replaces."""
    src = ctx.lines.line(ref.span.start_line)[ref.span.start_col : ref.span.end_col]
    if len(src) >= 2 and src[0] == src[-1] and src[0] in "'\"":
        return src[0] + name + src[0]
    return name
