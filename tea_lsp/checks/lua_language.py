"""TEA309 engines disagree on unmarked code; TEA310 a ``-- lua`` first line without ``language:``.

TEA's Python engine (``tea run``) runs code without ``language:`` as Python, its Rust engine
(and tea-lsp's documented format) as Lua. tea-lsp checks each snippet in the language it is
written in (``default-language``). Unmarked code read as Python is where the readings part:
one ``info`` note per file says so, never an error. Unmarked code that reads as Lua is the
format tea-lsp documents, and is not noted.
"""

from __future__ import annotations

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.lua_common import default_language, node_language
from tea_lsp.diagnostics import Fix, Span, TextEdit
from tea_lsp.langs.detect import has_lua_marker
from tea_lsp.model.workflow import Node
from tea_lsp.syntax.embedded import SnippetMap
from tea_lsp.syntax.yaml_tree import YMap


def check(ctx: CheckContext) -> None:
    wf = ctx.workflow
    if wf is None:
        return
    unmarked = [n for n in wf.all_nodes() if n.code is not None and not n.language_explicit]
    if not unmarked:
        return
    for node in unmarked:
        assert node.code is not None
        if has_lua_marker(node.code.text):
            smap = SnippetMap.for_scalar(node.code.scalar, ctx.lines)
            first = node.code.text.split("\n", 1)[0]
            ctx.report(
                "TEA310",
                smap.line_span(0, first),
                "'-- lua' does not make this code Lua under 'tea run': TEA's Python engine "
                "runs it as Python, where this line is an error ('lua' is undefined); add "
                "'language: lua'",
            )
    if default_language(ctx) != "auto":
        return  # the file or the configuration says which engine it is written for
    as_python = [n for n in unmarked if node_language(ctx, n) == "python"]
    if not as_python:
        return
    head = as_python[0]
    count = len(as_python)
    others = f" (and {count - 1} more node{'s' if count > 2 else ''})" if count > 1 else ""
    key = head.ymap.key_node("run") or head.ymap.key_node("script")
    ctx.report(
        "TEA309",
        _key_span(head),
        f"node '{head.name}'{others} has Python code without 'language:': TEA's Python engine "
        "runs it as Python, but its Rust engine runs unmarked code as Lua; add "
        "'language: python'",
        fix=_language_fix(ctx, head.ymap, key.span if key is not None else None),
    )


def _key_span(node: Node) -> Span:
    key = node.ymap.key_node("run") or node.ymap.key_node("script")
    if key is not None:
        return key.span
    assert node.code is not None
    return node.code.scalar.span


def _language_fix(ctx: CheckContext, ymap: YMap, run_span: Span | None) -> Fix | None:
    """Insert ``language: python`` on its own line, at the node's key indentation."""
    start = ymap.span
    if ctx.lines.line(start.start_line)[start.start_col : start.start_col + 1] == "{":
        return None  # a flow mapping: no line-based edit
    own_line: list[Span] = []
    for pair in ymap.pairs:
        s = pair.key.span
        if ctx.lines.line(s.start_line)[: s.start_col].strip() == "":
            own_line.append(s)
    if not own_line:
        return None
    target = next((s for s in own_line if s == run_span), own_line[0])
    edit = TextEdit(
        Span(target.start_line, 0, target.start_line, 0),
        " " * target.start_col + "language: python\n",
    )
    return Fix("add 'language: python'", (edit,))
