"""Shared by the Lua checks: which snippets are Lua, their position maps and per-snippet facts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tea_lsp.checks.base import CheckContext
from tea_lsp.diagnostics import Span
from tea_lsp.langs.lua import LuaFacts, compile_check, snippet_facts
from tea_lsp.model.routing import vm_flows
from tea_lsp.model.workflow import Node, Snippet, Workflow
from tea_lsp.syntax.embedded import SnippetMap

_CACHE_KEY = "lua_entries"


@dataclass(slots=True)
class LuaEntry:
    """One Lua snippet of the document."""

    node: Node
    top: Node  # the top-level node whose VM runs it (sub-nodes share their parent's VM)
    snippet: Snippet
    smap: SnippetMap
    flow: str  # "main" or "branch:<k>:<first node>"
    too_big: bool
    compiles: bool
    facts: LuaFacts | None

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


def top_node(node: Node) -> Node:
    while node.parent is not None:
        node = node.parent
    return node


def lua_entries(ctx: CheckContext) -> list[LuaEntry]:
    """Every Lua snippet of the document's workflow, computed once per document."""
    cached = ctx.cache.get(_CACHE_KEY)
    if cached is not None:
        return list(cached)
    wf = ctx.workflow
    out: list[LuaEntry] = []
    if wf is not None:
        flows = vm_flows(wf)
        limit = ctx.config.max_snippet_bytes
        for node in wf.all_nodes():
            snippet = node.code
            if snippet is None or snippet.kind != "lua":
                continue
            top = top_node(node)
            smap = SnippetMap.for_scalar(snippet.scalar, ctx.lines)
            too_big = (
                len(snippet.text) > limit or len(snippet.text.encode("utf-8", "replace")) > limit
            )
            compiles = False
            facts = None
            if not too_big:
                compiles = compile_check(snippet.text) is None
                facts = snippet_facts(snippet.text) if compiles else None
            out.append(
                LuaEntry(
                    node, top, snippet, smap, flows.get(top.name, "main"), too_big, compiles, facts
                )
            )
    ctx.cache[_CACHE_KEY] = out
    return list(out)


def fan_in_names(wf: Workflow) -> set[str]:
    """Nodes that receive ``parallel_results``."""
    names = {n.name for n in wf.all_nodes() if n.fan_in}
    names.update(fo.fan_in.name for fo in wf.fan_outs if fo.fan_in is not None)
    names.update(n.dp_fan_in.name for n in wf.all_nodes() if n.dp_fan_in is not None)
    return names


def is_fan_in(node: Node, names: set[str]) -> bool:
    cur: Node | None = node
    while cur is not None:
        if cur.fan_in or cur.name in names:
            return True
        cur = cur.parent
    return False


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
