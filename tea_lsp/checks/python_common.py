"""Shared by the Python checks: which snippets are Python, their position maps and facts."""

from __future__ import annotations

from dataclasses import dataclass

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.lua_common import node_language
from tea_lsp.diagnostics import Span
from tea_lsp.langs.python.check import PyFacts, python_facts, python_syntax_error
from tea_lsp.model.workflow import Node, Snippet
from tea_lsp.syntax.embedded import SnippetMap

_CACHE_KEY = "python_entries"
_KEYS_CACHE_KEY = "python_state_keys"


@dataclass(slots=True)
class PyEntry:
    """One Python snippet: a node's code (``exec``) or a ``run: {type: expression}`` (``eval``)."""

    node: Node
    snippet: Snippet
    smap: SnippetMap
    mode: str  # "exec" | "eval"
    too_big: bool
    facts: PyFacts | None  # None: does not compile (or too big)

    @property
    def lines(self) -> list[str]:
        return self.snippet.text.split("\n")

    def span(self, line: int, col: int, end_col: int | None = None) -> Span:
        """File span for 1-based ``line`` and 0-based columns in the snippet."""
        return self.smap.span(line - 1, col, end_col)


def python_entries(ctx: CheckContext) -> list[PyEntry]:
    """Every Python snippet of the document's workflow, computed once per document."""
    cached = ctx.cache.get(_CACHE_KEY)
    if cached is not None:
        return list(cached)
    out: list[PyEntry] = []
    wf = ctx.workflow
    if wf is not None:
        limit = ctx.config.max_snippet_bytes
        for node in wf.all_nodes():
            found: list[tuple[Snippet, str]] = []
            if node.code is not None and node_language(ctx, node) == "python":
                found.append((node.code, "exec"))
            if node.expression is not None and _python_expression(node.expression.text):
                found.append((node.expression, "eval"))
            for snippet, mode in found:
                text = snippet.text
                too_big = len(text) > limit or len(text.encode("utf-8", "replace")) > limit
                facts = None if too_big else python_facts(text, mode)
                smap = SnippetMap.for_scalar(snippet.scalar, ctx.lines)
                out.append(PyEntry(node, snippet, smap, mode, too_big, facts))
    ctx.cache[_CACHE_KEY] = out
    return list(out)


def _python_expression(text: str) -> bool:
    """Whether a ``run: {type: expression}`` value is checked as Python.

    TEA's Python engine evaluates it as Python; tea-lsp's runner has read it as a Jinja
    expression. A value that is valid Jinja but not Python is left to the Jinja check.
    """
    if python_syntax_error(text, "eval") is None:
        return True
    from tea_lsp.langs.jinja import check_template  # jinja2: only for code with templates

    problems = check_template(text, expression=True, known_names=frozenset())
    return any(p.kind == "syntax" for p in problems)


def python_state_keys(ctx: CheckContext) -> tuple[frozenset[str], bool]:
    """Keys Python nodes return (``result`` included when one may), and whether some Python
    node returns keys no literal reading can tell (then key checks stay quiet)."""
    cached = ctx.cache.get(_KEYS_CACHE_KEY)
    if cached is not None:
        return frozenset(cached[0]), bool(cached[1])
    keys: set[str] = set()
    opaque = False
    for e in python_entries(ctx):
        if e.mode == "eval":
            keys.add(e.node.output_key or "result")
            continue
        if e.facts is None:
            opaque = True
            continue
        keys |= e.facts.returned_keys
        opaque |= e.facts.returns_opaque
    result = (frozenset(keys), opaque)
    ctx.cache[_KEYS_CACHE_KEY] = result
    return result
