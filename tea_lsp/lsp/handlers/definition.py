"""Go to definition: from a node name (reference or definition) to its ``name:``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from tea_lsp.lsp import convert, outline

if TYPE_CHECKING:
    from tea_lsp.lsp.server import TeaLanguageServer


def register(server: TeaLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    async def definition(params: types.DefinitionParams) -> list[types.Location] | None:
        uri = params.text_document.uri
        found = await server.name_at(uri, params.position)
        if found is None:
            return None
        _, analysis, wf, occ = found
        lines = analysis.lines
        node = outline.find_node(wf, occ.name)
        if node is None:
            return None
        span = next(
            (
                o.inner
                for o in outline.occurrences(wf, lines)
                if o.definition and o.name == occ.name
            ),
            node.name_span,
        )
        return [types.Location(uri=uri, range=convert.to_range(lines, span, server.encoding))]
