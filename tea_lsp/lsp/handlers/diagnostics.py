"""Pull diagnostics (``textDocument/diagnostic``), for clients that ask for them.

Clients that support pull get the checker's diagnostics this way only (pushing them too would
show each twice); runtime diagnostics of ``tea.runWorkflow`` are always pushed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from tea_lsp.lsp.server import TeaLanguageServer

IDENTIFIER = "tea-lsp"


def register(server: TeaLanguageServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(
            identifier=IDENTIFIER, inter_file_dependencies=False, workspace_diagnostics=False
        ),
    )
    async def diagnostic(
        params: types.DocumentDiagnosticParams,
    ) -> types.DocumentDiagnosticReport:
        uri = params.text_document.uri
        snap = await server.snapshot(uri)
        if snap is None:
            return types.RelatedFullDocumentDiagnosticReport(items=[])
        if params.previous_result_id == snap.result_id:
            return types.RelatedUnchangedDocumentDiagnosticReport(result_id=snap.result_id)
        state = server.docs.get(uri)
        items = server.diagnostics_of(state, snap) if state is not None else []
        return types.RelatedFullDocumentDiagnosticReport(items=items, result_id=snap.result_id)
