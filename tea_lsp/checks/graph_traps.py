"""Routes TEA gets wrong without a word.

TEA215 a list in an edge's ``to`` (TEA's engines cannot load it), TEA216 a ``dynamic_parallel``
node without ``fan_in`` or with other than one body (TEA refuses it), TEA217 a conditional
``goto`` list without a fallback rule (the run fails when no rule holds), TEA218 a loop with no
route to ``__end__`` (the run never ends).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.graph_refs import unresolved
from tea_lsp.checks.spans import first_line_span, key_span
from tea_lsp.diagnostics import Related
from tea_lsp.model.routing import reachable, successor_lookup
from tea_lsp.model.workflow import END, RESERVED, Node, Workflow
from tea_lsp.syntax.yaml_tree import YScalar, YSeq

_BODIES = ("action", "steps", "subgraph")
# Conditions that always hold: a rule with one of these is a fallback.
_ALWAYS = frozenset({"true", "1", "yes", "{{ true }}", "{{true}}"})
_LIST_LIMIT = 5


def _list_targets(ctx: CheckContext) -> None:
    wf = ctx.workflow
    assert wf is not None
    for edge in wf.edges:
        to = edge.ymap.get("to")
        if not isinstance(to, YSeq):
            continue
        ctx.report(
            "TEA215",
            first_line_span(to.span, ctx.lines),
            "TEA's engines cannot load a list in 'to' (the Python engine fails with "
            "\"unhashable type: 'list'\", the Rust engine expects one node name); write one edge "
            "per target (with 'type: parallel' and 'fan_in' for a fan-out)",
        )


def _dynamic_shape(ctx: CheckContext, node: Node) -> None:
    label = f"dynamic_parallel '{node.name}'" if node.name else "this dynamic_parallel node"
    span = key_span(node.ymap, "type", ctx.lines)
    fan_in = node.ymap.get("fan_in")
    if fan_in is None or (isinstance(fan_in, YScalar) and fan_in.value is True):
        ctx.report(
            "TEA216",
            span,
            f"{label} has no 'fan_in'; name the node that collects the items' results "
            "('fan_in: <node>'); TEA refuses the node without it",
        )
    bodies = [b for b in _BODIES if b in node.ymap]
    if not bodies:
        ctx.report(
            "TEA216",
            span,
            f"{label} has none of 'action', 'steps' or 'subgraph'; give the work each item runs; "
            "TEA refuses the node without it",
        )
    elif len(bodies) > 1:
        listed = ", ".join(f"'{b}'" for b in bodies[:-1]) + f" and '{bodies[-1]}'"
        ctx.report(
            "TEA216",
            key_span(node.ymap, bodies[1], ctx.lines),
            f"{label} has {listed}; each item runs exactly one of 'action', 'steps' or "
            "'subgraph'; TEA refuses the node otherwise",
        )


def _is_fallback(text: str | None) -> bool:
    return text is None or text.strip().lower() in _ALWAYS


def _goto_fallback(ctx: CheckContext, node: Node) -> None:
    if not node.goto:
        return
    goto = node.ymap.get("goto")
    if not isinstance(goto, YSeq):
        return
    if len(node.goto) != len(goto.items):
        return  # a malformed rule (the schema reports it) may be the fallback
    if any(_is_fallback(r.condition.text if r.condition else None) for r in node.goto):
        return
    label = f"node '{node.name}'" if node.name else "this node"
    ctx.report(
        "TEA217",
        key_span(node.ymap, "goto", ctx.lines),
        f"the 'goto' of {label} has no fallback rule: when no 'if' holds, the run fails; end "
        "the list with a rule without 'if' (e.g. '- to: __end__')",
    )


def _ends(wf: Workflow, succ: Callable[[str], tuple[str, ...]]) -> set[str]:
    """Nodes from which some route leads to ``__end__``.

    Walks the routes backwards from the nodes that end. Most nodes have one predecessor:
    it is kept as a string (``first``), the others in a list (``more``) only when there
    are several.
    """
    memo = wf.routes_memo()
    # a filled memo has every node (``successor_lookup`` fills it; other names lead nowhere)
    routes: Iterable[tuple[str, tuple[str, ...]]] = (
        memo.items() if memo else ((name, succ(name)) for name in wf.by_name)
    )
    first: dict[str, str] = {}
    more: dict[str, list[str]] = {}
    ending: list[str] = []
    for name, nexts in routes:
        for nxt in nexts:
            if nxt == END:
                ending.append(name)
            elif nxt not in first:
                first[nxt] = name
            elif nxt in more:
                more[nxt].append(name)
            else:
                more[nxt] = [name]
    seen = set(ending)
    stack = list(seen)
    pop, push, add = stack.pop, stack.append, seen.add
    while stack:
        cur = pop()
        p = first.get(cur)
        if p is None:
            continue
        if p not in seen:
            add(p)
            push(p)
        if cur in more:
            for p in more[cur]:
                if p not in seen:
                    add(p)
                    push(p)
    return seen


def _on_cycles(wf: Workflow, succ: Callable[[str], tuple[str, ...]]) -> set[str]:
    """Nodes some route leads back to: in a strongly connected component of more than one
    node, or with a route to themselves (Tarjan's algorithm, without recursion). Routes go
    through defined nodes only, as ``reachable`` follows them."""
    by_name = {n: None for n in wf.by_name if n not in RESERVED}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: set[str] = set()
    for root in by_name:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter([s for s in succ(root) if s in by_name]))]
        while work:
            name, it = work[-1]
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter([s for s in succ(nxt) if s in by_name])))
                    break
                if nxt in on_stack:
                    low[name] = min(low[name], index[nxt])
                if nxt == name:
                    out.add(name)
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[name])
                if low[name] == index[name]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == name:
                            break
                    if len(component) > 1:
                        out.update(component)
    return out


def _no_exit(ctx: CheckContext) -> None:
    wf = ctx.workflow
    assert wf is not None
    entry = wf.entry()
    if entry is None or entry not in wf.by_name or entry in RESERVED or unresolved(wf):
        return
    for n in wf.nodes:
        if not n.name:
            return  # broken routes (TEA104): cannot know
    if any(e.source is None for e in wf.edges):
        return  # so does an edge without 'from' (TEA104)
    if len(wf.by_name) != len(wf.nodes):
        return  # duplicate names (TEA202): which node a route means is unclear
    for n in wf.all_nodes():
        if n.action_refs_dynamic or n.handlers:
            return  # a node run by a template name or an error handler may lead out
    succ = successor_lookup(wf)
    live = set(reachable(wf, entry))
    ends = _ends(wf, succ)
    trapped = [n for n in wf.nodes if n.name in live and n.name not in ends]
    if not trapped:
        return
    if any(not any(s in wf.by_name for s in succ(n.name)) for n in trapped):
        return  # a dead end, not a loop: some route is broken (reported elsewhere)
    trapped_names = {n.name for n in trapped}
    # nodes a route from outside the trap leads to
    entered = {s for p in live - trapped_names if p in wf.by_name for s in succ(p)}
    cycles: set[str] | None = None
    order = {n.name: i for i, n in enumerate(wf.nodes)}
    for node in trapped:
        # Report where control enters the trap: the entry, or a node reached from outside it.
        if node.name != entry and node.name not in entered:
            continue
        ahead = set(reachable(wf, node.name)) & trapped_names
        if cycles is None:
            cycles = _on_cycles(wf, succ)
        cyclic = ahead & cycles
        loop = sorted(cyclic or ahead, key=order.__getitem__)
        shown = ", ".join(f"'{n}'" for n in loop[:_LIST_LIMIT])
        if len(loop) > _LIST_LIMIT:
            shown += f" and {len(loop) - _LIST_LIMIT} more"
        related = tuple(
            Related(first_line_span(wf.by_name[n].name_span, ctx.lines), f"'{n}' is in the loop")
            for n in loop[:_LIST_LIMIT]
            if n != node.name
        )
        ctx.report(
            "TEA218",
            first_line_span(node.name_span, ctx.lines),
            f"no route from node '{node.name}' leads to '__end__': once the run reaches it, it "
            f"loops through {shown} forever; add a 'goto' rule or an edge to '__end__'",
            related=related,
        )


def check(ctx: CheckContext) -> None:
    wf = ctx.workflow
    if wf is None:
        return
    _list_targets(ctx)
    for node in wf.all_nodes():
        if node.type == "dynamic_parallel":
            _dynamic_shape(ctx, node)
        if node.goto:  # (``_goto_fallback`` has nothing to say otherwise: most nodes)
            _goto_fallback(ctx, node)
    _no_exit(ctx)
