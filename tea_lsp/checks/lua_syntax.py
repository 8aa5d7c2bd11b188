"""TEA301 Lua syntax, TEA307 marked-Lua-looks-like-Python, TEA308 snippet too large.

Every Lua snippet (``run``, ``script``, ``run.code``, steps and loop bodies) is compiled as text
in a private VM that never executes it. The error lands on the exact line and token inside
literal block scalars; on the whole value for folded, quoted or multi-line plain scalars.
"""

from __future__ import annotations

import ast
import re

from tea_lsp.checks.base import CheckContext, report_too_big
from tea_lsp.checks.lua_common import LuaEntry, lua_entries
from tea_lsp.diagnostics import Fix, Span, TextEdit
from tea_lsp.langs.lua import LuaSyntaxError, compile_check
from tea_lsp.syntax.yaml_tree import YMap, YScalar
from tea_lsp.util import show_value

_AT_LINE = re.compile(r"\bat line (\d+)")

# Python constructs that Lua code never parses into (a plain `x += 1` typo is not evidence).
_PYTHONIC = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Import,
    ast.ImportFrom,
    ast.If,
    ast.For,
    ast.While,
    ast.With,
    ast.Try,
    ast.Dict,
    ast.DictComp,
    ast.ListComp,
    ast.SetComp,
    ast.GeneratorExp,
    ast.Lambda,
    ast.Subscript,
    ast.List,
)


def check(ctx: CheckContext) -> None:
    for entry in lua_entries(ctx):
        if entry.too_big:
            report_too_big(ctx, entry.snippet, "lua")
            continue
        if entry.compiles:
            continue
        err = compile_check(entry.snippet.text)
        if err is None:  # pragma: no cover - entries record the same result
            continue
        message = (
            f"lua syntax error: {_relined(err, entry)}{_borrowed_operator(entry, err)}"
            f"{_comment_note(ctx, entry)}"
        )
        ctx.report("TEA301", _error_span(entry, err), message)
        if entry.node.language_explicit and _parses_as_python(entry.snippet.text):
            _python_hint(ctx, entry)


def _error_span(entry: LuaEntry, err: LuaSyntaxError) -> Span:
    if not entry.smap.exact:
        return entry.smap.whole_span
    if err.col is None:
        return entry.span(err.line, None)
    width = 1
    if err.token and err.token != "<eof>":
        lines = entry.lines
        text = lines[err.line - 1] if 0 < err.line <= len(lines) else ""
        if text[err.col : err.col + len(err.token)] == err.token:
            width = len(err.token)
    return entry.span(err.line, err.col, width)


def _comment_note(ctx: CheckContext, entry: LuaEntry) -> str:
    """A plain scalar cut by `` #`` (a YAML comment) is a classic trap: say so."""
    scalar = entry.snippet.scalar
    if scalar.style != "":
        return ""
    rest = ctx.lines.line(scalar.span.end_line)[scalar.span.end_col :]
    if not rest.lstrip().startswith("#") or (rest and not rest[0].isspace()):
        return ""
    return (
        "; ' #' starts a YAML comment in a plain scalar, so the code stops there: quote it or "
        "use a block scalar ('|')"
    )


def _relined(err: LuaSyntaxError, entry: LuaEntry) -> str:
    """Lua's message with snippet line numbers ("at line 2") turned into file lines."""

    def repl(m: re.Match[str]) -> str:
        pos = entry.smap.to_file(int(m.group(1)) - 1, 0)
        return f"at line {pos[0] + 1}" if pos is not None else m.group(0)

    return _AT_LINE.sub(repl, err.message)


def _parses_as_python(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(isinstance(n, _PYTHONIC) for n in ast.walk(tree))


def _python_hint(ctx: CheckContext, entry: LuaEntry) -> None:
    """Code marked as Lua that parses as Python: offer to mark it as Python instead."""
    node = entry.node
    marker = _language_value(node.ymap)
    if marker is None:
        return
    fix = Fix("mark the code as Python", (TextEdit(marker.span, "python"),))
    ctx.report(
        "TEA307",
        marker.span,
        f"code marked as {show_value(marker.value)} does not compile as Lua but parses as "
        "Python; did you mean 'python'?",
        fix=fix,
    )


def _language_value(ymap: YMap) -> YScalar | None:
    """The scalar that says ``lua``: ``language:`` or ``run: {type: ...}``."""
    run = ymap.get("run")
    if isinstance(run, YMap):
        rtype = run.get("type")
        if isinstance(rtype, YScalar) and isinstance(rtype.value, str):
            return rtype
    lang = ymap.get("language")
    if isinstance(lang, YScalar) and isinstance(lang.value, str):
        return lang
    return None


# Operators of other languages, the Lua spelling, and a pattern that finds them outside strings.
_BORROWED: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("!=", "~=", re.compile(r"!=")),
    ("&&", "and", re.compile(r"&&")),
    ("||", "or", re.compile(r"\|\|")),
    ("+=", "x = x + 1", re.compile(r"\+=")),
    ("-=", "x = x - 1", re.compile(r"(?<!-)-=")),
    ("*=", "x = x * 2", re.compile(r"\*=")),
    ("/=", "x = x / 2", re.compile(r"(?<!/)/=")),
    ("!x", "not x", re.compile(r"!(?!=)\s*[A-Za-z_(]")),
)
_STRING_OR_COMMENT = re.compile(r"--.*$|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'")


def _borrowed_operator(entry: LuaEntry, err: LuaSyntaxError) -> str:
    """A hint naming the Lua spelling of an operator borrowed from another language."""
    lines = entry.lines
    if not 0 < err.line <= len(lines):
        return ""
    text = _STRING_OR_COMMENT.sub(lambda m: " " * len(m.group(0)), lines[err.line - 1])
    for op, lua, pattern in _BORROWED:
        if pattern.search(text):
            if op.endswith("=") and op != "!=":
                return f"; Lua has no '{op}': write '{lua}'"
            if op == "!x":
                return f"; Lua writes '{lua}' for '!x'"
            return f"; Lua writes '{lua}' for '{op}'"
    return ""
