"""Open documents as the server sees them: text kept as lines, edited incrementally.

Lines are split on ``\\r\\n``, ``\\r`` and ``\\n`` only (as LSP and the core's ``LineIndex``
do), so positions agree with the client even when the text holds other Unicode separators.
An edit touches only the lines it spans, so a storm of small edits on a large document costs
little; the full text is joined lazily when an analysis needs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tea_lsp.lsp.convert import Encoding, units_to_col

_BREAK = re.compile(r"\r\n|\r|\n")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """``text`` with every lone surrogate (JSON lets a client send ``"\\ud800"``) replaced by
    U+FFFD: one code point and one UTF-16 unit each, so every position stays the same, and
    the text can be encoded again (YAML, Lua and templates need UTF-8)."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def split_lines(text: str) -> list[str]:
    """Lines with their line breaks; the last item has none (it may be empty)."""
    out: list[str] = []
    pos = 0
    for m in _BREAK.finditer(text):
        out.append(text[pos : m.end()])
        pos = m.end()
    out.append(text[pos:])
    return out


def _content(line: str) -> str:
    """A line without its line break."""
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith(("\n", "\r")):
        return line[:-1]
    return line


@dataclass(slots=True)
class Change:
    """One content change: ``range`` is ``None`` for a full replacement.

    The range is ``(start_line, start_units, end_line, end_units)`` in the client's units.
    """

    text: str
    range: tuple[int, int, int, int] | None = None


@dataclass(slots=True)
class Document:
    uri: str
    version: int
    language_id: str
    _lines: list[str] = field(default_factory=lambda: [""])
    _text: str | None = None

    @classmethod
    def create(cls, uri: str, text: str, version: int = 0, language_id: str = "") -> Document:
        doc = cls(uri, version, language_id)
        text = clean(text)
        doc._lines = split_lines(text)
        doc._text = text
        return doc

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = "".join(self._lines)
        return self._text

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def line(self, n: int) -> str:
        """Line ``n`` without its line break (``""`` out of range)."""
        if 0 <= n < len(self._lines):
            return _content(self._lines[n])
        return ""

    def apply(self, change: Change, encoding: Encoding) -> None:
        """Apply one change. Out-of-range positions are clamped, never an error."""
        change = Change(clean(change.text), change.range)
        if change.range is None:
            self._lines = split_lines(change.text)
            self._text = change.text
            return
        sl, sc, el, ec = change.range
        start = self._clamp(sl, sc, encoding)
        end = self._clamp(el, ec, encoding)
        if end < start:
            start, end = end, start
        (l0, c0), (l1, c1) = start, end
        lines = self._lines
        region = lines[l0][:c0] + change.text + lines[l1][c1:]
        if (
            l0 > 0
            and region.startswith("\n")
            and lines[l0 - 1].endswith("\r")
            and not lines[l0 - 1].endswith("\r\n")
        ):
            # "\r" ending the previous line now meets "\n": one line break, not two.
            l0 -= 1
            region = lines[l0] + region
        new = split_lines(region)
        if l1 < len(lines) - 1:
            # The region ends with line l1's own break: the line after it starts anew.
            new.pop()
        lines[l0 : l1 + 1] = new
        self._text = None

    def _clamp(self, line: int, units: int, encoding: Encoding) -> tuple[int, int]:
        if line < 0:
            return 0, 0
        if line >= len(self._lines):
            last = len(self._lines) - 1
            return last, len(_content(self._lines[last]))
        content = _content(self._lines[line])
        return line, units_to_col(content, max(units, 0), encoding)
