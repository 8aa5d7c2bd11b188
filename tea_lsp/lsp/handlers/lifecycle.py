"""``initialize``, ``initialized``, configuration changes and ``shutdown``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lsprotocol import types

if TYPE_CHECKING:
    from tea_lsp.lsp.server import TeaLanguageServer


def _tea_section(raw: object) -> dict[str, Any] | None:
    """The ``tea`` settings inside ``raw`` (which may or may not be wrapped in ``tea``)."""
    if not isinstance(raw, Mapping):
        return None
    inner = raw.get("tea")
    if isinstance(inner, Mapping):
        return dict(inner)
    return dict(raw)


def merge(base: object, override: object) -> object:
    """``override`` on top of ``base``, mapping by mapping."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(out.get(k), v) if k in out else v
        return out
    return override if override is not None else base


async def refresh_configuration(server: TeaLanguageServer, pushed: object = None) -> None:
    """Settings = initializationOptions, overridden by the client's ``tea`` section."""
    section: object = None
    if pushed is not None:
        section = _tea_section(pushed) if isinstance(pushed, Mapping) and "tea" in pushed else None
    if section is None and server.supports_configuration():
        try:
            result = await server.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="tea")])
            )
        except Exception as exc:  # a client that fails the request: keep what we have
            server.log_message(f"tea-lsp: workspace/configuration failed: {exc}")
            result = None
        if result:
            section = result[0]
    base = _tea_section(server.init_options)
    if section is not None and not isinstance(section, Mapping):
        # Let the settings parser word the warning about the malformed value.
        server.apply_settings(section)
        return
    server.apply_settings(merge(base, section) if section else base)


def register(server: TeaLanguageServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        server.setup(params)

    @server.feature(types.INITIALIZED)
    def initialized(params: types.InitializedParams) -> None:
        async def start() -> None:
            server.show_pending_warnings()
            if server.supports_configuration():
                await refresh_configuration(server)

        server.spawn(start())

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        server.spawn(refresh_configuration(server, params.settings))

    @server.feature(types.SHUTDOWN)
    def shutdown(params: None) -> None:
        server.close_all()
