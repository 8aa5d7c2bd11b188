"""Shared by the Lua checks: which snippets are Lua, their position maps and per-snippet facts."""

from __future__ import annotations

import re
from functools import lru_cache

from tea_lsp.checks.base import CheckContext
from tea_lsp.diagnostics import Span
from tea_lsp.langs.detect import DEFAULT_LANGUAGES, file_default_language, resolve_language
from tea_lsp.langs.lua import LuaFacts, compile_check, snippet_facts
from tea_lsp.model.routing import vm_flows
from tea_lsp.model.workflow import Node, Snippet
from tea_lsp.syntax.embedded import SnippetMap
from tea_lsp.syntax.text import LineIndex

_CACHE_KEY = "lua_entries"
_KEYS_CACHE_KEY = "provided_state_keys"
_DEFAULT_KEY = "default_language"
_PY_KEY = re.compile(r"""["']([A-Za-z_]\w*)["']\s*:""")


class LuaEntry:
    """One Lua snippet of the document."""

    __slots__ = (
        "_lines",
        "_smap",
        "compiles",
        "facts",
        "flow",
        "node",
        "snippet",
        "too_big",
        "top",
    )

    def __init__(
        self,
        node: Node,
        top: Node,
        snippet: Snippet,
        lines: LineIndex,
        flow: str,
        too_big: bool,
        compiles: bool,
        facts: LuaFacts | None,
    ) -> None:
        self.node = node
        self.top = top  # the top-level node whose VM runs it (sub-nodes share their parent's VM)
        self.snippet = snippet
        self.flow = flow  # "main" or "branch:<k>:<first node>"
        self.too_big = too_big
        self.compiles = compiles
        self.facts = facts
        self._lines = lines
        self._smap: SnippetMap | None = None

    @property
    def smap(self) -> SnippetMap:
        """Where the snippet is in the file (worked out when a diagnostic needs it)."""
        if self._smap is None:
            self._smap = SnippetMap.for_scalar(self.snippet.scalar, self._lines)
        return self._smap

    @property
    def lines(self) -> list[str]:
        return self.snippet.text.split("\n")

    def span(self, line: int, col: int | None, width: int = 1) -> Span:
        """File span for 1-based ``line`` / 0-based ``col`` in the snippet."""
        if col is None:
            lines = self.lines
            text = lines[line - 1] if 0 < line <= len(lines) else ""
            return self.smap.line_span(line - 1, text)
        return self.smap.span(line - 1, col, col + max(1, width))


def default_language(ctx: CheckContext) -> str:
    """How unmarked code is read: the file's ``# tea-lsp: default-language=...``, else config."""
    cached = ctx.cache.get(_DEFAULT_KEY)
    if cached is None:
        configured = ctx.config.default_language
        cached = file_default_language(ctx.text) or (
            configured if configured in DEFAULT_LANGUAGES else "auto"
        )
        ctx.cache[_DEFAULT_KEY] = cached
    return str(cached)


def node_language(ctx: CheckContext, node: Node) -> str:
    """The language ``node``'s code is checked as (``lua``, ``python``, ``prolog``, ...)."""
    return resolve_language(node, default_language(ctx))


def lua_entries(ctx: CheckContext) -> list[LuaEntry]:
    """Every snippet read as Lua (marked, or unmarked and resolved to Lua by the file's or the
    configuration's default language), computed once per document."""
    cached = ctx.cache.get(_CACHE_KEY)
    if cached is not None:
        return list(cached)
    wf = ctx.workflow
    out: list[LuaEntry] = []
    if wf is not None:
        flows = vm_flows(wf)
        limit = ctx.config.max_snippet_bytes
        lines = ctx.lines
        default = default_language(ctx)
        add = out.append
        for node in wf.all_nodes():
            snippet = node.code
            if snippet is None or snippet.kind != "lua" or resolve_language(node, default) != "lua":
                continue
            top = node if node.parent is None else node.top()
            text = snippet.text
            size = len(text)  # UTF-8 takes at most 4 bytes a character
            too_big = size > limit or (
                size * 4 > limit and len(text.encode("utf-8", "replace")) > limit
            )
            compiles = False
            facts = None
            if not too_big:
                compiles = compile_check(text) is None
                facts = snippet_facts(text) if compiles else None
            add(
                LuaEntry(
                    node, top, snippet, lines, flows.get(top.name, "main"), too_big, compiles, facts
                )
            )
    ctx.cache[_CACHE_KEY] = out
    return list(out)


