"""YAML → a tree where every key and value knows its span.

Built on PyYAML's composer (libyaml when available). Never raises on user input: syntax
errors, duplicate keys and unsupported constructs become diagnostics.
"""

from __future__ import annotations

import datetime
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import yaml

from tea_lsp.diagnostics import Diagnostic, Related, Severity, Span
from tea_lsp.syntax.text import LineIndex

try:  # libyaml is much faster; fall back to the pure-Python loader.
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _BaseLoader = yaml.SafeLoader

# First characters of the plain scalars an implicit resolver may turn into a non-string tag.
_RESOLVED_FIRST = frozenset(k for k in _BaseLoader.yaml_implicit_resolvers if k)
_RESOLVED: dict[str, str] = {}  # plain scalar text → tag, for short texts
_NO_PATHS: dict[object, object] = {}  # never filled: its ``get`` is a do-nothing builtin


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The safe loader with a faster tag resolution (called for every node it composes).

    The safe loader has no path resolvers, so a tag depends on the node kind and, for plain
    scalars, on the text alone: most plain scalars cannot be anything but strings (their first
    character rules out every implicit resolver) and the others repeat (keys, ``true``...).
    """

    # The composer calls these around every node it composes, for path resolvers, which the
    # safe loader has none of: builtins that accept the same arguments and do nothing cost
    # far less than the inherited Python methods (a dict's ``get`` and ``tuple()``).
    descend_resolver = _NO_PATHS.get
    ascend_resolver = tuple

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0] and (value == "" or value[0] in _RESOLVED_FIRST):
                tag = _RESOLVED.get(value)
                if tag is None:
                    if len(value) > _WORD_MAX and value[0] in _WORD_FIRST:
                        return _STR_TAG  # (not kept: such texts are seldom repeated)
                    tag = str(super().resolve(kind, value, implicit))
                    if len(value) <= 64:
                        if len(_RESOLVED) >= 65536:
                            _RESOLVED.clear()
                        _RESOLVED[value] = tag
                return tag
            return _STR_TAG
        return _SEQ_TAG if kind is yaml.SequenceNode else _MAP_TAG


_MERGE_TAG = "tag:yaml.org,2002:merge"
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_DEPTH = 200
# Aliases share the anchored node; every walker of the tree (plain data, schema, model) sees
# an alias as a copy, though. The nodes aliases add to that expanded tree are capped at
# ``_ALIAS_BASE`` plus one per ``_ALIAS_PER_CHAR`` characters of the file, so any walk stays
# linear in the file size; an alias past the cap is read as null and reported (TEA005).
_ALIAS_BASE = 10_000
_ALIAS_PER_CHAR = 2
_ALIAS_REPORTS = 20  # diagnostics per file about aliases; the rest are cut silently
_NULL_TAG = "tag:yaml.org,2002:null"
_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_BOOL_TAG = "tag:yaml.org,2002:bool"
# First characters whose only implicit resolvers are booleans and nulls: words of at most
# five letters ('false', 'NULL'), so a longer plain scalar starting with one is a string.
_WORD_FIRST = frozenset(
    k
    for k, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    if k and k.isalpha() and all(tag in (_BOOL_TAG, _NULL_TAG) for tag, _ in resolvers)
)
_WORD_MAX = 5


class YNode:
    """Base of the positioned tree.

    ``span`` is built on first use from the four numbers the parser recorded: most nodes of a
    large file are never asked for theirs, and building every ``Span`` up front was a large
    part of the parsing time.
    """

    __slots__ = ("_pos", "_span", "tag")

    _span: Span | None
    _pos: tuple[int, int, int, int]

    def __init__(self, span: Span, tag: str) -> None:
        self._span = span
        self.tag = tag

    @property
    def start(self) -> tuple[int, int]:
        """``(span.start_line, span.start_col)``, without making the span."""
        s = self._span
        if s is None:
            return self._pos[0], self._pos[1]
        return s.start_line, s.start_col

    @property
    def span(self) -> Span:
        s = self._span
        if s is None:
            s = self._span = Span(*self._pos)
        return s


class YScalar(YNode):
    """A scalar. ``style``: ``""`` plain, ``"'"``, ``'"'``, ``"|"`` literal, ``">"`` folded."""

    __slots__ = ("block_indent", "header_line", "style", "value")

    def __init__(
        self,
        span: Span,
        tag: str,
        value: Any,
        style: str,
        header_line: int = -1,
        block_indent: int = -1,
    ) -> None:
        self._span = span
        self.tag = tag
        self.value = value
        self.style = style
        self.header_line = header_line
        self.block_indent = block_indent

    @property
    def text(self) -> str:
        """The value as text (``""`` for null)."""
        return "" if self.value is None else str(self.value)

    def __repr__(self) -> str:
        return f"YScalar({self.value!r}, {self.span})"


class YSeq(YNode):
    __slots__ = ("items",)

    def __init__(self, span: Span, tag: str, items: list[YNode]) -> None:
        super().__init__(span, tag)
        self.items = items

    def __repr__(self) -> str:
        return f"YSeq({len(self.items)} items, {self.span})"


@dataclass(slots=True)
class YPair:
    key: YNode
    value: YNode

    @property
    def key_text(self) -> str | None:
        k = self.key
        if isinstance(k, YScalar) and k.value is not None:
            return str(k.value)
        return None


class YMap(YNode):
    __slots__ = ("_index", "pairs")

    def __init__(self, span: Span, tag: str, pairs: list[YPair]) -> None:
        super().__init__(span, tag)
        self.pairs = pairs
        self._index: dict[str, YPair] = {}
        for p in pairs:
            kt = p.key_text
            if kt is not None:
                self._index[kt] = p  # last one wins, as YAML loaders do

    def pair(self, key: str) -> YPair | None:
        return self._index.get(key)

    def get(self, key: str) -> YNode | None:
        p = self._index.get(key)
        return p.value if p else None

    def key_node(self, key: str) -> YNode | None:
        p = self._index.get(key)
        return p.key if p else None

    def keys(self) -> list[str]:
        return list(self._index)

    def values_by_key(self) -> dict[str, YNode]:
        """Each key's value (the last pair of a duplicated key), as a new dict: for code that
        looks up many keys of one mapping, most of them absent."""
        return {k: p.value for k, p in self._index.items()}

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __repr__(self) -> str:
        return f"YMap({self.keys()}, {self.span})"


@dataclass(slots=True)
class YamlDocument:
    root: YNode | None
    index: int = 0


@dataclass(slots=True)
class ParsedYaml:
    text: str
    lines: LineIndex
    documents: list[YamlDocument] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _scalar_value(node: yaml.ScalarNode, constructor: yaml.constructor.SafeConstructor) -> Any:
    if node.tag == _STR_TAG:  # the common case: no construction needed
        return node.value
    try:
        value = constructor.construct_object(node, deep=True)
    except Exception:  # a bad !!int, !!binary, timestamp, ...: keep the text
        return node.value
    if isinstance(value, datetime.date | datetime.datetime | bytes):
        return node.value  # JSON has no dates: keep the text as written
    return value


_ScalarNode = yaml.ScalarNode
_MappingNode = yaml.MappingNode


class _ItemCache:
    """Built mappings that are sequence items (a workflow's nodes and edges), by source text.

    A mapping's tree is fully determined by the text of the lines it spans, where it starts,
    its depth and its tag, as long as the document has no anchors (so no aliases can reach in
    or out): after a one-character edit, every other item is taken from here instead of being
    built again. The trees are never modified after building, so sharing them is safe.
    Diagnostics found while building an item are kept with it and reported again on reuse.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple[Any, ...], tuple[YNode, tuple[Diagnostic, ...]]]
        self.items = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> tuple[YNode, tuple[Diagnostic, ...]] | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: tuple[YNode, tuple[Diagnostic, ...]]) -> None:
        with self.lock:
            self.items[key] = value
            if len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


