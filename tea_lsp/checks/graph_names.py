"""TEA202 duplicate node names, TEA203 reserved node names."""

from __future__ import annotations

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.spans import first_line_span
from tea_lsp.diagnostics import Related
from tea_lsp.model.workflow import END, START, Node

_RESERVED_WHAT = {START: "the virtual entry", END: "the virtual exit"}


def _duplicates(ctx: CheckContext, nodes: list[Node]) -> None:
    first: dict[str, Node] = {}
    for node in nodes:
        if not node.name or node.name in _RESERVED_WHAT:
            continue
        earlier = first.get(node.name)
        if earlier is None:
            first[node.name] = node
            continue
        ctx.report(
            "TEA202",
            first_line_span(node.name_span, ctx.lines),
            f"duplicate node name '{node.name}'; node names must be unique",
            related=(
                Related(
                    first_line_span(earlier.name_span, ctx.lines),
                    f"'{node.name}' first defined here",
                ),
            ),
        )


def check(ctx: CheckContext) -> None:
    wf = ctx.workflow
    if wf is None:
        return
    _duplicates(ctx, wf.nodes)
    for node in wf.all_nodes():
        if node.steps:
            _duplicates(ctx, node.steps)
        if node.body:
            _duplicates(ctx, node.body)
        what = _RESERVED_WHAT.get(node.name)
        if what is not None:
            ctx.report(
                "TEA203",
                first_line_span(node.name_span, ctx.lines),
                f"node name '{node.name}' is reserved for {what}; choose another name",
            )
