"""Static parallel fan-outs.

TEA205 single-target ``parallel: true`` (sequential upstream), TEA206 a branch that never
reaches its fan-in, TEA207 branches naming different fan-ins, TEA208 a ``parallel: [..]``
list without a unique common successor, TEA210 ``fan_in: true`` joining nothing, TEA212
``interrupt``/``retry`` inside a branch, TEA213 parallel edges without ``fan_in``, TEA214 a
branch that runs into a sibling branch.
"""

from __future__ import annotations

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.spans import first_line_span, head_span, key_span
from tea_lsp.diagnostics import Related, Span
from tea_lsp.model.routing import branch_nodes, reachable, successors
from tea_lsp.model.workflow import Edge, FanOut, Node, Ref, Workflow


def _names(refs: list[Ref]) -> str:
    shown = [f"'{r.name}'" for r in refs]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def _source(fo_or_edge: FanOut | Edge) -> str:
    src = fo_or_edge.source
    return src.name if src is not None else "?"


def _marker_span(ctx: CheckContext, edge: Edge) -> Span:
    """The key that makes an edge parallel: ``parallel``, else ``type``."""
    for key in ("parallel", "type"):
        if key in edge.ymap:
            return key_span(edge.ymap, key, ctx.lines)
    return head_span(edge.ymap, ctx.lines)


def _sequential_spelling(ctx: CheckContext, wf: Workflow) -> None:
    for e in wf.edges:
        if e.parallel_list is not None or not e.parallel_flag or e.type == "parallel":
            continue
        if len(e.targets) != 1:
            continue
        target = e.targets[0].name
        ctx.report(
            "TEA205",
            _marker_span(ctx, e),
            f"'parallel: true' with the single target '{target}' runs sequentially upstream; "
            "for parallel branches write one edge per branch, each with 'type: parallel' and "
            "'fan_in'",
        )


def _missing_fan_in(ctx: CheckContext, fo: FanOut) -> None:
    if fo.spelling not in ("A", "C"):
        return
    for e in fo.edges:
        if e.fan_in is not None:
            continue
        targets = _names(e.targets)
        ctx.report(
            "TEA213",
            _marker_span(ctx, e),
            f"parallel edge from '{_source(fo)}' to {targets} has no 'fan_in'; "
            "name the node where the branches join",
        )


def _conflicting_fan_ins(ctx: CheckContext, fo: FanOut) -> None:
    declared = fo.declared_fan_ins()
    if not declared:
        return
    first = declared[0]
    for ref in declared[1:]:
        if ref.name == first.name:
            continue
        ctx.report(
            "TEA207",
            first_line_span(ref.span, ctx.lines),
            f"branches of the fan-out from '{_source(fo)}' join at different nodes, "
            f"'{first.name}' and '{ref.name}'; a fan-out has exactly one fan-in",
            related=(
                Related(first_line_span(first.span, ctx.lines), f"fan-in '{first.name}' here"),
            ),
        )


def _no_common_successor(ctx: CheckContext, wf: Workflow, fo: FanOut) -> None:
    if fo.spelling != "D" or fo.fan_in is not None or not fo.branches:
        return
    if any(b.name not in wf.by_name for b in fo.branches):
        return  # TEA201 reports the unknown branch
    value = fo.edges[0].ymap.get("parallel")
    span = (
        first_line_span(value.span, ctx.lines)
        if value is not None
        else head_span(fo.edges[0].ymap, ctx.lines)
    )
    ctx.report(
        "TEA208",
        span,
        f"the branches {_names(fo.branches)} of the parallel list from '{_source(fo)}' have "
        "no unique common successor to join at; route every branch to one node or add "
        "'fan_in: <node>'",
    )


def _expected_fan_in(fo: FanOut, branch: Ref) -> Ref | None:
    """The fan-in a branch must reach: its own edge's ``fan_in`` in spelling A."""
    if fo.spelling == "A":
        for e in fo.edges:
            if branch in e.targets and e.fan_in is not None:
                return e.fan_in
    return fo.fan_in


