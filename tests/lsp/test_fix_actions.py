"""The language server offers the checker's fixes for action names as quick fixes."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp.conftest import diagnostics, doc_id, file_uri, open_doc, simple
from tests.lsp.test_navigation import edits_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

UNKNOWN_ACTION = """\
name: fix-action
nodes:
  - name: fetch
    uses: http.gett
    with:
      url: "https://example.invalid/"
"""


@pytest.mark.timeout(60)
async def test_unknown_action_offers_its_did_you_mean(client: LanguageClient) -> None:
    uri = file_uri("fix-action.tea.yaml")
    open_doc(client, uri, UNKNOWN_ACTION)
    diags = await diagnostics(client, uri, 1)
    assert [simple(d) for d in diags] == [
        ("TEA501", (3, 10, 3, 19), "unknown action 'http.gett'; did you mean 'http.get'?"),
    ]
    got = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=doc_id(uri),
            range=diags[0].range,
            context=types.CodeActionContext(diagnostics=[diags[0]]),
        )
    )
    assert got is not None
    actions = [a for a in got if isinstance(a, types.CodeAction)]
    assert [(a.title, a.kind, a.is_preferred) for a in actions] == [
        ("Replace 'http.gett' with 'http.get'", types.CodeActionKind.QuickFix, True),
        ("Ignore TEA501 on this line", types.CodeActionKind.QuickFix, None),
        ("Ignore TEA501 in this file", types.CodeActionKind.QuickFix, None),
    ]
    assert edits_of(actions[0].edit, uri) == [((3, 10, 3, 19), "http.get")]
