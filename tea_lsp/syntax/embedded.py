"""Map positions inside an embedded snippet (a scalar's string value) back to the file.

Exact for literal block scalars (``|``, ``|-``, ``|+``, with or without an indentation
indicator) and for single-line scalars whose source text equals their value. For folded,
escaped or multi-line flow scalars only the whole value is known (``to_file`` gives ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass

from tea_lsp.diagnostics import Span
from tea_lsp.syntax.text import LineIndex
from tea_lsp.syntax.yaml_tree import YScalar


@dataclass(frozen=True, slots=True)
class SnippetMap:
    whole_span: Span
    # literal block: first content line and its indentation; inline: line and first column.
    first_line: int
    first_col: int
    mode: str  # "block" | "inline" | "whole"
    line_count: int

    @classmethod
    def for_scalar(cls, scalar: YScalar, lines: LineIndex) -> SnippetMap:
        text = scalar.text
        span = scalar.span
        nlines = text.count("\n") + 1
        if scalar.style == "|" and scalar.block_indent >= 0:
            return cls(span, scalar.header_line + 1, scalar.block_indent, "block", nlines)
        if scalar.style == "|":  # a block with no non-blank content line
            return cls(span, scalar.header_line + 1, 0, "whole", nlines)
        if span.start_line == span.end_line and "\n" not in text:
            src = lines.line(span.start_line)[span.start_col : span.end_col]
            if scalar.style in ("'", '"'):
                if src[1:-1] == text:
                    return cls(span, span.start_line, span.start_col + 1, "inline", 1)
            elif src == text or src.rstrip() == text:
                return cls(span, span.start_line, span.start_col, "inline", 1)
        return cls(span, span.start_line, span.start_col, "whole", nlines)

    @property
    def exact(self) -> bool:
        return self.mode != "whole"

    def to_file(self, line: int, col: int) -> tuple[int, int] | None:
        """File position of snippet position ``(line, col)`` (0-based), or ``None``."""
        if self.mode == "whole" or line < 0 or line >= self.line_count:
            return None
        if self.mode == "block":
            return self.first_line + line, self.first_col + col
        return self.first_line, self.first_col + col

    def span(self, line: int, col: int, end_col: int | None = None) -> Span:
        """A file span for a snippet range on one line; the whole value when not exact."""
        start = self.to_file(line, col)
        if start is None:
            return self.whole_span
        width = max(1, (end_col if end_col is not None else col + 1) - col)
        return Span(start[0], start[1], start[0], start[1] + width)

    def line_span(self, line: int, snippet_line_text: str) -> Span:
        """The span of one whole snippet line (its non-blank part)."""
        start = self.to_file(line, 0)
        if start is None:
            return self.whole_span
        stripped = snippet_line_text.lstrip()
        lead = len(snippet_line_text) - len(stripped)
        width = max(1, len(stripped.rstrip()))
        return Span(start[0], start[1] + lead, start[0], start[1] + lead + width)
