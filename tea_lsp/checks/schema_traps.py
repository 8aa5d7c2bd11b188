"""Keys TEA accepts and then silently ignores, or files it refuses as a whole.

TEA107 a second YAML document (TEA loads exactly one per file), TEA108 node-level
``action: <name>`` (TEA's Python engine ignores it: the node does nothing), TEA109 ``output`` on a
``dynamic_parallel`` node (never stored), TEA110 ``condition`` on a node that is not a
``while_loop`` (never evaluated).
"""

from __future__ import annotations

import re

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.spans import first_line_span, head_span
from tea_lsp.diagnostics import Fix, Span, TextEdit
from tea_lsp.model.workflow import Node
from tea_lsp.syntax.yaml_tree import YScalar

_DOC_START = re.compile(r"---(?=\s|$)")


def _document_start(ctx: CheckContext) -> Span | None:
    """The ``---`` that opens this (second or later) document."""
    root = ctx.doc.root
    if root is None:
        return None
    for n in range(root.span.start_line, -1, -1):
        if _DOC_START.match(ctx.lines.line(n)):
            return Span(n, 0, n, 3)
    return head_span(root, ctx.lines)


def _multiple_documents(ctx: CheckContext) -> None:
    if ctx.doc.index < 1:
        return
    span = _document_start(ctx)
    if span is None:
        return
    ctx.report(
        "TEA107",
        span,
        f"document {ctx.doc.index + 1} of this file starts here; TEA loads exactly one YAML "
        "document per file and rejects the whole file; put each workflow in its own file",
    )


def _node_label(node: Node) -> str:
    return f"node '{node.name}'" if node.name else "this node"


def _node_action(ctx: CheckContext, node: Node) -> None:
    pair = node.ymap.pair("action")
    if pair is None or not isinstance(pair.value, YScalar) or not isinstance(pair.value.value, str):
        return  # a dynamic_parallel 'action' is a mapping: that one TEA reads
    if node.type == "dynamic_parallel":
        ctx.report(
            "TEA108",
            first_line_span(pair.key.span, ctx.lines),
            f"'action' of dynamic_parallel {_node_label(node)} is a bare name: TEA's Python "
            "engine fails to load it; write it as a mapping "
            f"('action: {{uses: {pair.value.value}, with: ...}}')",
        )
        return
    if "uses" in node.ymap:
        ctx.report(
            "TEA108",
            first_line_span(pair.key.span, ctx.lines),
            f"'action' on {_node_label(node)} is ignored next to 'uses'; remove it",
        )
        return
    fix = Fix("Replace 'action' with 'uses'", (TextEdit(pair.key.span, "uses"),))
    ctx.report(
        "TEA108",
        first_line_span(pair.key.span, ctx.lines),
        f"'action' on {_node_label(node)} is ignored by TEA's Python engine ('tea run'): the "
        f"node does nothing there; write 'uses: {pair.value.value}'",
        fix=fix,
    )


def _dynamic_output(ctx: CheckContext, node: Node) -> None:
    if node.type != "dynamic_parallel":
        return
    if isinstance(node.ymap.get("action"), YScalar):
        return  # 'action: name' makes the node its own action: 'output' is the item's (TEA108)
    for key in ("output", "output_key"):
        key_node = node.ymap.key_node(key)
        if key_node is None:
            continue
        fan_in = f"'{node.dp_fan_in.name}'" if node.dp_fan_in is not None else "its fan-in"
        ctx.report(
            "TEA109",
            first_line_span(key_node.span, ctx.lines),
            f"'{key}' on dynamic_parallel {_node_label(node)} is ignored: the items' results "
            f"reach {fan_in} as 'parallel_results'; store what you need from there",
        )


def _condition(ctx: CheckContext, node: Node) -> None:
    if node.type == "while_loop":
        return
    key_node = node.ymap.key_node("condition")
    if key_node is None:
        return
    ctx.report(
        "TEA110",
        first_line_span(key_node.span, ctx.lines),
        f"'condition' on {_node_label(node)} is ignored: only a while_loop evaluates a "
        "'condition', the node runs whenever control reaches it; route with a conditional "
        "'goto' or an edge 'when' instead",
    )


def check(ctx: CheckContext) -> None:
    _multiple_documents(ctx)
    wf = ctx.workflow
    if wf is None:
        return
    for node in wf.all_nodes():
        # (each check has nothing to say about a node without its key or type: most nodes)
        keys = node.ymap._index
        if "action" in keys:
            _node_action(ctx, node)
        if node.type == "dynamic_parallel":
            _dynamic_output(ctx, node)
        if "condition" in keys:
            _condition(ctx, node)
