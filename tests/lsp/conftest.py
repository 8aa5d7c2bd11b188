"""End-to-end helpers: the real server over stdio, driven with the capabilities of real clients.

Each test module gets one server per client (Neovim 0.11 and VS Code 1.65), started with
``python -m tea_lsp.lsp``. Neovim negotiates UTF-8 positions and pulls diagnostics; VS Code
1.65 uses UTF-16 and receives pushed diagnostics — the helpers hide the difference where a
test does not care about it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from tests.conftest import ROOT

CLIENTS = ("neovim", "visual-studio-code")
WAIT_S = 20.0


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["TEA_LSP_TEST_ACTIONS"] = "1"
    return env


def _publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
    client.diagnostics[params.uri] = params.diagnostics
    published: list[types.PublishDiagnosticsParams] = client.published  # type: ignore[attr-defined]
    published.append(params)


def make_client() -> LanguageClient:
    """pytest-lsp's client, also recording every ``publishDiagnostics`` with its version."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []  # type: ignore[attr-defined]
    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = _publish
    register_lsp_features(client, features)
    return client


CONFIG = ClientServerConfig(
    server_command=[sys.executable, "-m", "tea_lsp.lsp"],
    client_factory=make_client,
    server_env=server_env(),
)


def init_params(name: str, options: Any = None, root: str | None = None) -> types.InitializeParams:
    return types.InitializeParams(
        capabilities=client_capabilities(name),
        root_uri=root,
        initialization_options=options,
        client_info=types.ClientInfo(name=name),
    )


@pytest_lsp.fixture(config=CONFIG, params=CLIENTS, scope="module")  # type: ignore[untyped-decorator]
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest) -> AsyncIterator[None]:
    result = await lsp_client.initialize_session(init_params(request.param))
    lsp_client.init_result = result  # type: ignore[attr-defined]
    lsp_client.client_name = request.param  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


# ---- helpers


def uses_pull(client: LanguageClient) -> bool:
    caps = client.capabilities
    return bool(caps and caps.text_document and caps.text_document.diagnostic is not None)


def encoding(client: LanguageClient) -> str:
    result: types.InitializeResult = client.init_result  # type: ignore[attr-defined]
    return str(result.capabilities.position_encoding or "utf-16")


def units(text: str, col: int, enc: str) -> int:
    """Code-point column → column in the client's units (what the test expects to see)."""
    prefix = text[:col]
    if enc == "utf-8":
        return len(prefix.encode("utf-8"))
    if enc == "utf-16":
        return len(prefix.encode("utf-16-le")) // 2
    return col


def pos(text: str, line: int, col: int, enc: str) -> types.Position:
    return types.Position(line=line, character=units(text.split("\n")[line], col, enc))


def doc_id(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


def open_doc(
    client: LanguageClient, uri: str, text: str, version: int = 1, language_id: str = "yaml"
) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language_id, version=version, text=text
            )
        )
    )


def close_doc(client: LanguageClient, uri: str) -> None:
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=doc_id(uri)))


def change_doc(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def edit_doc(
    client: LanguageClient,
    uri: str,
    version: int,
    start: types.Position,
    end: types.Position,
    text: str,
) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=start, end=end), text=text
                )
            ],
        )
    )


def publications(client: LanguageClient, uri: str) -> list[types.PublishDiagnosticsParams]:
    published: list[types.PublishDiagnosticsParams] = client.published  # type: ignore[attr-defined]
    return [p for p in published if p.uri == uri]


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def pushed(client: LanguageClient, uri: str, version: int) -> list[types.Diagnostic]:
    """The diagnostics pushed for ``version`` of ``uri`` (waits for them)."""

    def found() -> bool:
        return any(p.version == version for p in publications(client, uri))

    await wait_until(found, f"diagnostics of {uri} v{version}")
    return list([p for p in publications(client, uri) if p.version == version][-1].diagnostics)


async def diagnostics(client: LanguageClient, uri: str, version: int) -> list[types.Diagnostic]:
    """The checker's diagnostics of ``version``: pulled or pushed, as the client does."""
    if uses_pull(client):
        report = await client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=doc_id(uri))
        )
        assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
        return list(report.items)
    return [d for d in await pushed(client, uri, version) if d.source != "tea-run"]


def simple(d: types.Diagnostic) -> tuple[Any, ...]:
    r = d.range
    return (
        d.code,
        (r.start.line, r.start.character, r.end.line, r.end.character),
        d.message,
    )


def file_uri(name: str) -> str:
    return f"file:///tmp/tea-lsp-tests/{name}"
