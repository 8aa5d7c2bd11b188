"""One module per LSP feature; each registers its handlers with ``register(server)``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tea_lsp.lsp.handlers import (
    code_actions,
    code_lens,
    completion,
    definition,
    diagnostics,
    document_symbols,
    graph,
    hover,
    lifecycle,
    references,
    rename,
    run,
    sync,
)

if TYPE_CHECKING:
    from tea_lsp.lsp.server import TeaLanguageServer

MODULES = (
    lifecycle,
    sync,
    diagnostics,
    hover,
    completion,
    definition,
    references,
    rename,
    document_symbols,
    code_actions,
    code_lens,
    run,
    graph,
)


def register_all(server: TeaLanguageServer) -> None:
    for module in MODULES:
        module.register(server)
