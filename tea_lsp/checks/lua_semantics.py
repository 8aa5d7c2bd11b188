"""TEA302–TEA306: what the Lua code reads and writes, checked against the sandbox and the flow.

Globals are resolved per Lua VM (``routing.vm_flows``): the main flow's nodes share one VM,
each parallel branch has its own. A global read is defined when the sandbox provides it, it is
``state``/``variables``, or a node of the same VM that can run before the reader assigns it —
the same node (loops, ``x = x or 0``), or a node from which the reader is reachable. A global
assigned only by nodes that cannot run first, or only in another VM, is reported with that
explanation.
"""

from __future__ import annotations

from collections import defaultdict

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.lua_common import (
    LuaEntry,
    field_span,
    flow_label,
    is_fan_in,
    lua_entries,
    provided_state_keys,
)
from tea_lsp.checks.python_common import python_state_keys
from tea_lsp.checks.state_flow import code_state_key_problem, variable_problem
from tea_lsp.diagnostics import Fix, TextEdit
from tea_lsp.langs.lua import REMOVED_FIELDS, REMOVED_GLOBALS, GlobalAccess, sandbox_globals
from tea_lsp.model.routing import reachable
from tea_lsp.model.workflow import Workflow
from tea_lsp.util import did_you_mean, suggest

_IMPLICIT = frozenset(("state", "variables"))

Use = tuple[LuaEntry, GlobalAccess]


def check(ctx: CheckContext) -> None:
    wf = ctx.workflow
    if wf is None:
        return
    entries = [e for e in lua_entries(ctx) if e.facts is not None]
    if not entries:
        return
    sandbox = sandbox_globals()
    sets: dict[str, dict[str, list[Use]]] = defaultdict(lambda: defaultdict(list))
    read_flows: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        assert e.facts is not None
        for a in e.facts.accesses:
            if a.kind == "set":
                sets[e.flow][a.name].append((e, a))
            else:
                read_flows[a.name].add(e.flow)
    reach = _Reach(wf)
    fan_ins = wf.fan_in_names()
    provided = (
        provided_state_keys(ctx) | {"parallel_results"} if wf.state_schema is not None else None
    )
    if provided is not None:  # keys returned by Python nodes (unmarked ones included)
        py_keys, py_opaque = python_state_keys(ctx)
        provided = None if py_opaque else provided | py_keys
    for e in entries:
        assert e.facts is not None
        warned: set[str] = set()
        for a in e.facts.accesses:
            if a.kind == "set":
                if a.name not in warned:  # once per node and name
                    warned.add(a.name)
                    _check_set(ctx, e, a, read_flows)
                continue
            if a.name == "state":
                _check_state_read(ctx, e, a, provided, fan_ins)
                continue
            if a.name == "variables" and a.field is not None:
                _check_variable_read(ctx, e, a)
                continue
            if a.name in _IMPLICIT:
                continue
            if a.name in sandbox:
                _check_removed_field(ctx, e, a, sets[e.flow])
                continue
            _check_read(ctx, e, a, sets, sandbox, reach)


class _Reach:
    """Lazily computed reachability between top-level nodes."""

    def __init__(self, wf: Workflow) -> None:
        self.wf = wf
        self.cache: dict[str, set[str]] = {}

    def precedes(self, setter: LuaEntry, reader: LuaEntry) -> bool:
        a, b = setter.top, reader.top
        if a is b:
            return True
        if a.name not in self.cache:
            self.cache[a.name] = set(reachable(self.wf, a.name)) if a.name else set()
        return b.name in self.cache[a.name]


