"""Find references: every place a node name is written (goto, edges, fan-ins, lists)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from tea_lsp.lsp import convert, outline

if TYPE_CHECKING:
    from tea_lsp.lsp.server import TeaLanguageServer


def register(server: TeaLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    async def references(params: types.ReferenceParams) -> list[types.Location] | None:
        uri = params.text_document.uri
        found = await server.name_at(uri, params.position)
        if found is None:
            return None
        _, analysis, wf, occ = found
        lines = analysis.lines
        include = params.context.include_declaration
        return [
            types.Location(uri=uri, range=convert.to_range(lines, o.inner, server.encoding))
            for o in outline.occurrences(wf, lines)
            if o.name == occ.name and (include or not o.definition)
        ]
