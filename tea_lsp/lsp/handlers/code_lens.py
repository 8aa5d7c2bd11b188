"""Code lens: "▶ Run workflow" at the top of a workflow file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from tea_lsp.lsp.server import TeaLanguageServer

RUN_TITLE = "▶ Run workflow"


def register(server: TeaLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    async def code_lens(params: types.CodeLensParams) -> list[types.CodeLens] | None:
        uri = params.text_document.uri
        snap = await server.snapshot(uri)
        if snap is None or not snap.workflow:
            return None
        if server.runs is not None:
            server.runs.warm()  # the user sees "Run": have workers ready before the click
        top = types.Range(
            start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)
        )
        return [
            types.CodeLens(
                range=top,
                command=types.Command(title=RUN_TITLE, command="tea.runWorkflow", arguments=[uri]),
            )
        ]