_ITEMS = _ItemCache(4096)
_REUSE_MAX_CHARS = 400_000  # ~4096 items of ~100 characters


_ScalarEvent = yaml.ScalarEvent
_AliasEvent = yaml.AliasEvent
_MappingStartEvent = yaml.MappingStartEvent
_MappingEndEvent = yaml.MappingEndEvent
_SequenceStartEvent = yaml.SequenceStartEvent
_SequenceEndEvent = yaml.SequenceEndEvent


# The composer's errors are worded as the loader's own composer words them.
_LIBYAML = _BaseLoader is not yaml.SafeLoader


def _duplicate_anchor(name: str, first: Any, second: Any) -> NoReturn:
    what = "found duplicate anchor" if _LIBYAML else f"found duplicate anchor {name!r}"
    raise yaml.composer.ComposerError(
        f"{what}; first occurrence", first, "second occurrence", second
    )


def _undefined_alias(name: str, mark: Any) -> NoReturn:
    what = "found undefined alias" if _LIBYAML else f"found undefined alias {name!r}"
    raise yaml.composer.ComposerError(None, None, what, mark)


def _merge_pairs_of(built: YNode) -> list[YPair]:
    """The pairs a merge key's value brings: a mapping's, or those of a list of mappings (the
    first mapping with a key wins)."""
    if isinstance(built, YMap):
        return list(built.pairs)
    if isinstance(built, YSeq):
        out: list[YPair] = []
        for item in built.items:
            if isinstance(item, YMap):
                out.extend(p for p in item.pairs if p.key_text not in {q.key_text for q in out})
        return out
    return []