def _branch_misses_fan_in(ctx: CheckContext, wf: Workflow, fo: FanOut) -> None:
    for branch in fo.branches:
        fan_in = _expected_fan_in(fo, branch)
        if fan_in is None or fan_in.name not in wf.by_name or branch.name not in wf.by_name:
            continue
        if fan_in.name in reachable(wf, branch.name, stop=fan_in.name):
            continue
        related: tuple[Related, ...] = ()
        if fo.fan_in_explicit:
            related = (
                Related(first_line_span(fan_in.span, ctx.lines), f"fan-in '{fan_in.name}' here"),
            )
        ctx.report(
            "TEA206",
            first_line_span(branch.span, ctx.lines),
            f"branch '{branch.name}' of the fan-out from '{_source(fo)}' never reaches its "
            f"fan-in '{fan_in.name}'; every branch must route to the fan-in",
            related=related,
        )


def _orphan_fan_ins(ctx: CheckContext, wf: Workflow) -> None:
    if any(fo.fan_in is None for fo in wf.fan_outs):
        return  # the join point of some fan-out is unknown (TEA208/TEA213 say so)
    joined: set[str] = {fo.fan_in.name for fo in wf.fan_outs if fo.fan_in is not None}
    joined |= {e.fan_in.name for e in wf.edges if e.fan_in is not None}
    joined |= {n.dp_fan_in.name for n in wf.all_nodes() if n.dp_fan_in is not None}
    for node in wf.nodes:
        if not node.fan_in or not node.name or node.name in joined:
            continue
        ctx.report(
            "TEA210",
            key_span(node.ymap, "fan_in", ctx.lines),
            f"node '{node.name}' is marked 'fan_in: true' but no parallel fan-out joins at it; "
            "it will run as a plain node without 'parallel_results'",
        )


def _unsupported_in_branch(ctx: CheckContext, wf: Workflow) -> None:
    seen: set[tuple[int, str]] = set()

    def report(node: Node, where: str) -> None:
        for key, what in (("interrupt", "'interrupt'"), ("retry", "node-level 'retry'")):
            present = node.has_interrupt if key == "interrupt" else node.has_retry
            if not present or (id(node), key) in seen:
                continue
            seen.add((id(node), key))
            label = f"node '{node.name}'" if node.name else "this node"
            ctx.report(
                "TEA212",
                key_span(node.ymap, key, ctx.lines),
                f"{label} runs inside {where}, where {what} is not supported; "
                "branches run in isolated workers that cannot pause or replay a node",
            )

    for fo in wf.fan_outs:
        if fo.fan_in is None:
            continue
        for branch in fo.branches:
            where = f"the parallel branch '{branch.name}' of '{_source(fo)}'"
            for name in branch_nodes(wf, fo, branch.name):
                for node in wf.by_name[name].walk():
                    report(node, where)
    for dp in wf.all_nodes():
        if dp.type != "dynamic_parallel":
            continue
        where = f"the dynamic_parallel node '{dp.name}'"
        for node in dp.walk()[1:]:
            report(node, where)


def _runs_into_sibling(ctx: CheckContext, wf: Workflow, fo: FanOut) -> None:
    if fo.fan_in is None:
        return
    starts = {b.name for b in fo.branches}
    for branch in fo.branches:
        for name in branch_nodes(wf, fo, branch.name):
            node = wf.by_name.get(name)
            if node is None:
                continue
            for nxt in successors(wf, name):
                if nxt in starts and nxt != branch.name:
                    ctx.report(
                        "TEA214",
                        first_line_span(node.name_span, ctx.lines),
                        f"node '{name}' of parallel branch '{branch.name}' continues into "
                        f"'{nxt}', the first node of a sibling branch; route it to the fan-in "
                        f"'{fo.fan_in.name}' instead",
                    )


def check(ctx: CheckContext) -> None:
    wf = ctx.workflow
    if wf is None:
        return
    _sequential_spelling(ctx, wf)
    for fo in wf.fan_outs:
        _missing_fan_in(ctx, fo)
        _conflicting_fan_ins(ctx, fo)
        _no_common_successor(ctx, wf, fo)
        _branch_misses_fan_in(ctx, wf, fo)
        _runs_into_sibling(ctx, wf, fo)
    _orphan_fan_ins(ctx, wf)
    _unsupported_in_branch(ctx, wf)
