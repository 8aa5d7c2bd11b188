"""TEA401–TEA404: templates parsed with the runner's own sandboxed Jinja environment.

Every Jinja snippet of the model (``with:`` values, ``output`` mappings, conditions — with or
without ``{{ }}`` — ``items`` and expression runs) is checked for syntax errors (TEA401),
unknown filters and tests (TEA402), undefined names (TEA403) and, with a ``state_schema``,
``state.<key>`` reads that nothing provides (TEA404), at exact positions in the YAML file.

Names a template may use, per place (the runner builds the same contexts):

============================================  ==============================================
every template                                ``state``, ``variables`` and Jinja's globals
``output`` (string or mapping)                + ``result`` (the node's result)
``goto`` rule ``if``, edge ``condition``/``when``  + ``result`` (the source node's result)
``while_loop`` ``condition``, ``items``       nothing more
any template of a fan-in node (and its steps,   + ``parallel_results``
its ``goto`` rules and edges leaving it)
inside a ``dynamic_parallel`` node (its       + ``item_var`` / ``index_var`` (default
``with:``/``output`` and every step), not its   ``item``/``index``)
``items``, ``goto`` or edges
============================================  ==============================================

State keys provided (TEA404): ``state_schema`` and ``initial_state`` keys, ``input_schema``
properties, every ``output``/``output_key`` name and ``output`` mapping key, keys literally
returned by Lua (``return { k = ... }``, or ``t.k = ...`` when ``return t``) and Python code,
``result`` when some code returns a non-table value, and ``parallel_results`` at fan-ins.
"""

from __future__ import annotations

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.lua_common import provided_state_keys
from tea_lsp.diagnostics import Severity, Span
from tea_lsp.langs.jinja import TemplateProblem, check_template
from tea_lsp.model.workflow import Node, Snippet, Workflow
from tea_lsp.syntax.embedded import SnippetMap

_CODES = {
    "syntax": "TEA401",
    "limit": "TEA401",  # too large to check: a warning, the template may still render
    "filter": "TEA402",
    "name": "TEA403",
    "state_key": "TEA404",
}
_BASE_NAMES = frozenset({"state", "variables"})


def check(ctx: CheckContext) -> None:
    wf = ctx.workflow
    if wf is None:
        return
    snippets = [s for s in wf.snippets() if s.kind == "jinja"]
    if not snippets:
        return
    scope = _Scopes(wf)
    keys = provided_state_keys(ctx) if wf.state_schema is not None else None
    limit = ctx.config.max_snippet_bytes
    for snip in snippets:
        smap = SnippetMap.for_scalar(snip.scalar, ctx.lines)
        size = len(snip.text.encode("utf-8", "surrogatepass"))
        if size > limit:
            ctx.report(
                "TEA401",
                _first_line(smap.whole_span, ctx),
                f"template is too large to check: {size} bytes, the limit is {limit}",
                severity=Severity.WARNING,
            )
            continue
        names = scope.names(snip)
        state_keys = None
        if keys is not None:
            state_keys = keys | {"parallel_results"} if "parallel_results" in names else keys
        for problem in check_template(
            snip.text, expression=snip.expression, known_names=names, state_keys=state_keys
        ):
            severity = Severity.WARNING if problem.kind == "limit" else None
            span = _span(smap, problem, ctx)
            ctx.report(_CODES[problem.kind], span, problem.message, severity=severity)


def _span(smap: SnippetMap, p: TemplateProblem, ctx: CheckContext) -> Span:
    if p.col is not None:
        return smap.span(p.line - 1, p.col, p.end_col)
    start = smap.to_file(p.line - 1, 0)
    if start is None:
        return smap.whole_span
    return Span(start[0], start[1], start[0], max(start[1] + 1, ctx.lines.line_length(start[0])))


def _first_line(span: Span, ctx: CheckContext) -> Span:
    if span.start_line == span.end_line:
        return span
    end = max(span.start_col + 1, ctx.lines.line_length(span.start_line))
    return Span(span.start_line, span.start_col, span.start_line, end)


class _Scopes:
    """Which context names each template sees (see the module docs)."""

    def __init__(self, wf: Workflow) -> None:
        self.fan_ins = wf.fan_in_names()
        self.edge_source: dict[int, str] = {}
        for e in wf.edges:
            for s in (e.condition, e.when):
                if s is not None and e.source is not None:
                    self.edge_source[id(s)] = e.source.name
        self.by_name = wf.by_name

    def names(self, snip: Snippet) -> frozenset[str]:
        names = set(_BASE_NAMES)
        node = snip.node
        role = snip.role
        if id(snip) in self.edge_source:  # an edge condition: after its source node ran
            names.add("result")
            if self.edge_source[id(snip)] in self.fan_ins:
                names.add("parallel_results")
            return frozenset(names)
        if role == "output" or role.startswith(("output.", "output[")):
            names.add("result")
        elif role == "condition" and node is not None and node.condition is not snip:
            names.add("result")  # a goto rule's `if`
        if node is None:
            return frozenset(names)
        if node.top().name in self.fan_ins:
            names.add("parallel_results")
        cur: Node | None = node
        while cur is not None:
            if cur.type == "dynamic_parallel" and (
                cur is not node or role not in ("items", "condition", "when")
            ):
                names.update((cur.item_var, cur.index_var))
            cur = cur.parent
        return frozenset(names)
