"""The runner: ``run_workflow`` checks, plans and runs a workflow.

Sequential nodes run in one Lua VM; each parallel branch runs in its own fresh VM inside a
worker (a warm process pool by default, or threads), and the fan-in receives every branch's
result in ``state.parallel_results``.

Names are imported lazily, so ``tea_lsp.engine.actions`` (used by the checker) does not pull
the runner in.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tea_lsp.engine.events import Event, EventCallback, NdjsonWriter
    from tea_lsp.engine.executors import ProcessPool, default_pool, shutdown_default_pool
    from tea_lsp.engine.plan import RunOptions
    from tea_lsp.engine.runner import CancelToken, RunResult, RunStatus, run_workflow

_EXPORTS = {
    "CancelToken": "runner",
    "Event": "events",
    "EventCallback": "events",
    "NdjsonWriter": "events",
    "ProcessPool": "executors",
    "RunOptions": "plan",
    "RunResult": "runner",
    "RunStatus": "runner",
    "default_pool": "executors",
    "run_workflow": "runner",
    "shutdown_default_pool": "executors",
}

__all__ = [
    "CancelToken",
    "Event",
    "EventCallback",
    "NdjsonWriter",
    "ProcessPool",
    "RunOptions",
    "RunResult",
    "RunStatus",
    "default_pool",
    "run_workflow",
    "shutdown_default_pool",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tea_lsp.engine' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"tea_lsp.engine.{module}"), name)
    globals()[name] = value
    return value