def _duplicate_key(kt: str, key: YNode, first: YPair) -> Diagnostic:
    """TEA002 for a key seen before in the same mapping."""
    return Diagnostic(
        "TEA002",
        Severity.ERROR,
        f"duplicate key '{kt}'; the earlier value is silently discarded",
        key.span,
        (Related(first.key.span, f"'{kt}' first defined here"),),
    )


def _with_merged(pairs: list[YPair], merged: list[YPair]) -> tuple[list[YPair], dict[str, YPair]]:
    """A mapping's pairs after its ``<<`` merges (its own keys win) and their index (the last
    pair of each key wins, as YAML loaders do)."""
    own = {p.key_text for p in pairs}
    out = [p for p in merged if p.key_text not in own] + pairs
    index: dict[str, YPair] = {}
    for p in out:
        kt = p.key_text
        if kt is not None:
            index[kt] = p
    return out, index


class _Builder:
    def __init__(self, parsed: ParsedYaml) -> None:
        self.parsed = parsed
        self.lines = parsed.lines
        self.constructor = yaml.constructor.SafeConstructor()
        self.cache: dict[int, YNode] = {}
        # Reusing built items is only sound without anchors (see ``_ItemCache``), and only
        # pays when the items of one file fit in the cache: past that, every item of a re-parse
        # misses (the cache keeps the most recent ones) and the keys cost ~15 % of parsing.
        self.reuse = "&" not in parsed.text and len(parsed.text) <= _REUSE_MAX_CHARS
        # With anchors, every built node's expanded size (``id`` → node count) is kept so that
        # an alias knows what it adds; a node being built has no size yet (a recursive alias).
        self.track = "&" in parsed.text
        self.sizes: dict[int, int] = {}
        self.extra = 0  # nodes the aliases met so far add to the expanded tree
        self.budget = _ALIAS_BASE + len(parsed.text) // _ALIAS_PER_CHAR
        self.reports = 0
        self.cursor: tuple[int, int] = (0, 0)  # where the next alias token is searched from

    def span_of(self, node: yaml.Node) -> Span:
        s, e = node.start_mark, node.end_mark
        return Span(s.line, s.column, e.line, e.column)

    def build(self, node: yaml.Node, depth: int = 0) -> YNode:
        if type(node) is _ScalarNode:  # the common case first; scalars need no alias cache
            return self.scalar(node)
        cached = self.cache.get(id(node))
        if cached is not None:  # aliases share the anchored node
            return self.alias(cached, self.sizes.get(id(cached))) if self.track else cached
        if depth > _MAX_DEPTH:
            span = self.span_of(node)
            self.parsed.diagnostics.append(
                Diagnostic(
                    "TEA001",
                    Severity.ERROR,
                    f"nesting deeper than {_MAX_DEPTH} levels is not supported",
                    Span(span.start_line, span.start_col, span.start_line, span.start_col + 1),
                )
            )
            return YScalar(span, "tag:yaml.org,2002:null", None, "")
        s, e = node.start_mark, node.end_mark
        if isinstance(node, yaml.SequenceNode):
            seq = YSeq.__new__(YSeq)
            seq._span = None
            seq._pos = (s.line, s.column, e.line, e.column)
            seq.tag = node.tag
            seq.items = []
            self.cache[id(node)] = seq
            scalar, d1 = self.scalar, depth + 1
            if self.track:
                seq.items = self.tracked_items(node, d1)
                self.sizes[id(seq)] = 1 + sum(self.size(i) for i in seq.items)
                return seq
            build = self.item if self.reuse else self.build
            seq.items = [scalar(n) if type(n) is _ScalarNode else build(n, d1) for n in node.value]
            return seq
        if isinstance(node, yaml.MappingNode):
            ymap = YMap.__new__(YMap)
            ymap._span = None
            ymap._pos = (s.line, s.column, e.line, e.column)
            ymap.tag = node.tag
            ymap.pairs = []
            ymap._index = {}
            self.cache[id(node)] = ymap
            self.mapping(ymap, node, depth)
            return ymap
        assert isinstance(node, yaml.ScalarNode)  # a ScalarNode subclass
        return self.scalar(node)

    def size(self, node: YNode) -> int:
        """The node count of ``node`` with every alias expanded (1 for scalars)."""
        return 1 if type(node) is YScalar else self.sizes.get(id(node), 1)

    def expanded_size(self, node: YNode) -> int:
        """The node count of the built, complete ``node`` with every alias expanded, from
        the sizes known so far (the tree built from events finds them when an alias asks,
        not for every collection: most files with anchors have few aliases)."""
        sizes = self.sizes
        found = sizes.get(id(node))
        if found is not None:
            return found
        todo: list[tuple[YNode, bool]] = [(node, False)]
        while todo:
            n, ready = todo.pop()
            if isinstance(n, YMap):
                kids = [x for p in n.pairs for x in (p.key, p.value)]
            elif isinstance(n, YSeq):
                kids = n.items
            else:  # pragma: no cover - scalars are not asked for
                continue
            if ready:
                total = 1
                for k in kids:
                    total += 1 if type(k) is YScalar else sizes.get(id(k), 1)
                sizes[id(n)] = total
            elif id(n) not in sizes:
                todo.append((n, True))
                todo.extend((k, False) for k in kids if type(k) is not YScalar)
        return sizes[id(node)]

    def tracked_items(self, node: yaml.SequenceNode, depth: int) -> list[YNode]:
        """Items of a sequence in a file with anchors: an alias item is found in the text."""
        items: list[YNode] = []
        self.cursor = (node.start_mark.line, node.start_mark.column + 1)
        for n in node.value:
            s, e = n.start_mark, n.end_mark
            if (s.line, s.column) < self.cursor:  # ends before the previous item: an alias
                if type(n) is _ScalarNode:
                    items.append(self.scalar(n))
                    self.alias_token()
                else:
                    items.append(self.build(n, depth))
            else:
                items.append(self.scalar(n) if type(n) is _ScalarNode else self.build(n, depth))
                self.cursor = (e.line, e.column)
        return items

    def alias_token(self) -> tuple[Span, str]:
        """The span and text of the next ``*alias`` token from ``cursor``; moves past it."""
        text, lines = self.lines.text, self.lines
        i = lines.offset(*self.cursor)
        n = min(len(text), i + 4096)  # only blanks, commas, comments and tags come before it
        while i < n:
            c = text[i]
            if c == "*":
                j = i + 1
                while j < n and text[j] not in " \t\r\n,[]{}":
                    j += 1
                sl, sc = lines.position(i)
                el, ec = lines.position(j)
                self.cursor = (el, ec)
                return Span(sl, sc, el, ec), text[i:j]
            if c == "#":
                nl = text.find("\n", i)
                i = n if nl < 0 else nl
            i += 1
        line, col = self.cursor
        return Span(line, col, line, col), "*"

    def alias(self, target: YNode, size: int | None) -> YNode:
        """An alias of the built node ``target`` of expanded ``size`` (``None``: still being
        built, a recursive alias): shared, or null when it would expand too far."""
        if size is not None and self.extra + size - 1 <= self.budget:
            self.extra += size - 1
            self.alias_token()
            return target
        span, token = self.alias_token()
        if self.reports < _ALIAS_REPORTS:
            self.reports += 1
            if size is None:
                self.parsed.diagnostics.append(
                    Diagnostic(
                        "TEA006",
                        Severity.ERROR,
                        f"recursive alias '{token}' is inside the node it refers to; "
                        "it is read as null",
                        span,
                    )
                )
            else:
                self.parsed.diagnostics.append(
                    Diagnostic(
                        "TEA005",
                        Severity.ERROR,
                        f"alias expansion too large: '{token}' stands for {size} nodes and "
                        f"the aliases of this file may add at most {self.budget}; "
                        "it is read as null",
                        span,
                    )
                )
        out = YScalar.__new__(YScalar)
        out._span = span
        out.tag = _NULL_TAG
        out.value = None
        out.style = ""
        out.header_line = -1
        out.block_indent = -1
        return out

    def item(self, node: yaml.Node, depth: int) -> YNode:
        """A sequence item: a mapping is taken from ``_ITEMS`` when its text was seen before."""
        if type(node) is not _MappingNode or depth > _MAX_DEPTH:
            return self.build(node, depth)
        s, e = node.start_mark, node.end_mark
        lines = self.lines
        # Whole lines: the text before the start column and after the end is part of the key.
        source = lines.text[lines.offset(s.line, 0) : lines.offset(e.line + 1, 0)]
        key = (source, s.line, s.column, e.line, e.column, depth, node.tag)
        found = _ITEMS.get(key)
        if found is not None:
            built, diagnostics = found
            self.parsed.diagnostics.extend(diagnostics)
            return built
        before = len(self.parsed.diagnostics)
        built = self.build(node, depth)
        _ITEMS.put(key, (built, tuple(self.parsed.diagnostics[before:])))
        return built

    def scalar(self, node: yaml.ScalarNode) -> YScalar:
        style = node.style or ""
        tag = node.tag
        value = node.value if tag == _STR_TAG else _scalar_value(node, self.constructor)
        s, e = node.start_mark, node.end_mark
        if style != "|" and style != ">":
            out = YScalar.__new__(YScalar)
            out._span = None
            out._pos = (s.line, s.column, e.line, e.column)
            out.tag = tag
            out.value = value
            out.style = style
            out.header_line = -1
            out.block_indent = -1
            return out
        return self.block(tag, value, style, s, e)

    def block(self, tag: str, value: Any, style: str, s: Any, e: Any) -> YScalar:
        """A literal (``|``) or folded (``>``) scalar from start mark ``s`` to end mark ``e``:
        its span is tight (to the end of its last non-blank line), and its content's
        indentation is kept."""
        header = s.line
        indent = -1
        text = str(value)
        line = self.lines.line
        # Content indentation: compare the first non-blank content line with the file line.
        # (``LineIndex.line`` inline where a line is surely in the file.)
        lines = self.lines
        starts, ends, source = lines._starts, lines._ends, lines.text
        nl = text.find("\n")
        vline = text if nl < 0 else text[:nl]
        if vline.strip():  # the common case: the first content line is not blank
            n = header + 1
            fline = source[starts[n] : ends[n]] if n < len(starts) else ""
            if style == ">" or not fline.endswith(vline):
                indent = len(fline) - len(fline.lstrip(" "))
            else:
                indent = len(fline) - len(vline)
        elif nl >= 0:
            k = 1
            start = nl + 1
            while True:
                nl = text.find("\n", start)
                vline = text[start:] if nl < 0 else text[start:nl]
                if vline.strip():
                    fline = line(header + 1 + k)
                    if style == ">" or not fline.endswith(vline):
                        indent = len(fline) - len(fline.lstrip(" "))
                    else:
                        indent = len(fline) - len(vline)
                    break
                if nl < 0:
                    break
                start = nl + 1
                k += 1
        # Tight span: from the indicator to the end of the last non-blank content line.
        end_line, end_col = s.line, s.column + 1
        last = e.line - 1 if e.column == 0 else e.line
        last = min(last, len(starts) - 1)
        for ln in range(last, header, -1):
            lt = source[starts[ln] : ends[ln]].rstrip()
            if lt:  # (with no whitespace at its end, any text is not blank)
                end_line, end_col = ln, len(lt)
                break
        out = YScalar.__new__(YScalar)
        out._span = None
        out._pos = (s.line, s.column, end_line, end_col)
        out.tag = tag
        out.value = value
        out.style = style
        out.header_line = header
        out.block_indent = indent
        return out

    def mapping(self, ymap: YMap, node: yaml.MappingNode, depth: int) -> None:
        """Fill ``ymap`` (already in the alias cache) with the pairs of ``node``; in a file
        with anchors, also record its expanded size."""
        pairs: list[YPair] = []
        index: dict[str, YPair] = {}  # also finds duplicates: the latest pair of each key
        merged: list[YPair] = []
        scalar, build, d1 = self.scalar, self.build, depth + 1
        track = self.track
        for knode, vnode in node.value:
            # In a file with anchors, an alias key or value is searched after the key's end
            # (only collections can be aliases that matter: a scalar adds nothing).
            if knode.tag == _MERGE_TAG:
                if track:
                    self.cursor = (knode.end_mark.line, knode.end_mark.column)
                merged.extend(self._merge_pairs(vnode, depth))
                continue
            if type(knode) is _ScalarNode:
                key: YNode = scalar(knode)
            else:
                if track:
                    self.cursor = (knode.end_mark.line, knode.end_mark.column)
                key = build(knode, d1)
            if type(vnode) is _ScalarNode:
                value: YNode = scalar(vnode)
            else:
                if track:
                    self.cursor = (knode.end_mark.line, knode.end_mark.column)
                value = build(vnode, d1)
            pair = YPair(key, value)
            pairs.append(pair)
            if type(key) is YScalar and key.value is not None:
                kv = key.value
                kt = kv if type(kv) is str else str(kv)
                first = index.get(kt)
                if first is not None:
                    self.parsed.diagnostics.append(_duplicate_key(kt, key, first))
                index[kt] = pair
        if merged:
            pairs, index = _with_merged(pairs, merged)
        ymap.pairs = pairs
        ymap._index = index
        if track:
            sizes = self.sizes
            size = 1
            for p in pairs:
                k, v = p.key, p.value
                size += (1 if type(k) is YScalar else sizes.get(id(k), 1)) + (
                    1 if type(v) is YScalar else sizes.get(id(v), 1)
                )
            sizes[id(ymap)] = size

    # ---- building from the parser's events (no composed ``yaml.Node`` tree in between)

    def events_document(self, loader: _Loader) -> YNode:
        """The root of the next document, from the loader's events: the same tree ``build``
        makes of the composed document, without composing it first (the composer builds a
        ``yaml.Node`` and two marks per node and calls back into Python for each; about a
        third of the parsing time of a large file). The DOCUMENT-START event is read already;
        the DOCUMENT-END event is left to the caller.

        The collection being built is held in local variables (the hot loop reads them for
        every event); those of the enclosing collections wait on ``stack``.
        """
        get = loader.get_event
        resolve = loader.resolve
        resolved = _RESOLVED  # ``resolve``'s memo, read without the call
        scalar = self.scalar
        diagnostics = self.parsed.diagnostics
        anchors: dict[str, tuple[YNode, Any]] = {}  # name → (node, start mark)
        building: set[int] = set()  # anchored collections not complete yet (by ``id``)
        stack: list[tuple[Any, ...]] = []
        # the collection being built: ``node`` is None outside any collection
        node: YNode | None = None
        items: list[YNode] | None = None  # a sequence's items; None for a mapping
        pairs: list[YPair] = []  # a mapping's pairs and index
        index: dict[str, YPair] = {}
        key: YNode | None = None  # a mapping's key waiting for its value
        merge = False  # that key is a merge key ('<<')
        merged: list[YPair] = []  # pairs the merge keys bring
        start: Any = None  # the start mark
        while True:
            ev = get()
            kind = type(ev)
            child: YNode
            if kind is _ScalarEvent:
                anchor = ev.anchor
                if anchor is not None and anchor in anchors:
                    _duplicate_anchor(anchor, anchors[anchor][1], ev.start_mark)
                tag = ev.tag
                value = ev.value
                if tag is None or tag == "!":
                    implicit = ev.implicit
                    if not implicit[0] or (value and value[0] not in _RESOLVED_FIRST):
                        tag = _STR_TAG  # what ``resolve`` says, without the call
                    else:
                        tag = resolved.get(value)
                        if tag is None:
                            if len(value) > _WORD_MAX and value[0] in _WORD_FIRST:
                                tag = _STR_TAG  # a long word: not a boolean nor a null
                            else:
                                tag = resolve(_ScalarNode, value, implicit)
                style = ev.style
                if tag == _STR_TAG and (style is None or style in "'\""):
                    sm, em = ev.start_mark, ev.end_mark
                    sc = YScalar.__new__(YScalar)
                    sc._span = None
                    sc._pos = (sm.line, sm.column, em.line, em.column)
                    sc.tag = _STR_TAG
                    sc.value = value
                    sc.style = style or ""
                    sc.header_line = -1
                    sc.block_indent = -1
                    child = sc
                elif tag == _STR_TAG:  # a block scalar
                    child = self.block(tag, value, style, ev.start_mark, ev.end_mark)
                else:
                    child = scalar(_ScalarNode(tag, value, ev.start_mark, ev.end_mark, style))
                if anchor is not None:
                    anchors[anchor] = (child, ev.start_mark)
            elif kind is _MappingStartEvent or kind is _SequenceStartEvent:
                anchor = ev.anchor
                if anchor is not None and anchor in anchors:
                    _duplicate_anchor(anchor, anchors[anchor][1], ev.start_mark)
                if len(stack) > _MAX_DEPTH:
                    child = self.events_too_deep(ev, get, resolve, anchors)
                else:
                    stack.append((node, items, pairs, index, key, merge, merged, start))
                    tag = ev.tag
                    start = ev.start_mark
                    key = None
                    merge = False
                    if kind is _MappingStartEvent:
                        ymap = YMap.__new__(YMap)
                        ymap._span = None
                        ymap.tag = _MAP_TAG if tag is None or tag == "!" else tag
                        ymap.pairs = pairs = []
                        ymap._index = index = {}
                        node = ymap
                        items = None
                        merged = []
                    else:
                        seq = YSeq.__new__(YSeq)
                        seq._span = None
                        seq.tag = _SEQ_TAG if tag is None or tag == "!" else tag
                        seq.items = items = []
                        node = seq
                    if anchor is not None:
                        anchors[anchor] = (node, start)
                        building.add(id(node))
                    continue
            elif kind is _MappingEndEvent or kind is _SequenceEndEvent:
                assert node is not None
                em = ev.end_mark
                node._pos = (start.line, start.column, em.line, em.column)
                if items is None:
                    assert isinstance(node, YMap)
                    if merged:
                        node.pairs, node._index = _with_merged(pairs, merged)
                if building:
                    building.discard(id(node))
                child = node
                node, items, pairs, index, key, merge, merged, start = stack.pop()
            elif kind is _AliasEvent:
                found = anchors.get(ev.anchor)
                if found is None:
                    _undefined_alias(ev.anchor, ev.start_mark)
                target = found[0]
                if type(target) is YScalar:
                    child = target  # a scalar adds nothing to the expanded tree
                else:
                    self.cursor = (ev.start_mark.line, ev.start_mark.column)
                    tid = id(target)
                    child = self.alias(
                        target, None if tid in building else self.expanded_size(target)
                    )
            else:  # pragma: no cover - the parser emits no other event inside a node
                raise yaml.composer.ComposerError(
                    None, None, f"unexpected {kind.__name__}", ev.start_mark
                )
            # attach ``child`` to the collection being built
            if items is not None:
                items.append(child)
            elif node is None:
                return child
            elif key is None:
                if child.tag == _MERGE_TAG:
                    merge = True
                key = child
            elif merge:
                merge = False
                key = None
                merged.extend(_merge_pairs_of(child))
            else:
                pair = YPair(key, child)
                pairs.append(pair)
                if type(key) is YScalar and key.value is not None:
                    kv = key.value
                    kt = kv if type(kv) is str else str(kv)
                    first = index.get(kt)
                    if first is not None:
                        diagnostics.append(_duplicate_key(kt, key, first))
                    index[kt] = pair
                key = None

    def events_too_deep(
        self, start: Any, get: Any, resolve: Any, anchors: dict[str, tuple[YNode, Any]]
    ) -> YNode:
        """A collection nested too deep: reported, read as null; its events are skipped (their
        anchors and aliases still checked as the composer checks them)."""
        sm = start.start_mark
        self.parsed.diagnostics.append(
            Diagnostic(
                "TEA001",
                Severity.ERROR,
                f"nesting deeper than {_MAX_DEPTH} levels is not supported",
                Span(sm.line, sm.column, sm.line, sm.column + 1),
            )
        )
        out = YScalar.__new__(YScalar)
        out._span = None
        out.tag = _NULL_TAG
        out.value = None
        out.style = ""
        out.header_line = -1
        out.block_indent = -1
        if start.anchor is not None:
            anchors[start.anchor] = (out, sm)
        open_ = 1
        while True:
            ev = get()
            kind = type(ev)
            if kind is _MappingStartEvent or kind is _SequenceStartEvent:
                open_ += 1
            elif kind is _MappingEndEvent or kind is _SequenceEndEvent:
                open_ -= 1
                if open_ == 0:
                    em = ev.end_mark
                    out._pos = (sm.line, sm.column, em.line, em.column)
                    return out
                continue
            elif kind is _AliasEvent:
                if ev.anchor not in anchors:
                    _undefined_alias(ev.anchor, ev.start_mark)
                continue
            anchor = ev.anchor
            if anchor is not None:
                if anchor in anchors:
                    _duplicate_anchor(anchor, anchors[anchor][1], ev.start_mark)
                # an alias of a scalar in here reads it; of a collection, null
                built: YNode = out
                if kind is _ScalarEvent:
                    tag = ev.tag
                    if tag is None or tag == "!":
                        tag = resolve(_ScalarNode, ev.value, ev.implicit)
                    built = self.scalar(
                        _ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, ev.style)
                    )
                anchors[anchor] = (built, ev.start_mark)

    def _merge_pairs(self, vnode: yaml.Node, depth: int) -> list[YPair]:
        return _merge_pairs_of(self.build(vnode, depth + 1))


