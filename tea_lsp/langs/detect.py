"""Which language a node's code is written in, decided once and shared by checker and runner.

An explicit ``language:`` or ``run: {type: ...}`` wins. Unmarked code depends on the engine:
TEA's Python engine runs it as Python, its Rust engine as Lua. ``default`` chooses:
``"python"`` or ``"lua"`` follow one engine; ``"auto"`` decides per snippet (Lua when the code
compiles as Lua, else Python when it parses as Python, else Lua).
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache

from tea_lsp.langs.lua import compile_check
from tea_lsp.model.workflow import Node

DEFAULT_LANGUAGES = ("auto", "python", "lua")

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


def _mask_jinja(text: str) -> str:
    """Replace ``{{ }}`` / ``{% %}`` by a Python-neutral name of no fewer lines."""
    return _JINJA.sub(lambda m: "None" + "\n" * m.group(0).count("\n"), text)


@lru_cache(maxsize=4096)
def _auto(text: str) -> str:
    if compile_check(text) is None:
        return "lua"
    try:
        ast.parse(_mask_jinja(text))
    except (SyntaxError, ValueError):
        return "lua"
    return "python"


def resolve_language(node: Node, default: str = "auto") -> str:
    """``lua``, ``python``, ``prolog`` or another explicit value for ``node``'s code."""
    if node.language_explicit or node.code is None:
        return node.language
    if default == "python":
        return "python"
    if default == "lua":
        return "lua"
    return _auto(node.code.text)
