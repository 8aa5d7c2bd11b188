"""Settings from initializationOptions and workspace/configuration: bad values fall back to
the defaults with a visible warning; good values take effect."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp.conftest import (
    CLIENTS,
    CONFIG,
    diagnostics,
    file_uri,
    init_params,
    open_doc,
    publications,
    uses_pull,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

INIT_OPTIONS = {"tea": {"lua": {"timeout": "fast"}, "run": {"strategy": "cluster"}}}
CLIENT_CONFIG = {
    "lua": {"maxMemory": "lots"},
    "run": {"maxParallelBranches": 0},
    "files": ["**/*.tea.yaml", "**/*.flow"],
}


@pytest_lsp.fixture(config=CONFIG, params=CLIENTS, scope="module")  # type: ignore[untyped-decorator]
async def client(lsp_client: LanguageClient, request: pytest.FixtureRequest) -> AsyncIterator[None]:
    lsp_client.set_configuration(CLIENT_CONFIG, section="tea")
    result = await lsp_client.initialize_session(init_params(request.param, INIT_OPTIONS))
    lsp_client.init_result = result  # type: ignore[attr-defined]
    lsp_client.client_name = request.param  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


WARNINGS = [
    "tea-lsp: invalid setting 'tea.lua.timeout': expected a number of seconds greater than 0, "
    "got 'fast'; using the default (30.0)",
    "tea-lsp: invalid setting 'tea.run.strategy': expected 'process', 'thread' or 'dask', "
    "got 'cluster'; using the default ('process')",
    "tea-lsp: invalid setting 'tea.lua.maxMemory': expected a size such as '64MB', "
    "got 'lots'; using the default (64MB)",
    "tea-lsp: invalid setting 'tea.run.maxParallelBranches': expected an integer of at least 1, "
    "got 0; using the default (the number of CPUs)",
]


async def test_invalid_values_warn_and_fall_back(client: LanguageClient) -> None:
    await wait_until(lambda: len(client.messages) >= len(WARNINGS), "the settings warnings")
    assert [(m.type, m.message) for m in client.messages] == [
        (types.MessageType.Warning, w) for w in WARNINGS
    ]
    # The valid part of the configuration took effect: `*.flow` files are workflows.
    uri = file_uri("pipeline.flow")
    open_doc(client, uri, "- not\n- a mapping\n", language_id="plaintext")
    got = await diagnostics(client, uri, 1)
    assert [(d.code, d.message) for d in got] == [
        (
            "TEA004",
            "the document is not a mapping; a workflow is a mapping with a 'nodes' list",
        )
    ]


async def test_runs_use_the_defaults(client: LanguageClient) -> None:
    uri = file_uri("settings-run.tea.yaml")
    open_doc(client, uri, "name: r\nnodes:\n  - name: a\n    run: return { x = 1 }\n")
    await diagnostics(client, uri, 1)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tea.runWorkflow", arguments=[uri])
    )
    assert isinstance(result, dict)
    assert (result["ok"], result["state"]) == (True, {"x": 1})


async def test_configuration_change(client: LanguageClient) -> None:
    shown = len(client.messages)
    # Pushed settings replace the client's section; `files` is back to its default.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"tea": {"lua": {"timeout": 5}}})
    )
    uri = file_uri("pipeline.flow")
    if uses_pull(client):

        async def pulled() -> list[types.Diagnostic]:
            return await diagnostics(client, uri, 1)

        for _ in range(200):
            if await pulled() == []:
                break
        assert await pulled() == []
    else:
        await wait_until(lambda: list(publications(client, uri)[-1].diagnostics) == [], "clear")
    # Only the strategy from initializationOptions is still invalid: already shown, not again.
    assert len(client.messages) == shown
