"""Hostile documents in the real server: alias bombs, the per-document time budget."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.lsp.conftest import (
    close_doc,
    diagnostics,
    file_uri,
    init_params,
    make_client,
    open_doc,
    server_env,
)
from tests.test_hardening_yaml import map_bomb, seq_bomb

pytestmark = pytest.mark.asyncio(loop_scope="module")

NORMAL = """\
name: normal
nodes:
  - name: start
    language: lua
    run: return {}
    goto: finsh
  - name: finish
    language: lua
    run: return {}
"""

FINSH = ("TEA201", "unknown node 'finsh' in 'goto'; did you mean 'finish'?")

BUDGET_CONFIG = ClientServerConfig(
    server_command=[sys.executable, "-m", "tea_lsp.lsp"],
    client_factory=make_client,
    server_env={**server_env(), "TEA_LSP_ANALYSIS_BUDGET_S": "0.2"},
)


@pytest_lsp.fixture(config=BUDGET_CONFIG, scope="module")  # type: ignore[untyped-decorator]
async def budget_client(lsp_client: LanguageClient) -> AsyncIterator[None]:
    await lsp_client.initialize_session(init_params("visual-studio-code"))
    yield
    await lsp_client.shutdown_session()


@pytest.mark.timeout(60)
async def test_normal_document_diagnosed_within_a_second_while_bombs_are_open(
    client: LanguageClient,
) -> None:
    bombs = [file_uri("bomb1.tea.yaml"), file_uri("bomb2.tea.yaml")]
    open_doc(client, bombs[0], seq_bomb())
    open_doc(client, bombs[1], map_bomb())
    uri = file_uri("normal.tea.yaml")
    t0 = time.monotonic()
    open_doc(client, uri, NORMAL)
    got = await diagnostics(client, uri, 1)
    elapsed = time.monotonic() - t0
    assert [(d.code, d.message) for d in got] == [FINSH]
    assert elapsed < 1.0
    for b in bombs:
        codes = {d.code for d in await diagnostics(client, b, 1)}
        assert "TEA005" in codes
        close_doc(client, b)
    close_doc(client, uri)


def slow_document(nodes: int = 20_000) -> str:
    """A large but valid workflow: checking it takes far more than 0.2 s."""
    body = "".join(
        f"  - name: n{i}\n    language: lua\n    run: return {{x{i} = {i}}}\n" for i in range(nodes)
    )
    return "name: slow\nnodes:\n" + body


@pytest.mark.timeout(60)
async def test_analysis_past_its_budget_is_stopped_and_reported(
    budget_client: LanguageClient,
) -> None:
    client = budget_client
    slow = file_uri("slow.tea.yaml")
    open_doc(client, slow, slow_document())
    [d] = await diagnostics(client, slow, 1)
    assert d.code == "TEA900"
    assert d.message == (
        "analysis stopped: checking this document took longer than 0.2 s; "
        "run 'tea-lsp check' on it to see where the time goes"
    )
    assert d.range == types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=0, character=10)
    )
    # The server keeps working: a small document is checked as usual.
    uri = file_uri("normal2.tea.yaml")
    open_doc(client, uri, NORMAL)
    got = await diagnostics(client, uri, 1)
    assert [(d.code, d.message) for d in got] == [FINSH]