def _check_read(
    ctx: CheckContext,
    e: LuaEntry,
    a: GlobalAccess,
    sets: dict[str, dict[str, list[Use]]],
    sandbox: frozenset[str],
    reach: _Reach,
) -> None:
    same = sets[e.flow].get(a.name, [])
    if any(reach.precedes(setter, e) for setter, _ in same):
        return
    span = e.span(a.line, a.col, len(a.name))
    if a.name in REMOVED_GLOBALS:
        ctx.report("TEA303", span, f"'{a.name}' is not available in the sandbox")
        return
    if same:
        setter = same[0][0]
        ctx.report(
            "TEA302",
            span,
            f"undefined global '{a.name}'; it is only assigned by node '{setter.node.name}', "
            f"which cannot run before node '{e.node.name}'",
        )
        return
    for flow, by_name in sets.items():
        uses = by_name.get(a.name) if flow != e.flow else None
        if uses:
            setter = uses[0][0]
            if e.flow != "main":
                why = f"but {flow_label(e.flow)} runs in its own Lua VM"
            else:
                why = "whose Lua VM is discarded when the branch ends"
            ctx.report(
                "TEA302",
                span,
                f"undefined global '{a.name}'; it is assigned by node '{setter.node.name}' in "
                f"{flow_label(flow)}, {why}",
            )
            return
    known = set(sandbox) | _IMPLICIT | set(sets[e.flow])
    known -= set(REMOVED_GLOBALS)
    best = suggest(a.name, known)
    fix = None
    if best is not None and e.smap.exact and a.col is not None:
        fix = Fix(f"Replace '{a.name}' with '{best}'", (TextEdit(span, best),))
    ctx.report("TEA302", span, f"undefined global '{a.name}'{did_you_mean(a.name, known)}", fix=fix)


def _check_removed_field(
    ctx: CheckContext, e: LuaEntry, a: GlobalAccess, flow_sets: dict[str, list[Use]]
) -> None:
    removed = REMOVED_FIELDS.get(a.name)
    if not removed or a.field not in removed or a.name in flow_sets:
        return
    qualified = f"{a.name}.{a.field}"
    lines = e.lines
    text = lines[a.line - 1] if 0 < a.line <= len(lines) else ""
    if a.col is not None and text[a.col : a.col + len(qualified)] == qualified:
        span = e.span(a.line, a.col, len(qualified))
    else:
        span = field_span(e, a.line, a.col, a.name, a.field)
    ctx.report("TEA303", span, f"'{qualified}' is not available in the sandbox")


def _check_set(
    ctx: CheckContext, e: LuaEntry, a: GlobalAccess, read_flows: dict[str, set[str]]
) -> None:
    if e.flow == "main" or a.name in _IMPLICIT:
        return
    readers = read_flows.get(a.name, set())
    if e.flow in readers and readers <= {e.flow}:
        return  # only used inside its own branch: fine
    branch = e.flow.split(":", 2)[2]
    ctx.report(
        "TEA304",
        e.span(a.line, a.col, len(a.name)),
        f"global '{a.name}' assigned in parallel branch '{branch}' is not visible to other "
        "branches or the fan-in; return it in the result table instead",
    )


def _check_state_read(
    ctx: CheckContext,
    e: LuaEntry,
    a: GlobalAccess,
    provided: frozenset[str] | None,
    fan_ins: set[str],
) -> None:
    if a.field is None:
        return
    if a.field == "parallel_results":
        if not is_fan_in(e.node, fan_ins):
            ctx.report(
                "TEA306",
                field_span(e, a.line, a.col, a.name, a.field),
                f"'state.parallel_results' is only set in fan-in nodes, and '{e.top.name}' is "
                "not a fan-in",
            )
        return
    extra = e.node.item_names()
    if a.field in extra:
        return
    # Flow-aware, the same policy as templates (TEA404): keys set on every path before this
    # node; quiet after an opaque node; without a schema only near-misses of set keys.
    message = code_state_key_problem(ctx, e.node, a.field, extra)
    if message is None:
        return
    ctx.report("TEA305", field_span(e, a.line, a.col, a.name, a.field), message)


def _check_variable_read(ctx: CheckContext, e: LuaEntry, a: GlobalAccess) -> None:
    assert a.field is not None
    span = field_span(e, a.line, a.col, a.name, a.field)
    after = ctx.lines.line(span.end_line)[span.end_col :]
    message = variable_problem(ctx, a.field, after)
    if message is not None:
        ctx.report("TEA316", span, message)
