"""Actions for ``uses:`` nodes: the shared registry and the built-ins."""

from __future__ import annotations

from tea_lsp.engine.actions.registry import (
    ENTRY_POINT_GROUP,
    ActionCancelled,
    ActionContext,
    ActionError,
    ActionFunc,
    ActionRegistry,
    ActionSpec,
    ActionTimeout,
    default_registry,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ActionCancelled",
    "ActionContext",
    "ActionError",
    "ActionFunc",
    "ActionRegistry",
    "ActionSpec",
    "ActionTimeout",
    "default_registry",
]
