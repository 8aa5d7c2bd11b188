"""The core's only output type: positioned, frozen diagnostics.

Positions are 0-based lines and 0-based columns counted in Unicode code points
(Python ``str`` indices). Front-ends convert: the CLI prints 1-based columns, the
language server converts to the negotiated position encoding (UTF-16 by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Severity(IntEnum):
    """Severity, numbered like LSP's ``DiagnosticSeverity``."""

    ERROR = 1
    WARNING = 2
    INFO = 3
    HINT = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.strip().upper()]


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A half-open range ``[start, end)`` in a text, 0-based, columns in code points."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int

    def __init__(self, start_line: int, start_col: int, end_line: int, end_col: int) -> None:
        # The generated ``__init__`` of a frozen class calls ``object.__setattr__`` by name
        # for each field; the slots' own setters do the same in half the time (a large file
        # makes hundreds of thousands of spans).
        _set_start_line(self, start_line)
        _set_start_col(self, start_col)
        _set_end_line(self, end_line)
        _set_end_col(self, end_col)

    @classmethod
    def point(cls, line: int, col: int, width: int = 1) -> Span:
        return cls(line, col, line, col + width)

    def contains(self, line: int, col: int) -> bool:
        if (line, col) < (self.start_line, self.start_col):
            return False
        return (line, col) <= (self.end_line, self.end_col)


_set_start_line = vars(Span)["start_line"].__set__
_set_start_col = vars(Span)["start_col"].__set__
_set_end_line = vars(Span)["end_line"].__set__
_set_end_col = vars(Span)["end_col"].__set__


@dataclass(frozen=True, slots=True)
class Related:
    """A secondary location that explains a diagnostic (e.g. the first definition)."""

    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class TextEdit:
    span: Span
    new_text: str


@dataclass(frozen=True, slots=True)
class Fix:
    """A machine-applicable suggestion (used for LSP code actions)."""

    title: str
    edits: tuple[TextEdit, ...]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    span: Span
    related: tuple[Related, ...] = field(default=())
    fix: Fix | None = None
    source: str = "tea-lsp"

    def sort_key(self) -> tuple[int, int, str, str]:
        return (self.span.start_line, self.span.start_col, self.code, self.message)
