"""``tea/graph``: the graph an editor draws, from the real server over stdio."""

from __future__ import annotations

from typing import Any

import pytest
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from tests.conftest import FIXTURES
from tests.lsp.conftest import change_doc, diagnostics, encoding, file_uri, open_doc, units

pytestmark = pytest.mark.asyncio(loop_scope="module")

GRAPHS = FIXTURES / "graph"


def plain(value: Any) -> Any:
    """The JSON value of a result (pygls hands back named tuples for unknown types)."""
    if hasattr(value, "_asdict"):  # pygls turns JSON objects into named tuples
        value = value._asdict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


async def graph(client: LanguageClient, uri: str) -> Any:
    result = await client.protocol.send_request_async(  # type: ignore[no-untyped-call]
        "tea/graph", {"textDocument": {"uri": uri}}
    )
    return plain(result)


@pytest.mark.timeout(60)
async def test_graph_of_a_workflow_with_errors(client: LanguageClient) -> None:
    text = (GRAPHS / "errors.yaml").read_text(encoding="utf-8")
    uri = file_uri(f"graph-errors-{client.client_name}.tea.yaml")  # type: ignore[attr-defined]
    open_doc(client, uri, text)
    await diagnostics(client, uri, 1)
    got = await graph(client, uri)
    assert got["uri"] == uri and got["version"] == 1
    # the same text as `tea-lsp graph` writes (golden files)
    assert got["dot"] == (GRAPHS / "errors.dot").read_text(encoding="utf-8")
    assert got["mermaid"] == (GRAPHS / "errors.mmd").read_text(encoding="utf-8")
    rows = [
        (n["id"], n["name"], n["kind"], n["severity"], n["range"] and n["range"]["start"]["line"])
        for n in got["nodes"]
    ]
    assert rows == [
        ("n0", "__start__", "start", None, None),
        ("n1", "first", "node", "error", 2),
        ("n2", "second", "node", "error", 5),
        ("n3", "nowhere", "missing", None, None),
    ]


@pytest.mark.timeout(60)
async def test_ranges_are_in_the_clients_encoding_and_follow_edits(
    client: LanguageClient,
) -> None:
    text = (GRAPHS / "parallel_d.yaml").read_text(encoding="utf-8")
    uri = file_uri(f"graph-par-{client.client_name}.tea.yaml")  # type: ignore[attr-defined]
    open_doc(client, uri, text)
    got = await graph(client, uri)
    assert got["dot"] == (GRAPHS / "parallel_d.dot").read_text(encoding="utf-8")
    assert [n["cluster"] for n in got["nodes"] if n["name"] in ("left", "left_2", "right")] == [
        "c0_0",
        "c0_0",
        "c0_1",
    ]
    # rename 'report' to a name with characters outside the BMP and an accent
    new = text.replace("- name: report", '- name: "rapport_é😀"').replace(
        "{from: join, to: report}", '{from: join, to: "rapport_é😀"}'
    )
    change_doc(client, uri, 2, new)
    got = await graph(client, uri)
    assert got["version"] == 2
    [node] = [n for n in got["nodes"] if n["name"] == "rapport_é😀"]
    line = new.split("\n").index('  - name: "rapport_é😀"')
    enc = encoding(client)
    row = new.split("\n")[line]
    assert node["range"] == {
        "start": {"line": line, "character": units(row, 10, enc)},
        "end": {"line": line, "character": units(row, len(row), enc)},
    }
    assert "rapport_é😀" in got["mermaid"] and "rapport_é😀" in got["dot"]


@pytest.mark.timeout(60)
async def test_not_open_or_not_a_workflow_gives_null(client: LanguageClient) -> None:
    assert await graph(client, file_uri("never-opened.tea.yaml")) is None
    uri = file_uri(f"plain-{client.client_name}.yaml")  # type: ignore[attr-defined]
    open_doc(client, uri, "just: yaml\n")
    assert await graph(client, uri) is None


@pytest.mark.timeout(60)
async def test_bad_params_are_invalid_params(client: LanguageClient) -> None:
    with pytest.raises(JsonRpcInvalidParams):
        await client.protocol.send_request_async("tea/graph", {"uri": "x"})  # type: ignore[no-untyped-call]
    # the server keeps working
    assert await graph(client, file_uri("never-opened.tea.yaml")) is None
