"""TEA701 Python syntax (TEA308 when a Python snippet is too large to check).

Every Python snippet (unmarked code read as Python, ``language: python``, ``run: {type:
expression}`` values) is compiled as TEA's Python engine compiles it, never run. The error lands
on its exact line and column inside literal block scalars and single-line values; on the whole
value for folded, quoted multi-line or escaped scalars.
"""

from __future__ import annotations

from tea_lsp.checks.base import CheckContext, report_too_big
from tea_lsp.checks.python_common import PyEntry, python_entries
from tea_lsp.diagnostics import Span
from tea_lsp.langs.python.check import PySyntaxError, python_syntax_error


def check(ctx: CheckContext) -> None:
    for entry in python_entries(ctx):
        if entry.too_big:
            report_too_big(ctx, entry.snippet, "python")
            continue
        if entry.facts is not None:
            continue
        err = python_syntax_error(entry.snippet.text, entry.mode)
        if err is None:  # pragma: no cover - entries record the same result
            continue
        where = " in expression" if entry.mode == "eval" else ""
        ctx.report("TEA701", _span(entry, err), f"python syntax error{where}: {err.message}")


def _span(entry: PyEntry, err: PySyntaxError) -> Span:
    if not entry.smap.exact:
        return entry.smap.whole_span
    lines = entry.lines
    text = lines[err.line - 1] if 0 < err.line <= len(lines) else ""
    if err.col >= len(text.rstrip()) and text.strip() == "" and err.line > 1:
        return entry.smap.line_span(err.line - 1, text)
    end = err.end_col if err.end_col is not None else err.col + 1
    return entry.span(err.line, err.col, end)