def is_fan_in(node: Node, names: set[str]) -> bool:
    cur: Node | None = node
    while cur is not None:
        if cur.fan_in or cur.name in names:
            return True
        cur = cur.parent
    return False


_RETURN_TABLE = re.compile(r"\breturn\s*\{")
_RETURN_OTHER = re.compile(r"\breturn[ \t]+(?![{;]|nil\b|end\b|--)\S")
_RETURN_NAME = re.compile(r"\breturn[ \t]+([A-Za-z_]\w*)[ \t]*(?:$|;|--|\bend\b)", re.M)
_FIELD = re.compile(r"(?:^|[,;])\s*([A-Za-z_]\w*)\s*=(?!=)")
_BRACKET_FIELD = re.compile(r"(?:^|[,;])\s*\[\s*(['\"])(\w+)\1\s*\]\s*=(?!=)")


def _table_fields(code: str, brace: int) -> set[str]:
    """Keys of the table constructor whose ``{`` is at ``brace`` (top level only)."""
    depth = 0
    out: list[str] = []
    i, n = brace, len(code)
    while i < n:
        ch = code[i]
        if ch in "\"'":
            j = i + 1
            while j < n and code[j] != ch and code[j] != "\n":
                j += 2 if code[j] == "\\" else 1
            if depth == 1:
                out.append(code[i : j + 1])
            else:
                out.append(" ")
            i = j + 1
            continue
        if code.startswith("--", i):
            eol = code.find("\n", i)
            i = n if eol < 0 else eol
            continue
        if code.startswith("[[", i) or code.startswith("[=", i):
            m = re.match(r"\[(=*)\[", code[i:])
            if m:
                close = code.find("]" + m.group(1) + "]", i)
                i = n if close < 0 else close + len(m.group(0))
                out.append(" ")
                continue
        if ch == "{":
            depth += 1
            out.append("," if depth == 1 else " ")
        elif ch == "}":
            depth -= 1
            if depth == 0:
                break
            out.append(" ")
        elif depth == 1:
            out.append(ch)
        i += 1
    text = "".join(out)
    keys = {m.group(1) for m in _FIELD.finditer(text)}
    keys.update(m.group(2) for m in _BRACKET_FIELD.finditer(text))
    return keys


@lru_cache(maxsize=4096)
def lua_returned_keys(code: str) -> frozenset[str]:
    """State keys a Lua node's code returns, as far as a literal reading can tell."""
    keys: set[str] = set()
    for m in _RETURN_TABLE.finditer(code):
        keys |= _table_fields(code, m.end() - 1)
    for m in _RETURN_NAME.finditer(code):
        var = re.escape(m.group(1))
        for a in re.finditer(rf"\b{var}\s*=\s*\{{", code):
            keys |= _table_fields(code, a.end() - 1)
        keys.update(re.findall(rf"\b{var}\.([A-Za-z_]\w*)\s*=(?!=)", code))
        keys.update(k for _, k in re.findall(rf"\b{var}\s*\[\s*(['\"])(\w+)\1\s*\]\s*=(?!=)", code))
    if _RETURN_OTHER.search(code):
        keys.add("result")  # any non-table value is stored as state.result
    return frozenset(keys)


def provided_state_keys(ctx: CheckContext) -> frozenset[str]:
    """State keys something in the file declares or may produce (see
    :func:`tea_lsp.checks.state_flow.file_state_keys`; flow-aware facts are there too).

    ``parallel_results`` is not included: it exists only at fan-ins, and each caller adds it
    where it applies.
    """
    from tea_lsp.checks.state_flow import file_state_keys

    return file_state_keys(ctx) - {"parallel_results"}


def flow_label(flow: str) -> str:
    if flow == "main":
        return "the main flow"
    return f"parallel branch '{flow.split(':', 2)[2]}'"


_FIELD_PATTERNS = (
    r"\s*\.\s*({f})(?![A-Za-z_0-9])",
    r"\s*:\s*({f})(?![A-Za-z_0-9])",
    r"\s*\[\s*(\"{f}\"|'{f}')\s*\]",
)


def field_span(entry: LuaEntry, line: int, col: int | None, name: str, field: str) -> Span:
    """The span of ``field`` in ``name.field`` / ``name["field"]`` (or of ``name``)."""
    if col is None:
        return entry.span(line, None)
    lines = entry.lines
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    rest = text[col + len(name) :]
    for pattern in _FIELD_PATTERNS:
        m = re.match(pattern.format(f=re.escape(field)), rest)
        if m is not None:
            start = col + len(name) + m.start(1)
            return entry.span(line, start, m.end(1) - m.start(1))
    return entry.span(line, col, len(name))