def _error_diagnostic(exc: Exception, lines: LineIndex) -> Diagnostic:
    if isinstance(exc, yaml.reader.ReaderError):
        line, col = lines.position(exc.position)
        span = Span(line, col, line, col + 1)
        char = exc.character
        code = ord(char) if isinstance(char, str) else int(char)
        return Diagnostic(
            "TEA001",
            Severity.ERROR,
            f"invalid YAML: control character #x{code:04x} is not allowed",
            span,
        )
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = str(problem)
    if context and context not in message:
        message = f"{context}: {message}"
    message = message[:1].lower() + message[1:]
    if mark is not None:
        line = min(mark.line, lines.line_count - 1)
        col = min(mark.column, lines.line_length(line))
    else:
        line = col = 0
    length = lines.line_length(line)
    if col >= length:  # at end of line: underline the line's last character, or nothing
        start = max(0, length - 1) if length else 0
        span = Span(line, start, line, length)
    else:
        span = Span(line, col, line, col + 1)
    related: tuple[Related, ...] = ()
    cmark = getattr(exc, "context_mark", None)
    if context and cmark is not None and cmark is not mark and problem:
        cl = min(cmark.line, lines.line_count - 1)
        cc = min(cmark.column, lines.line_length(cl))
        what = str(context).removeprefix("while parsing ").removeprefix("while scanning ")
        what = what.removeprefix("a ").removeprefix("an ")
        related = (Related(Span(cl, cc, cl, cc + 1), f"the {what} started here"),)
        message = str(problem)
        message = message[:1].lower() + message[1:]
    return Diagnostic("TEA001", Severity.ERROR, f"invalid YAML: {message}", span, related)


