"""Span helpers shared by the checks: keep underlines short and on one line."""

from __future__ import annotations

from tea_lsp.diagnostics import Span
from tea_lsp.syntax.text import LineIndex
from tea_lsp.syntax.yaml_tree import YMap, YNode


def first_line_span(span: Span, lines: LineIndex) -> Span:
    """``span`` clipped to its first line (trailing blanks dropped); never empty."""
    if span.end_line == span.start_line and span.end_col > span.start_col:
        return span
    text = lines.line(span.start_line)
    end = span.end_col if span.end_line == span.start_line else len(text.rstrip())
    if end <= span.start_col:
        end = min(span.start_col + 1, max(len(text), span.start_col))
        if end <= span.start_col:  # at the very end of the line: point at the last character
            start = max(0, len(text) - 1)
            return Span(span.start_line, start, span.start_line, len(text))
    return Span(span.start_line, span.start_col, span.start_line, end)


def head_span(node: YNode, lines: LineIndex) -> Span:
    """A short span that stands for a whole mapping: its first key; else its first line."""
    if isinstance(node, YMap) and node.pairs:
        return first_line_span(node.pairs[0].key.span, lines)
    return first_line_span(node.span, lines)


def value_span(value: YNode | None, key: YNode | None, lines: LineIndex) -> Span | None:
    """Where to underline a value: the value's first line; its key when the value is empty."""
    if value is not None:
        s = value.span
        if (s.start_line, s.start_col) != (s.end_line, s.end_col):
            return first_line_span(s, lines)
    if key is not None:
        return first_line_span(key.span, lines)
    if value is not None:
        return first_line_span(value.span, lines)
    return None


def key_span(ymap: YMap, key: str, lines: LineIndex) -> Span:
    """The span of ``key`` in ``ymap`` (its first line), or of the mapping's head."""
    node = ymap.key_node(key)
    if node is not None:
        return first_line_span(node.span, lines)
    return head_span(ymap, lines)
