"""What is at a position: in the YAML tree (hover) or in text still being typed (completion).

``tree_at`` walks the positioned tree of a parsed document. ``key_context`` reads only the
lines above the cursor and their indentation, so completion works on text that does not
parse yet (a half-typed key is not valid YAML).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tea_lsp.lsp.convert import Lines
from tea_lsp.syntax.yaml_tree import YMap, YNode, YPair, YScalar, YSeq

Path = list[str | int]

_KEY = re.compile(
    r"""^(?:"([^"\n]*)"|'([^'\n]*)'|([^\s#:'"{\[\]},&*!|>%@`-][^:#\n]*?|-[^\s:#][^:#\n]*?))\s*:(?:\s|$)"""
)
_DASH = re.compile(r"^-(\s+|$)")


@dataclass(slots=True)
class TreeHit:
    path: Path
    node: YNode
    on_key: bool
    pair: YPair | None = None
    parents: list[YNode] = field(default_factory=list)


def tree_at(root: YNode | None, line: int, col: int) -> TreeHit | None:
    """The innermost key or value at ``(line, col)``."""
    if root is None or not root.span.contains(line, col):
        return None
    path: Path = []
    parents: list[YNode] = []
    node: YNode = root
    while True:
        if isinstance(node, YMap):
            nxt: YNode | None = None
            for p in node.pairs:
                if p.key.span.contains(line, col) and isinstance(p.key, YScalar):
                    return TreeHit([*path, p.key_text or ""], p.key, True, p, [*parents, node])
                v = p.value
                if _inside(v, line, col):
                    path.append(p.key_text or "")
                    parents.append(node)
                    nxt = v
                    pair = p
                    break
            if nxt is None:
                return TreeHit(path, node, False, None, parents)
            if isinstance(nxt, YScalar):
                return TreeHit(path, nxt, False, pair, parents)
            node = nxt
        elif isinstance(node, YSeq):
            found: YNode | None = None
            for i, item in enumerate(node.items):
                if _inside(item, line, col):
                    path.append(i)
                    parents.append(node)
                    found = item
                    break
            if found is None:
                return TreeHit(path, node, False, None, parents)
            if isinstance(found, YScalar):
                return TreeHit(path, found, False, None, parents)
            node = found
        else:
            return TreeHit(path, node, False, None, parents)


def _inside(node: YNode, line: int, col: int) -> bool:
    s = node.span
    if (s.start_line, s.start_col) == (s.end_line, s.end_col):
        return False  # an empty (null) value has no extent to be inside of
    return s.contains(line, col)


# ---- text being typed


def indent_of(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def key_of(text: str) -> str | None:
    """The mapping key at the start of ``text`` (no indentation, no dash), if any."""
    m = _KEY.match(text)
    if m is None:
        return None
    return next(g for g in m.groups() if g is not None).strip()


def _dash_content(stripped: str) -> tuple[int, str] | None:
    """For ``- x`` lines: (offset of ``x`` from the dash, ``x``)."""
    m = _DASH.match(stripped)
    if m is None:
        return None
    return m.end(), stripped[m.end() :]


def _significant(text: str) -> bool:
    s = text.strip()
    return bool(s) and not s.startswith("#")


def key_context(lines: Lines, line: int, key_col: int, dash_col: int | None) -> Path:
    """The path of the mapping a key typed at ``key_col`` on ``line`` belongs to.

    ``dash_col`` is the column of ``-`` when the key starts a new sequence item on that line.
    Sequence indexes are given as ``0`` (the schema treats every item alike).
    """
    path: Path = []
    if dash_col is not None:
        path.insert(0, 0)
        target, seq_mode = dash_col, True
    else:
        target, seq_mode = key_col, False
    for j in range(line - 1, -1, -1):
        text = lines.line(j)
        if not _significant(text):
            continue
        ind = indent_of(text)
        stripped = text[ind:]
        dash = _dash_content(stripped)
        if seq_mode:
            if ind > target or (ind == target and dash is not None):
                continue
            # The key owning the sequence whose items start at ``target``.
            if dash is not None:
                content_col = ind + dash[0]
                k = key_of(dash[1])
                if k is not None and content_col <= target:
                    path.insert(0, k)
                    path.insert(0, 0)
                    target, seq_mode = ind, True
                continue
            k = key_of(stripped)
            if k is None:
                continue
            path.insert(0, k)
            target, seq_mode = ind, False
        else:
            if ind >= target:
                continue
            if dash is not None:
                content_col = ind + dash[0]
                if content_col == target:
                    path.insert(0, 0)
                    target, seq_mode = ind, True
                    continue
                k = key_of(dash[1])
                if k is not None and content_col < target:
                    path.insert(0, k)
                    path.insert(0, 0)
                    target, seq_mode = ind, True
                continue
            k = key_of(stripped)
            if k is None:
                continue
            path.insert(0, k)
            target = ind
        if target == 0 and not seq_mode:
            break
    return path


def sibling_keys(lines: Lines, line: int, key_col: int, dash_col: int | None) -> dict[str, str]:
    """Keys (with their raw values) of the mapping a key typed on ``line`` belongs to."""
    out: dict[str, str] = {}

    def add(text: str) -> None:
        k = key_of(text)
        if k is not None:
            out.setdefault(k, text.split(":", 1)[1].strip() if ":" in text else "")

    if dash_col is None:
        for j in range(line - 1, -1, -1):
            text = lines.line(j)
            if not _significant(text):
                continue
            ind = indent_of(text)
            stripped = text[ind:]
            dash = _dash_content(stripped)
            if ind > key_col:
                continue
            if ind == key_col:
                if dash is not None:
                    break
                add(stripped)
                continue
            if dash is not None and ind + dash[0] == key_col:
                add(dash[1])
            break
    for j in range(line + 1, lines.line_count):
        text = lines.line(j)
        if not _significant(text):
            continue
        ind = indent_of(text)
        if ind < key_col:
            break
        if ind == key_col:
            stripped = text[ind:]
            if _dash_content(stripped) is not None:
                break
            add(stripped)
    return out
