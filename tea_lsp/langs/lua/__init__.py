"""Lua node code: the sandboxed VM the runner uses (``runtime``) and the static checks the
checker uses (``check``). Both halves are re-exported here under their historical names."""

from __future__ import annotations

from tea_lsp.langs.lua.check import (
    GlobalAccess,
    LuaFacts,
    LuaSyntaxError,
    compile_check,
    global_accesses,
    global_accesses_bytecode,
    sandbox_globals,
    snippet_facts,
)
from tea_lsp.langs.lua.runtime import (
    HOOK_COUNT,
    MAX_DEPTH,
    REMOVED_FIELDS,
    REMOVED_GLOBALS,
    LuaError,
    LuaMemoryError,
    LuaRuntimeError,
    LuaTimeout,
    LuaVM,
    parse_memory,
)

__all__ = [
    "HOOK_COUNT",
    "MAX_DEPTH",
    "REMOVED_FIELDS",
    "REMOVED_GLOBALS",
    "GlobalAccess",
    "LuaError",
    "LuaFacts",
    "LuaMemoryError",
    "LuaRuntimeError",
    "LuaSyntaxError",
    "LuaTimeout",
    "LuaVM",
    "compile_check",
    "global_accesses",
    "global_accesses_bytecode",
    "parse_memory",
    "sandbox_globals",
    "snippet_facts",
]
