"""Diagnostics as an editor receives them: which documents, exact ranges, storms, junk."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import random

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from tests.lsp.conftest import (
    change_doc,
    close_doc,
    diagnostics,
    doc_id,
    edit_doc,
    encoding,
    file_uri,
    open_doc,
    publications,
    simple,
    uses_pull,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

BROKEN = """\
name: broken
state_schema:
  count: int
nodes:
  - name: start
    run: |
      return { count = 1 }
    goto: middle
  - name: middle
    run: |
      return { count = state.count + 1 }
    goto: finsh
  - name: finish
    rnu: return {}
  - name: middle
    run: return {}
edges:
  - {from: start, to: nowhere}
"""

UNICODE = """\
name: unicode
description: "Ünïcödé 😀 中文"
nodes:
  - {name: "café😀中文", goto: finsh}
  - name: finish
    run: return {}
"""

DOCS = "https://github.com/tea-lsp/tea-lsp/blob/main/docs/rules/{}.md"

# A reference to a missing node: what it is, then the rule of the diagnostic under the cursor.
FINSH_HOVER = (
    "**unknown node `finsh`**; did you mean 'finish'?\n\n---\n\n"
    "`TEA201` unknown-node: A reference names a node that does not exist. "
    "[docs](https://github.com/tea-lsp/tea-lsp/blob/main/docs/rules/TEA201.md)"
)


async def test_negotiated_position_encoding(client: LanguageClient) -> None:
    # Neovim offers utf-8 first; VS Code 1.65 offers nothing, so LSP's default utf-16 holds.
    expected = "utf-8" if client.client_name == "neovim" else "utf-16"  # type: ignore[attr-defined]
    assert encoding(client) == expected


async def test_broken_workflow_exact_diagnostics(client: LanguageClient) -> None:
    uri = file_uri("broken.tea.yaml")
    open_doc(client, uri, BROKEN)
    got = await diagnostics(client, uri, 1)
    assert [simple(d) for d in got] == [
        ("TEA201", (11, 10, 11, 15), "unknown node 'finsh' in 'goto'; did you mean 'finish'?"),
        ("TEA101", (13, 4, 13, 7), "unknown key 'rnu' in node; did you mean 'run'?"),
        ("TEA202", (14, 10, 14, 16), "duplicate node name 'middle'; node names must be unique"),
        (
            "TEA209",
            (17, 11, 17, 16),
            "this edge from 'start' is ignored: node 'start' has a 'goto', which takes "
            "precedence over edges",
        ),
        (
            "TEA201",
            (17, 22, 17, 29),
            "unknown node 'nowhere' in 'to'; expected 'start', 'middle', 'finish' or '__end__'",
        ),
    ]
    assert [d.severity for d in got] == [
        types.DiagnosticSeverity.Error,
        types.DiagnosticSeverity.Error,
        types.DiagnosticSeverity.Error,
        types.DiagnosticSeverity.Warning,
        types.DiagnosticSeverity.Error,
    ]
    for d in got:
        assert d.source == "tea-lsp"
        assert d.code_description is not None
        assert d.code_description.href == DOCS.format(d.code)
    dup = got[2]
    assert dup.related_information is not None
    [rel] = dup.related_information
    assert rel.location.uri == uri
    r = rel.location.range
    assert (r.start.line, r.start.character, r.end.line, r.end.character) == (8, 10, 8, 16)
    assert rel.message == "'middle' first defined here"


async def test_positions_after_emoji_accents_and_cjk(client: LanguageClient) -> None:
    uri = file_uri("unicode.tea.yaml")
    open_doc(client, uri, UNICODE)
    [d] = await diagnostics(client, uri, 1)
    # `  - {name: "café😀中文", goto: finsh}`: 'finsh' is at code points 28..33.
    expected = {"utf-16": (3, 29, 3, 34), "utf-8": (3, 36, 3, 41)}[encoding(client)]
    assert simple(d) == (
        "TEA201",
        expected,
        "unknown node 'finsh' in 'goto'; did you mean 'finish'?",
    )
    # The same units from the client to the server: hover the reference after the emoji.
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=doc_id(uri),
            position=types.Position(line=3, character=expected[1] + 2),
        )
    )
    assert hover is not None and hover.range is not None
    r = hover.range
    assert (r.start.line, r.start.character, r.end.line, r.end.character) == expected
    assert isinstance(hover.contents, types.MarkupContent)
    assert hover.contents.value == FINSH_HOVER


async def test_other_yaml_is_left_alone(client: LanguageClient) -> None:
    other = file_uri("config.yaml")
    # Not a workflow: no `nodes`, no modeline, no matching glob; even broken YAML is not ours.
    open_doc(client, other, "server:\n  port: 80\nlist: [1, 2\n")
    foreign = file_uri("k8s.yaml")
    open_doc(
        client,
        foreign,
        "# yaml-language-server: $schema=https://example.com/other.json\nnodes: 3\n",
    )
    # A workflow opened afterwards: once its diagnostics arrive, the others were handled.
    marker = file_uri("marker.tea.yaml")
    open_doc(client, marker, "name: m\nnodes:\n  - name: a\n    run: return {}\n")
    assert await diagnostics(client, marker, 1) == []
    for uri in (other, foreign):
        assert publications(client, uri) == []
        if uses_pull(client):
            assert await diagnostics(client, uri, 1) == []
        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=doc_id(uri), position=types.Position(line=1, character=3)
            )
        )
        assert hover is None
        symbols = await client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=doc_id(uri))
        )
        assert symbols is None
        lenses = await client.text_document_code_lens_async(
            types.CodeLensParams(text_document=doc_id(uri))
        )
        assert lenses is None
        completion = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=doc_id(uri), position=types.Position(line=1, character=2)
            )
        )
        assert completion is None


async def test_modeline_and_glob_select_workflows(client: LanguageClient) -> None:
    # A modeline naming our schema makes any YAML a workflow.
    modeline = file_uri("flow.yaml")
    open_doc(
        client,
        modeline,
        "# yaml-language-server: $schema=https://tea-lsp.dev/schemas/workflow.schema.json\n"
        "name: x\n",
    )
    got = await diagnostics(client, modeline, 1)
    assert [(d.code, d.range.start.line) for d in got] == [("TEA104", 1)]
    # A file matching `**/*.tea.yaml` is a workflow even when it is not a mapping.
    globbed = file_uri("sub/dir/list.tea.yaml")
    open_doc(client, globbed, "- just\n- a list\n")
    got = await diagnostics(client, globbed, 1)
    assert [simple(d) for d in got] == [
        (
            "TEA004",
            (0, 0, 0, 6),
            "the document is not a mapping; a workflow is a mapping with a 'nodes' list",
        )
    ]


async def test_cleared_on_close(client: LanguageClient) -> None:
    uri = file_uri("closing.tea.yaml")
    open_doc(client, uri, "name: c\nnodes:\n  - name: a\n    goto: b\n")
    got = await diagnostics(client, uri, 1)
    assert [d.code for d in got] == ["TEA201"]
    close_doc(client, uri)
    if uses_pull(client):
        return  # pulled diagnostics belong to the client; nothing was pushed
    await wait_until(
        lambda: (
            publications(client, uri)[-1].diagnostics == ()
            or publications(client, uri)[-1].diagnostics == []
        ),
        "the clearing publication",
    )


async def test_diagnostics_follow_edits(client: LanguageClient) -> None:
    uri = file_uri("edited.tea.yaml")
    text = "name: e\nnodes:\n  - name: a\n    goto: b\n"
    open_doc(client, uri, text)
    assert [d.code for d in await diagnostics(client, uri, 1)] == ["TEA201"]
    change_doc(client, uri, 2, text + "  - name: b\n    run: return {}\n")
    assert await diagnostics(client, uri, 2) == []


async def test_storm_of_edits_publishes_the_latest_version(client: LanguageClient) -> None:
    uri = file_uri("storm.tea.yaml")
    text = (
        "name: storm\nnodes:\n  - name: start\n    run: return {}\n    goto: n0000\n"
        "  - name: finish\n    run: return {}\n"
    )
    open_doc(client, uri, text)
    first = await diagnostics(client, uri, 1)
    assert [d.message for d in first] == [
        "unknown node 'n0000' in 'goto'; expected 'start', 'finish' or '__end__'"
    ]
    start = types.Position(line=4, character=10)
    end = types.Position(line=4, character=15)
    final = 1001
    for version in range(2, final):
        edit_doc(client, uri, version, start, end, f"n{version:04d}")
    edit_doc(client, uri, final, start, end, "finsh")
    got = await diagnostics(client, uri, final)
    assert [simple(d) for d in got] == [
        ("TEA201", (4, 10, 4, 15), "unknown node 'finsh' in 'goto'; did you mean 'finish'?")
    ]
    # The server still answers, on the latest text.
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=doc_id(uri), position=types.Position(line=4, character=12))
    )
    assert hover is not None
    assert isinstance(hover.contents, types.MarkupContent)
    assert hover.contents.value == FINSH_HOVER
    pubs = publications(client, uri)
    if uses_pull(client):
        assert pubs == []  # pull clients are never pushed checker diagnostics
        return
    # Never a stale version over a newer one, and each publication matches its own text.
    versions = [p.version or 0 for p in pubs]
    assert versions == sorted(versions)
    assert versions[-1] == final
    for p in pubs:
        assert p.version is not None
        name = {1: "n0000", final: "finsh"}.get(p.version, f"n{p.version:04d}")
        assert [d.message.split(";")[0] for d in p.diagnostics] == [
            f"unknown node '{name}' in 'goto'"
        ]


async def test_binary_junk_does_not_break_the_server(client: LanguageClient) -> None:
    rng = random.Random(5)
    junk = bytes(rng.randrange(256) for _ in range(65536)).decode("latin-1")
    uri = file_uri("junk.tea.yaml")
    open_doc(client, uri, junk)
    got = await diagnostics(client, uri, 1)
    assert got, "junk gets at least one diagnostic"
    assert {d.code for d in got} <= {"TEA001", "TEA003", "TEA004"}
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=doc_id(uri), position=types.Position(line=0, character=3))
    )
    assert hover is None or isinstance(hover.contents, types.MarkupContent)
    # Still serving other documents.
    ok = file_uri("after-junk.tea.yaml")
    open_doc(client, ok, "name: ok\nnodes:\n  - name: a\n    run: return {}\n")
    assert await diagnostics(client, ok, 1) == []


async def test_ten_megabyte_document(client: LanguageClient) -> None:
    line = "      -- " + "y" * 70 + "\n"
    body = line * (10_000_000 // len(line))
    text = (
        "name: big\nnodes:\n  - name: a\n    run: |\n"
        + body
        + "      return {}\n  - name: b\n    goto: nowhere\n"
    )
    assert len(text) > 10_000_000
    uri = file_uri("big.tea.yaml")
    last = text.count("\n")
    open_doc(client, uri, text)
    # While it is being checked, another document is served.
    small = file_uri("small.tea.yaml")
    open_doc(client, small, "name: s\nnodes:\n  - name: a\n    run: return {}\n")
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=doc_id(small), position=types.Position(line=2, character=11)
        )
    )
    assert hover is not None
    got = await diagnostics(client, uri, 1)
    assert [(d.code, d.range.start.line) for d in got] == [
        ("TEA308", 3),
        ("TEA201", last - 1),
    ]
    # An edit at the end: diagnostics of the new version only.
    edit_doc(
        client,
        uri,
        2,
        types.Position(line=last - 1, character=10),
        types.Position(line=last - 1, character=17),
        "__end__",
    )
    got = await diagnostics(client, uri, 2)
    assert [d.code for d in got] == ["TEA308"]
    close_doc(client, uri)
    await asyncio.sleep(0)


async def send_raw(client: LanguageClient, msg_id: str, method: str, params: object) -> object:
    """A request written byte for byte, as a broken client could send it."""
    future: concurrent.futures.Future[object] = concurrent.futures.Future()
    client.protocol._request_futures[msg_id] = future
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    data = body.encode("utf-8")
    writer = client.protocol.writer
    assert writer is not None
    writer.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
    return await asyncio.wait_for(asyncio.wrap_future(future), 20)


async def test_malformed_requests_get_errors_and_the_server_keeps_serving(
    client: LanguageClient,
) -> None:
    with pytest.raises(JsonRpcInvalidParams, match="invalid params for 'textDocument/hover'"):
        await send_raw(
            client,
            "malformed-hover",
            types.TEXT_DOCUMENT_HOVER,
            {"textDocument": {"uri": 5}, "position": "nowhere"},
        )
    with pytest.raises(JsonRpcException, match="not defined"):
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="tea.noSuchCommand", arguments=[])
        )
    # Requests about documents the server never saw: empty answers, not errors.
    unknown = file_uri("never-opened.tea.yaml")
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=doc_id(unknown), position=types.Position(line=0, character=0)
        )
    )
    assert hover is None
    uri = file_uri("still-alive.tea.yaml")
    open_doc(client, uri, "name: a\nnodes:\n  - name: a\n    goto: b\n")
    assert [d.code for d in await diagnostics(client, uri, 1)] == ["TEA201"]
