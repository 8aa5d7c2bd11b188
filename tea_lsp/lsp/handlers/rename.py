"""Rename a node: its ``name:`` and every reference, keeping each scalar's quoting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from tea_lsp.lsp import convert, outline

if TYPE_CHECKING:
    from tea_lsp.lsp.server import TeaLanguageServer


def register(server: TeaLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    async def prepare_rename(
        params: types.PrepareRenameParams,
    ) -> types.PrepareRenamePlaceholder | None:
        found = await server.name_at(params.text_document.uri, params.position)
        if found is None or outline.find_node(found[2], found[3].name) is None:
            return None
        _, analysis, _, occ = found
        lines = analysis.lines
        return types.PrepareRenamePlaceholder(
            range=convert.to_range(lines, occ.inner, server.encoding), placeholder=occ.name
        )

    @server.feature(types.TEXT_DOCUMENT_RENAME)
    async def rename(params: types.RenameParams) -> types.WorkspaceEdit | None:
        uri = params.text_document.uri
        found = await server.name_at(uri, params.position)
        if found is None or outline.find_node(found[2], found[3].name) is None:
            return None
        snap, analysis, wf, occ = found
        lines = analysis.lines
        problem = outline.rename_problem(wf, occ.name, params.new_name)
        if problem is not None:
            raise JsonRpcInvalidParams(f"cannot rename '{occ.name}': {problem}")
        edits = [
            types.TextEdit(
                range=convert.to_range(lines, o.span, server.encoding),
                new_text=outline.render_name(params.new_name, o.style),
            )
            for o in outline.occurrences(wf, lines)
            if o.name == occ.name
        ]
        return server.workspace_edit(uri, snap.version, edits)