def parse_yaml(text: str, *, events: bool | None = None) -> ParsedYaml:
    """Parse every document of ``text``. Never raises.

    The tree is built from the parser's events, or, when built items of an earlier parse may
    be reused (see ``_ItemCache``: files without anchors of up to ``_REUSE_MAX_CHARS``), from
    the composed nodes. ``events`` forces one way (the tests compare them).
    """
    parsed = ParsedYaml(text=text, lines=LineIndex(text))
    lone = None if text.isascii() else _SURROGATE.search(text)
    if lone is not None:  # not encodable: reported, and parsed as U+FFFD
        line, col = parsed.lines.position(lone.start())
        parsed.diagnostics.append(
            Diagnostic(
                "TEA001",
                Severity.ERROR,
                f"invalid YAML: character U+{ord(lone.group()):04X} (a lone surrogate) "
                "is not allowed",
                Span(line, col, line, col + 1),
            )
        )
        text = _SURROGATE.sub("\ufffd", text)
    loader = _Loader(text)
    builder = _Builder(parsed)
    try:
        index = 0
        root: YNode | None
        if events if events is not None else not builder.reuse:
            get = loader.get_event
            get()  # STREAM-START
            while type(get()) is not yaml.StreamEndEvent:  # DOCUMENT-START
                root = builder.events_document(loader)
                get()  # DOCUMENT-END
                parsed.documents.append(YamlDocument(root, index))
                index += 1
        else:  # composed nodes: their marks find the items to reuse
            while loader.check_node():
                node = loader.get_node()
                root = builder.build(node) if node is not None else None
                parsed.documents.append(YamlDocument(root, index))
                index += 1
        if not parsed.documents:
            parsed.documents.append(YamlDocument(None, 0))
    except yaml.YAMLError as exc:
        parsed.diagnostics.append(_error_diagnostic(exc, parsed.lines))
    except RecursionError:
        parsed.diagnostics.append(
            Diagnostic(
                "TEA001",
                Severity.ERROR,
                "invalid YAML: nesting is too deep to parse",
                Span(0, 0, 0, parsed.lines.line_length(0)),
            )
        )
    finally:
        loader.dispose()
    return parsed


