"""Which language a node's code is written in, decided once and shared by checker and runner.

An explicit ``language:`` or ``run: {type: ...}`` wins. Unmarked code depends on the engine:
TEA's Python engine runs it as Python (after rendering it through Jinja), its Rust engine as
Lua. ``default`` chooses: ``"python"`` or ``"lua"`` follow one engine; ``"auto"`` decides per
snippet: Lua when the code compiles as Lua, else Python when it parses as Python (``{{ }}`` and
``{% %}`` masked), else the language the code resembles most (its syntax error is the one
reported). A file may set its own default with a YAML comment line
``# tea-lsp: default-language=python`` (or ``lua`` / ``auto``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from tea_lsp.langs.lua import compile_check
from tea_lsp.langs.python.check import python_syntax_error
from tea_lsp.model.workflow import Node

DEFAULT_LANGUAGES = ("auto", "python", "lua")

_FILE_DEFAULT = re.compile(
    r"^[ \t]*#[ \t]*tea-lsp[ \t]*:[ \t]*default-language[ \t]*[=:][ \t]*([A-Za-z]+)[ \t]*$",
    re.M,
)

# Evidence for one language that the other never writes (counted once per pattern).
_LUA_EVIDENCE = tuple(
    re.compile(p, re.M)
    for p in (
        r"\blocal\s+[A-Za-z_]",
        r"\bthen\b",
        r"^\s*end\b",
        r"\belseif\b",
        r"~=",
        r"\w\s*\.\.\s*[\w\"'(]",
        r"^\s*--",
        r"\bfunction\s*[\w.:]*\s*\(",
        r"\bnil\b",
        r"#\w",
    )
)
_PY_EVIDENCE = tuple(
    re.compile(p, re.M)
    for p in (
        r"^\s*def\s+\w+\s*\(",
        r"^\s*(?:import\s+\w|from\s+[\w.]+\s+import\b)",
        r"^\s*(?:if|elif|else|for|while|try|except|finally|with|class)\b[^\n]*:\s*(?:#.*)?$",
        r"\b(?:None|True|False)\b",
        r"^\s*#(?!\w)",
        r"\bstate\s*\[\s*['\"]",
        r"\bstate\.get\s*\(",
        r"\bf['\"]",
        r"\bjson\.(?:dumps|loads)\b",
        r"\b(?:len|isinstance|str|int|range)\s*\(",
    )
)


def file_default_language(text: str) -> str | None:
    """The ``# tea-lsp: default-language=...`` of a file (first valid one), or ``None``."""
    if "default-language" not in text:
        return None
    for m in _FILE_DEFAULT.finditer(text):
        value = m.group(1).lower()
        if value in DEFAULT_LANGUAGES:
            return value
    return None


def has_lua_marker(code: str) -> bool:
    """Whether the code's first line is ``-- lua`` / ``--lua``: upstream's Lua marker, written
    as a marker (upstream also takes a longer comment such as ``-- lua tables``, which is not
    meant as one)."""
    first = code.lstrip().split("\n", 1)[0].strip()
    return first in ("-- lua", "--lua")


def _score(code: str, patterns: tuple[re.Pattern[str], ...]) -> int:
    return sum(1 for p in patterns if p.search(code))


@lru_cache(maxsize=4096)
def auto_language(text: str) -> str:
    """``lua`` or ``python`` for unmarked code under the ``auto`` default."""
    if compile_check(text) is None:
        return "lua"
    if python_syntax_error(text) is None:
        return "python"
    lua, py = _score(text, _LUA_EVIDENCE), _score(text, _PY_EVIDENCE)
    if lua != py:
        return "lua" if lua > py else "python"
    # No evidence either way: the language whose parser got further.
    lua_err, py_err = compile_check(text), python_syntax_error(text)
    lua_pos = (lua_err.line, lua_err.col or 0) if lua_err is not None else (0, 0)
    py_pos = (py_err.line, py_err.col) if py_err is not None else (0, 0)
    return "python" if py_pos > lua_pos else "lua"


def resolve_language(node: Node, default: str = "auto") -> str:
    """``lua``, ``python``, ``prolog`` or another explicit value for ``node``'s code."""
    if node.language_explicit or node.code is None:
        return node.language
    if default == "python":
        return "python"
    if default == "lua":
        return "lua"
    return auto_language(node.code.text)
