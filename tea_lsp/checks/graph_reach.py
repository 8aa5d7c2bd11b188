"""TEA204 nodes never reached from the entry, TEA209 ``goto`` plus outgoing edges."""

from __future__ import annotations

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.graph_refs import unresolved
from tea_lsp.checks.spans import first_line_span
from tea_lsp.diagnostics import Related
from tea_lsp.model.routing import reachable
from tea_lsp.model.workflow import RESERVED


def _unreachable(ctx: CheckContext) -> None:
    wf = ctx.workflow
    assert wf is not None
    entry = wf.entry()
    if entry is None or entry not in wf.by_name or entry in RESERVED:
        return  # no nodes, or a broken entry (TEA201 says so): everything would be "unreachable"
    if unresolved(wf):
        return  # a misspelt reference hides routes: TEA201 first, reachability after the fix
    for n in wf.nodes:
        if not n.name:
            return  # a nameless node (TEA104) breaks the routes
    if any(e.source is None for e in wf.edges):
        return  # so does an edge without 'from' (TEA104)
    for n in wf.all_nodes():
        if n.action_refs_dynamic:
            return  # an action runs a node named by a template: any node may be the one
    seen = set(reachable(wf, entry))
    # A node an action runs by name (retry.loop's 'correct') runs as one call: it is reached,
    # its own routes are not followed from there.
    with_refs = False
    for n in wf.by_name.values():
        if n.action_refs:
            with_refs = True
            break
    pending = [n for n in seen if n in wf.by_name] if with_refs else []
    while pending:
        for ref in wf.by_name[pending.pop()].action_refs:
            if ref.name in wf.by_name and ref.name not in seen:
                seen.add(ref.name)
                pending.append(ref.name)
    by_name = wf.by_name
    for node in wf.nodes:
        name = node.name
        if name in seen:  # most nodes: reached (what follows would skip them too)
            continue
        if not name or name in RESERVED or by_name.get(name) is not node:
            continue
        ctx.report(
            "TEA204",
            first_line_span(node.name_span, ctx.lines),
            f"node '{node.name}' is never reached from the entry node '{entry}'; "
            "no 'goto', edge or list order leads to it",
        )


def _goto_and_edges(ctx: CheckContext) -> None:
    wf = ctx.workflow
    assert wf is not None
    for name, node in wf.by_name.items():
        if node.goto is None or name in RESERVED:
            continue
        goto_key = node.ymap.key_node("goto")
        related: tuple[Related, ...] = ()
        if goto_key is not None:
            related = (
                Related(first_line_span(goto_key.span, ctx.lines), f"'goto' of '{name}' is here"),
            )
        for edge in wf.edges_from(name):
            assert edge.source is not None
            ctx.report(
                "TEA209",
                first_line_span(edge.source.span, ctx.lines),
                f"this edge from '{name}' is ignored: node '{name}' has a 'goto', "
                "which takes precedence over edges",
                related=related,
            )


def check(ctx: CheckContext) -> None:
    if ctx.workflow is None:
        return
    _unreachable(ctx)
    _goto_and_edges(ctx)
