"""Document synchronisation: open, change (debounced diagnostics), save, close."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from tea_lsp.lsp.documents import Change

if TYPE_CHECKING:
    from tea_lsp.lsp.server import TeaLanguageServer


def _change(event: types.TextDocumentContentChangeEvent) -> Change:
    if isinstance(event, types.TextDocumentContentChangePartial):
        r = event.range
        return Change(event.text, (r.start.line, r.start.character, r.end.line, r.end.character))
    return Change(event.text)


def register(server: TeaLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        td = params.text_document
        server.open(td.uri, td.text, td.version, td.language_id)
        server.schedule(td.uri, 0.0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        td = params.text_document
        changes = [_change(c) for c in params.content_changes]
        if server.change(td.uri, td.version, changes) is not None:
            server.schedule(td.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        server.schedule(params.text_document.uri, 0.0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        server.close(params.text_document.uri)
