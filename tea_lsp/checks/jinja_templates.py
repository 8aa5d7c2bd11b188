"""TEA401–TEA405: templates parsed with the runner's own sandboxed Jinja environment.

Every Jinja snippet of the model (``with:`` values, ``output`` mappings, conditions — with or
without ``{{ }}`` — ``items`` and expression runs) is checked for syntax errors (TEA401),
unknown filters and tests (TEA402), undefined names (TEA403), ``state.<key>`` reads that
nothing provides on the way to the template (TEA404, see :mod:`tea_lsp.checks.state_flow`)
and ``variables.<key>`` reads of keys the file's ``variables`` lacks (TEA405), at exact
positions in the YAML file.

Names a template may use, per place (the runner builds the same contexts):

============================================  ==============================================
every template                                ``state``, ``variables``, ``secrets``,
                                              ``settings``, ``data``, ``env``, ``checkpoint``
                                              and Jinja's globals
``output`` (string or mapping)                + ``result`` (the node's result)
``goto`` rule ``if``, edge ``condition``/``when``  + ``result`` (the source node's result)
``while_loop`` ``condition``, ``items``       nothing more
any template of a fan-in node (and its steps,   + ``parallel_results``
its ``goto`` rules and edges leaving it)
inside a ``dynamic_parallel`` node (its       + ``item_var`` / ``index_var`` (default
``with:``/``output`` and every step), not its   ``item``/``index``)
``items``, ``goto`` or edges
============================================  ==============================================

Conditions accept TEA's shorthand: ``flag`` reads ``state.flag``, ``!flag`` its negation.

State keys (TEA404): a template in a node's ``with:``, ``items`` or expression sees the keys
set on some path to the node; its ``output``, conditions, ``goto`` rules and edges leaving it
also see what the node itself sets. Without ``state_schema``/``input_schema`` the run's input
may hold any key, so only a key that nothing in the file provides *and* that is close to an
available one (a typo) is reported.
"""

from __future__ import annotations

from collections.abc import Set
from functools import cache
from typing import TYPE_CHECKING

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.state_flow import StateFlow, declared_variables, state_flow
from tea_lsp.diagnostics import Fix, Severity, Span, TextEdit
from tea_lsp.model.workflow import Node, Snippet, Workflow
from tea_lsp.syntax.embedded import SnippetMap

if TYPE_CHECKING:  # jinja2 is imported when a file has templates (start-up time)
    from tea_lsp.langs.jinja import TemplateProblem

_CODES = {
    "syntax": "TEA401",
    "limit": "TEA401",  # too large to check: a warning, the template may still render
    "filter": "TEA402",
    "name": "TEA403",
    "state_key": "TEA404",
    "variable": "TEA405",
}


@cache
def _base_names() -> frozenset[str]:
    from tea_lsp.langs.jinja import UPSTREAM_NAMES

    return frozenset({"state", "variables"}) | UPSTREAM_NAMES


_BEFORE_ROLES = ("with.", "with[", "items", "expression", "run")


def check(ctx: CheckContext) -> None:
    wf = ctx.workflow
    if wf is None:
        return
    # An expression run is Python, but TEA's Python engine renders its `{{ }}` / `{% %}` parts
    # as a template first: those parts are checked here.
    candidates = _template_snippets(wf)
    if not candidates:
        return
    from tea_lsp.langs.jinja import KeyScope, check_template, has_markup, needed_keys

    snippets = [s for s in candidates if s.kind == "jinja" or has_markup(s.text)]
    if not snippets:
        return
    scope = _Scopes(wf)
    flow = state_flow(ctx)
    variables = declared_variables(ctx)
    limit = ctx.config.max_snippet_bytes
    for snip in snippets:
        if snip.role == "expression" and not has_markup(snip.text):
            continue  # TEA's Python engine evaluates it as Python (after rendering markup)
        size = len(snip.text)  # UTF-8 takes at most 4 bytes a character
        if size * 4 > limit:
            size = len(snip.text.encode("utf-8", "surrogatepass"))
        if size > limit:
            ctx.report(
                "TEA401",
                _first_line(snip.scalar.span, ctx),
                f"template is too large to check: {size} bytes, the limit is {limit}",
                severity=Severity.WARNING,
            )
            continue
        names = scope.names(snip)
        condition = snip.expression and snip.role in ("condition", "when")
        needs = needed_keys(
            snip.text, expression=snip.expression, known_names=names, condition=condition
        )
        if needs is not None and not needs[0] and _has_all(needs, None, variables, names):
            continue  # reads no state key, and check_template would find nothing
        state_keys = _state_keys(flow, scope, snip, names)
        if needs is not None and needs[0] and _has_all(needs, state_keys, variables, names):
            continue  # check_template would find nothing
        keys = KeyScope(state_keys, variables=variables)
        problems = check_template(
            snip.text,
            expression=snip.expression,
            known_names=names,
            condition=condition,
            keys=keys,
            state_key_hints=flow is None,  # otherwise the flow words the message
        )
        if not problems:
            continue
        smap = SnippetMap.for_scalar(snip.scalar, ctx.lines)  # only to place a diagnostic
        for problem in problems:
            message = problem.message
            if problem.kind == "state_key" and problem.name != "parallel_results":
                assert flow is not None and state_keys is not None
                found = flow.key_message(problem.name or "", state_keys)
                if found is None:
                    continue
                message = found
            severity = Severity.WARNING if problem.kind == "limit" else None
            span = _span(smap, problem, ctx)
            fix = None
            if problem.suggestion is not None and _holds(ctx, span, problem.name):
                title = f"Replace '{problem.name}' with '{problem.suggestion}'"
                fix = Fix(title, (TextEdit(span, problem.suggestion),))
            ctx.report(_CODES[problem.kind], span, message, severity=severity, fix=fix)


