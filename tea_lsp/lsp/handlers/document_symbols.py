"""Document symbols: the outline of a workflow, one symbol per node with its role."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from tea_lsp.diagnostics import Span
from tea_lsp.lsp import convert, outline
from tea_lsp.lsp.convert import Encoding
from tea_lsp.model.workflow import Node, Workflow
from tea_lsp.syntax.text import LineIndex

if TYPE_CHECKING:
    from tea_lsp.lsp.server import TeaLanguageServer


def tight(span: Span, lines: LineIndex) -> Span:
    """A block's span without trailing blank lines or the next item's indentation."""
    end_line, end_col = span.end_line, span.end_col
    while end_line > span.start_line and not lines.line(end_line)[:end_col].strip(" -"):
        end_line -= 1
        end_col = len(lines.line(end_line).rstrip())
    return Span(span.start_line, span.start_col, end_line, end_col)


def _kind(node: Node) -> types.SymbolKind:
    if node.type in ("while_loop", "dynamic_parallel") or node.steps:
        return types.SymbolKind.Module
    if node.uses:
        return types.SymbolKind.Method
    return types.SymbolKind.Function


def _detail(wf: Workflow, node: Node) -> str:
    parts = outline.roles(wf, node)
    if parts == ["node"]:
        parts = []
    if node.uses:
        parts.append(f"uses {node.uses}")
    elif node.code is not None:
        parts.append(node.language)
    return " · ".join(parts)


def symbols(wf: Workflow, lines: LineIndex, enc: Encoding) -> list[types.DocumentSymbol]:
    def one(node: Node) -> types.DocumentSymbol:
        full = tight(node.ymap.span, lines)
        sel = node.name_span
        if not full.contains(sel.start_line, sel.start_col):
            full = sel
        return types.DocumentSymbol(
            name=node.name or "(unnamed node)",
            detail=_detail(wf, node) or None,
            kind=_kind(node),
            range=convert.to_range(lines, full, enc),
            selection_range=convert.to_range(lines, sel, enc),
            children=[one(sub) for sub in (*node.steps, *node.body)] or None,
        )

    return [one(n) for n in wf.nodes]


def register(server: TeaLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def document_symbol(
        params: types.DocumentSymbolParams,
    ) -> list[types.DocumentSymbol] | list[types.SymbolInformation] | None:
        uri = params.text_document.uri
        got = await server.analysis(uri)
        if got is None:
            return None
        _, analysis = got
        out: list[types.DocumentSymbol] = []
        for wf in analysis.workflows:
            if wf is not None:
                out.extend(symbols(wf, analysis.lines, server.encoding))
        if server.supports_hierarchical_symbols():
            return out
        flat: list[types.SymbolInformation] = []

        def add(sym: types.DocumentSymbol, container: str | None) -> None:
            flat.append(
                types.SymbolInformation(
                    name=sym.name,
                    kind=sym.kind,
                    location=types.Location(uri=uri, range=sym.range),
                    container_name=container,
                )
            )
            for child in sym.children or ():
                add(child, sym.name)

        for sym in out:
            add(sym, None)
        return flat
