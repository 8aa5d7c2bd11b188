"""Core positions (code points) ↔ LSP positions (the negotiated encoding), and diagnostics.

The core counts columns in code points. LSP counts them in UTF-16 code units unless client
and server agreed on ``utf-8`` or ``utf-32`` during ``initialize``. Every conversion goes
through this module, per line, so a column is right after emoji, accents and CJK text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol

from lsprotocol import types

from tea_lsp import codes
from tea_lsp.diagnostics import Diagnostic, Span, TextEdit
from tea_lsp.syntax.text import col_to_utf8, col_to_utf16, utf8_to_col, utf16_to_col

Encoding = Literal["utf-8", "utf-16", "utf-32"]
ENCODINGS: tuple[Encoding, ...] = ("utf-8", "utf-16", "utf-32")
DEFAULT_ENCODING: Encoding = "utf-16"

# Codes whose diagnostics mark code that never runs (editors fade it).
_UNNECESSARY = frozenset({"TEA204"})


class Lines(Protocol):
    """What a conversion needs from a text: its lines without line breaks."""

    @property
    def line_count(self) -> int: ...

    def line(self, n: int) -> str: ...


def negotiate(offered: Iterable[str] | None) -> Encoding:
    """The first encoding the client offers that we support; UTF-16 otherwise (LSP default)."""
    for enc in offered or ():
        for known in ENCODINGS:
            if enc == known:
                return known
    return DEFAULT_ENCODING


def col_to_units(line_text: str, col: int, encoding: Encoding) -> int:
    """Code-point column → column in ``encoding`` units (clamped to the line)."""
    col = max(0, min(col, len(line_text)))
    if encoding == "utf-16":
        return col_to_utf16(line_text, col)
    if encoding == "utf-8":
        return col_to_utf8(line_text, col)
    return col


def units_to_col(line_text: str, units: int, encoding: Encoding) -> int:
    """Column in ``encoding`` units → code-point column (clamped to the line).

    A position in the middle of a character (half a surrogate pair, inside a UTF-8 sequence)
    lands on a character boundary next to it.
    """
    units = max(0, units)
    if encoding == "utf-16":
        return utf16_to_col(line_text, units)
    if encoding == "utf-8":
        return utf8_to_col(line_text, units)
    return min(units, len(line_text))


def to_position(lines: Lines, line: int, col: int, encoding: Encoding) -> types.Position:
    """A core position as an LSP position; past the end → the end of the text."""
    last = lines.line_count - 1
    if line > last:
        line, col = last, len(lines.line(last))
    line = max(line, 0)
    return types.Position(line=line, character=col_to_units(lines.line(line), col, encoding))


def from_position(lines: Lines, pos: types.Position, encoding: Encoding) -> tuple[int, int]:
    """An LSP position as a core ``(line, code-point column)``, clamped to the text."""
    last = lines.line_count - 1
    if pos.line > last:
        return last, len(lines.line(last))
    line = max(pos.line, 0)
    return line, units_to_col(lines.line(line), pos.character, encoding)


def to_range(lines: Lines, span: Span, encoding: Encoding) -> types.Range:
    return types.Range(
        start=to_position(lines, span.start_line, span.start_col, encoding),
        end=to_position(lines, span.end_line, span.end_col, encoding),
    )


def from_range(lines: Lines, rng: types.Range, encoding: Encoding) -> Span:
    sl, sc = from_position(lines, rng.start, encoding)
    el, ec = from_position(lines, rng.end, encoding)
    return Span(sl, sc, el, ec)


def to_text_edit(lines: Lines, edit: TextEdit, encoding: Encoding) -> types.TextEdit:
    return types.TextEdit(range=to_range(lines, edit.span, encoding), new_text=edit.new_text)


def to_diagnostic(
    lines: Lines, d: Diagnostic, uri: str, encoding: Encoding, source: str | None = None
) -> types.Diagnostic:
    """An LSP diagnostic with code, link to the code's docs, source and related spans."""
    info = codes.REGISTRY.get(d.code)
    related = [
        types.DiagnosticRelatedInformation(
            location=types.Location(uri=uri, range=to_range(lines, r.span, encoding)),
            message=r.message,
        )
        for r in d.related
    ]
    return types.Diagnostic(
        range=to_range(lines, d.span, encoding),
        message=d.message,
        severity=types.DiagnosticSeverity(int(d.severity)),
        code=d.code,
        code_description=types.CodeDescription(href=info.url) if info else None,
        source=source or d.source,
        related_information=related or None,
        tags=[types.DiagnosticTag.Unnecessary] if d.code in _UNNECESSARY else None,
    )
