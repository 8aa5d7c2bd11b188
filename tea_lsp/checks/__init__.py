"""All checks, in the order they run. Each module has one ``check(ctx)`` function."""

from __future__ import annotations

from tea_lsp.checks import (
    actions,
    graph_loops,
    graph_names,
    graph_parallel,
    graph_reach,
    graph_refs,
    graph_traps,
    jinja_templates,
    lua_language,
    lua_semantics,
    lua_syntax,
    lua_writes,
    python_names,
    python_syntax,
    python_templates,
    schema,
    schema_traps,
)
from tea_lsp.checks.base import Check, CheckContext

ALL_CHECKS: list[tuple[str, Check]] = [
    ("schema", schema.check),
    ("schema_traps", schema_traps.check),
    ("graph_names", graph_names.check),
    ("graph_refs", graph_refs.check),
    ("graph_reach", graph_reach.check),
    ("graph_parallel", graph_parallel.check),
    ("graph_loops", graph_loops.check),
    ("graph_traps", graph_traps.check),
    ("lua_syntax", lua_syntax.check),
    ("lua_semantics", lua_semantics.check),
    ("lua_writes", lua_writes.check),
    ("lua_language", lua_language.check),
    ("python_syntax", python_syntax.check),
    ("python_names", python_names.check),
    ("python_templates", python_templates.check),
    ("jinja_templates", jinja_templates.check),
    ("actions", actions.check),
]

__all__ = ["ALL_CHECKS", "Check", "CheckContext"]
