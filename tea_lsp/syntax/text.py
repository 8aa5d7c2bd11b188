"""Line index over a text: offsets, lines and UTF-16 conversions.

Lines are split on ``\\n``, ``\\r\\n`` and ``\\r`` (as LSP does). Columns are code points.
"""

from __future__ import annotations

import re
from bisect import bisect_right

_BREAK = re.compile(r"\r\n|\r|\n")


def normalize(text: str) -> str:
    """Drop a leading BOM; the rest of the text is kept verbatim."""
    return text[1:] if text.startswith("\ufeff") else text


class LineIndex:
    """Maps between offsets and (line, column) positions of one text."""

    __slots__ = ("_ends", "_starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        starts = [0]
        ends: list[int] = []
        if "\r" not in text:  # fast path: only \n line breaks
            pos = 0
            for line in text.split("\n"):
                pos += len(line)
                ends.append(pos)
                pos += 1
                starts.append(pos)
            starts.pop()
        else:
            for m in _BREAK.finditer(text):
                ends.append(m.start())
                starts.append(m.end())
            ends.append(len(text))
        self._starts = starts
        self._ends = ends

    @property
    def line_count(self) -> int:
        return len(self._starts)

    def line(self, n: int) -> str:
        if n < 0 or n >= len(self._starts):
            return ""
        return self.text[self._starts[n] : self._ends[n]]

    def line_length(self, n: int) -> int:
        if n < 0 or n >= len(self._starts):
            return 0
        return self._ends[n] - self._starts[n]

    def offset(self, line: int, col: int) -> int:
        if line >= len(self._starts):
            return len(self.text)
        if line < 0:
            return 0
        return min(self._starts[line] + max(col, 0), self._ends[line])

    def position(self, offset: int) -> tuple[int, int]:
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self._starts, offset) - 1
        return line, min(offset - self._starts[line], self._ends[line] - self._starts[line])

    def end(self) -> tuple[int, int]:
        last = len(self._starts) - 1
        return last, self._ends[last] - self._starts[last]


def utf16_len(s: str) -> int:
    """Length of ``s`` in UTF-16 code units."""
    return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)


def col_to_utf16(line_text: str, col: int) -> int:
    """Code-point column → UTF-16 column on one line."""
    return utf16_len(line_text[:col])


def utf16_to_col(line_text: str, units: int) -> int:
    """UTF-16 column → code-point column on one line (clamped to the line)."""
    count = 0
    for i, ch in enumerate(line_text):
        if count >= units:
            return i
        count += 2 if ord(ch) > 0xFFFF else 1
    return len(line_text)


def col_to_utf8(line_text: str, col: int) -> int:
    return len(line_text[:col].encode("utf-8"))


def utf8_to_col(line_text: str, units: int) -> int:
    return len(line_text.encode("utf-8")[:units].decode("utf-8", errors="ignore"))