def to_python(node: YNode | None) -> Any:
    """Plain Python data (JSON-like) for ``node``; keys become strings."""
    if node is None:
        return None
    if isinstance(node, YScalar):
        return node.value
    # scalar children inline: most nodes are scalars, and a call each doubled the time
    if isinstance(node, YSeq):
        return [i.value if isinstance(i, YScalar) else to_python(i) for i in node.items]
    assert isinstance(node, YMap)
    out: dict[str, Any] = {}
    for p in node.pairs:
        k, v = p.key, p.value
        kv = k.value if isinstance(k, YScalar) else None  # ``key_text``, inline
        kt = "null" if kv is None else (kv if type(kv) is str else str(kv))
        out[kt] = v.value if isinstance(v, YScalar) else to_python(v)
    return out


def walk(node: YNode | None) -> Iterator[YNode]:
    """Every node under ``node`` (keys included), depth first."""
    if node is None:
        return
    stack: list[YNode] = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, YSeq):
            stack.extend(reversed(n.items))
        elif isinstance(n, YMap):
            for p in reversed(n.pairs):
                stack.append(p.value)
                stack.append(p.key)


def node_at_path(root: YNode | None, path: list[str | int]) -> tuple[YNode | None, YNode | None]:
    """``(value, key)`` at a JSON path; ``key`` is the mapping key node of the last step."""
    node = root
    key: YNode | None = None
    for step in path:
        if isinstance(node, YMap) and isinstance(step, str):
            pair = node.pair(step)
            if pair is None:
                return None, None
            key, node = pair.key, pair.value
        elif isinstance(node, YSeq) and isinstance(step, int) and 0 <= step < len(node.items):
            key, node = None, node.items[step]
        else:
            return None, None
    return node, key