def _template_snippets(wf: Workflow) -> list[Snippet]:
    """``wf.snippets()`` that are templates or expression runs (the same list, in the same
    order: picked before sorting, which is stable)."""
    out: list[Snippet] = []
    add = out.append
    for n in wf.all_nodes():
        for s in (n.code, n.expression, n.condition, n.items):
            if s is not None and (s.kind == "jinja" or s.role == "expression"):
                add(s)
        if n.goto:
            for r in n.goto:
                s = r.condition
                if s is not None and (s.kind == "jinja" or s.role == "expression"):
                    add(s)
        for s in n.templates:
            if s.kind == "jinja" or s.role == "expression":
                add(s)
    for e in wf.edges:
        for s in (e.condition, e.when):
            if s is not None and (s.kind == "jinja" or s.role == "expression"):
                add(s)
    out.sort(key=_position)
    return out


def _position(s: Snippet) -> tuple[int, int]:
    return s.scalar.start  # the span's start, without making the span


def _has_all(
    needs: tuple[frozenset[str], frozenset[str]],
    state_keys: Set[str] | None,
    variables: frozenset[str] | None,
    names: frozenset[str],
) -> bool:
    """Whether the keys a template reads unguarded are all there (see ``needed_keys``)."""
    state_needed, variables_needed = needs
    if state_needed and state_keys is not None and "state" in names:
        for key in state_needed:
            if key not in state_keys:
                return False
    if variables_needed and variables is not None and "variables" in names:
        return variables_needed <= variables
    return True


def _state_keys(
    flow: StateFlow | None, scope: _Scopes, snip: Snippet, names: frozenset[str]
) -> Set[str] | None:
    """The state keys possibly set when ``snip`` is rendered (``None``: possibly any)."""
    if flow is None:
        return None
    source = scope.edge_source.get(id(snip))
    node = snip.node if source is None else scope.by_name.get(source)
    if node is None:
        return None if flow.any_opaque else flow.everywhere
    top = node.top()
    if node is top and snip.role.startswith(_BEFORE_ROLES) and source is None:
        keys = flow.keys_before(node)
    else:
        keys = flow.keys_after(node)
    if keys is None:
        return None
    extra = scope.extra(names)  # item/index, ...
    return keys | extra if extra else keys


def _holds(ctx: CheckContext, span: Span, text: str | None) -> bool:
    """Whether the file has exactly ``text`` at ``span`` (so replacing it is safe)."""
    if text is None or span.start_line != span.end_line:
        return False
    return ctx.lines.line(span.start_line)[span.start_col : span.end_col] == text


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
        self._names: dict[tuple[bool, bool, tuple[str, ...]], frozenset[str]] = {}
        self._extra: dict[frozenset[str], frozenset[str]] = {}

    def extra(self, names: frozenset[str]) -> frozenset[str]:
        """The names beyond the base ones and ``result`` (loop item and index, ...)."""
        found = self._extra.get(names)
        if found is None:
            found = frozenset(n for n in names if n not in _base_names() and n != "result")
            self._extra[names] = found
        return found

    def names(self, snip: Snippet) -> frozenset[str]:
        """The names ``snip`` sees (one shared set per distinct answer)."""
        node = snip.node
        role = snip.role
        loop_vars: tuple[str, ...] = ()
        if id(snip) in self.edge_source:  # an edge condition: after its source node ran
            result = True
            fan_in = self.edge_source[id(snip)] in self.fan_ins
        else:
            result = (
                role == "output"
                or role.startswith(("output.", "output["))
                or (role == "condition" and node is not None and node.condition is not snip)
            )  # a goto rule's `if` sees the result
            fan_in = node is not None and node.top().name in self.fan_ins
            own = role not in ("items", "condition", "when")
            cur: Node | None = node
            while cur is not None:
                if cur.type == "dynamic_parallel" and (cur is not node or own):
                    loop_vars += (cur.item_var, cur.index_var)
                cur = cur.parent
        key = (result, fan_in, loop_vars)
        found = self._names.get(key)
        if found is None:
            names = set(_base_names())
            if result:
                names.add("result")
            if fan_in:
                names.add("parallel_results")
            names.update(loop_vars)
            found = self._names[key] = frozenset(names)
        return found
