"""TEA311: ``state.x = ...`` in a Lua node that never returns ``state`` nor a table with ``x``.

A Lua node receives a copy of the state and only the table it returns is merged back, so such a
write is lost. Quiet when the code returns something whose keys a literal reading cannot tell
(``return out``), returns ``state``, or declares its own ``state``.
"""

from __future__ import annotations

import re

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.lua_common import LuaEntry, lua_entries, lua_returned_keys
from tea_lsp.langs import lua_scan

_DECLARED = re.compile(
    r"\blocal\s+(?:[A-Za-z_]\w*\s*,\s*)*state\b"
    r"|\bfunction\b[\w.:\s]*\([^)]*\bstate\b"
    r"|\bfor\s+(?:[A-Za-z_]\w*\s*,\s*)*state\b"
)
_STATEMENT_END = frozenset(("end", "else", "elseif", "until", ";", "<eof>"))
# Without comments, a write ``state.k =`` / ``state["k"] =`` matches this (and more): code
# that does not is not tokenized at all (most snippets only read the state).
# (The look-behind follows the literal "state", which the regex engine then searches fast.)
_MAY_WRITE = re.compile(
    r"state(?<![A-Za-z0-9_]state)\s*(?:\.\s*[A-Za-z_]\w*|\[.*?\])\s*=(?!=)", re.S
)


def check(ctx: CheckContext) -> None:
    for e in lua_entries(ctx):
        if e.facts is None or e.facts.method != "scan":
            continue
        text = e.snippet.text
        if "state" not in text:
            continue
        if "--" not in text and _MAY_WRITE.search(text) is None:
            continue  # no write to a state field
        if _DECLARED.search(text):
            continue  # a local / parameter named state shadows the node's argument
        _check_entry(ctx, e)


def _check_entry(ctx: CheckContext, e: LuaEntry) -> None:
    assert e.facts is not None
    code = e.snippet.text
    try:
        tokens = lua_scan.tokenize(code)
    except lua_scan.LexError:
        return
    writes: list[tuple[str, lua_scan.Token]] = []
    has_return = False
    for i, tok in enumerate(tokens):
        if tok.kind == lua_scan.KEYWORD and tok.text == "return":
            has_return = True
            nxt = tokens[i + 1]
            after = tokens[i + 2] if i + 2 < len(tokens) else nxt
            if nxt.text == "state" and after.text in _STATEMENT_END:
                return  # returns the whole (modified) state
            continue
        if tok.kind == lua_scan.NAME and tok.text == "state":
            prev = tokens[i - 1].text if i > 0 else ""
            if prev in (".", ":"):
                continue
            found = _assigned_field(tokens, i)
            if found is not None:
                writes.append(found)
    if not writes:
        return
    if has_return and e.facts.returns_opaque:
        return  # e.g. ``return out``: keys unknown
    returned = e.facts.return_keys | lua_returned_keys(code)
    lines = lua_scan.Lines(code)
    seen: set[str] = set()
    for key, where in writes:
        if key in returned or key in seen:
            continue
        seen.add(key)
        line, col = lines.position(where.offset)
        ctx.report(
            "TEA311",
            e.span(line, col, len(where.text)),
            f"'state.{key}' is assigned but the node never returns it: a Lua node gets a copy "
            f"of the state, so the write is lost; return {{ {key} = ... }} (or return state)",
        )


def _assigned_field(tokens: list[lua_scan.Token], i: int) -> tuple[str, lua_scan.Token] | None:
    """``state.k =`` / ``state["k"] =`` at ``i``: the key and the token that names it."""
    n = len(tokens)
    if i + 3 < n and tokens[i + 1].text == "." and tokens[i + 2].kind == lua_scan.NAME:
        if tokens[i + 3].text == "=":
            return tokens[i + 2].text, tokens[i + 2]
        return None
    if (
        i + 4 < n
        and tokens[i + 1].text == "["
        and tokens[i + 2].kind == lua_scan.STRING
        and tokens[i + 3].text == "]"
        and tokens[i + 4].text == "="
    ):
        value = lua_scan.string_value(tokens[i + 2].text)
        if value is not None:
            return value, tokens[i + 2]
    return None
