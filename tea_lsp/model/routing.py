"""Routing over the model: where control goes after a node, branches, fan-ins, VM flows.

Precedence (WORKFLOW_FORMAT.md §3): ``goto`` > edges leaving the node > implicit chaining
(the next node in the list; the last one ends). Shared by the graph checks and the engine.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

from tea_lsp.model.workflow import END, START, Edge, FanOut, Node, Ref, Snippet, Workflow


@dataclass(slots=True)
class Route:
    target: str
    kind: Literal["goto", "edge", "implicit"]
    condition: Snippet | None = None
    edge: Edge | None = None


def routes(wf: Workflow, name: str) -> list[Route]:
    """Sequential routes leaving node ``name`` in precedence order (parallel edges excluded)."""
    node = wf.by_name.get(name)
    if node is None:
        return []
    if node.goto is not None:
        return [Route(r.target.name, "goto", r.condition) for r in node.goto]
    edges = wf.edges_from(name)
    if edges:
        out: list[Route] = []
        for e in edges:
            if e.is_parallel or e.parallel_list is not None:
                continue
            cond = e.condition or e.when
            out.extend(Route(t.name, "edge", cond, e) for t in e.targets)
        return out
    return [Route(_implicit_next(wf, node), "implicit")]


def _implicit_next(wf: Workflow, node: Node) -> str:
    i = wf.position(node)
    if 0 <= i < len(wf.nodes) - 1 and wf.nodes[i + 1].name:
        return wf.nodes[i + 1].name
    return END


def successors(wf: Workflow, name: str) -> list[str]:
    """Every node control can reach in one step from ``name`` (branches and fan-in included)."""
    return list(successor_lookup(wf)(name))


def successor_lookup(wf: Workflow) -> Callable[[str], tuple[str, ...]]:
    """``successors`` for many look-ups: the model's memo is checked once (and filled for
    every node at the first look-up); the remembered tuples are returned, not copies."""
    memo = wf.routes_memo()
    if memo is None:
        return partial(_successors, wf)
    if not memo:
        _fill(wf, memo)
    get = memo.get

    def lookup(name: str) -> tuple[str, ...]:
        found = get(name)
        if found is None:
            found = memo[name] = _successors(wf, name)
        return found

    return lookup


def _fill(wf: Workflow, memo: dict[str, tuple[str, ...]]) -> None:
    """The successors of every node at once. Most nodes of a large file have no ``goto``, no
    edge, no fan-out and no handler: they only chain to the next node in the list."""
    nodes, by_name = wf.nodes, wf.by_name
    with_edges = {e.source.name for e in wf.edges if e.source is not None}
    fanning = {f.source.name for f in wf.fan_outs}
    last = len(nodes) - 1
    for i, node in enumerate(nodes):
        name = node.name
        if not name or by_name.get(name) is not node or name in memo:
            continue
        if (
            node.goto is None
            and not node.handlers
            and node.type != "dynamic_parallel"
            and name not in with_edges
            and name not in fanning
        ):
            memo[name] = (nodes[i + 1].name if i < last and nodes[i + 1].name else END,)
        else:
            memo[name] = _successors(wf, name)


def _successors(wf: Workflow, name: str) -> tuple[str, ...]:
    node = wf.by_name.get(name)
    if node is None:
        return ()
    out: list[str] = []
    edges = wf.edges_from(name)
    if node.goto is None:
        fo = wf.fan_out_from(name)
        if fo is not None:
            out.extend(b.name for b in fo.branches)
            if fo.fan_in is not None:
                out.append(fo.fan_in.name)
            out.extend(r.name for r in fo.declared_fan_ins())  # all of them, even conflicting
    if node.type == "dynamic_parallel" and node.dp_fan_in is not None:
        out.append(node.dp_fan_in.name)
    # the targets of ``routes(wf, name)``, without building its Route objects
    if node.goto is not None:
        out.extend(r.target.name for r in node.goto)
    elif edges:
        for e in edges:
            if not (e.is_parallel or e.parallel_list is not None):
                out.extend(t.name for t in e.targets)
    else:
        out.append(_implicit_next(wf, node))
    if node.goto is None:
        for e in edges:
            out.extend(t.name for t in e.cond_targets)
    out.extend(h.name for h in node.handlers if h.name in wf.by_name)
    return tuple(dict.fromkeys(out))


def entry(wf: Workflow) -> str | None:
    return wf.entry()


def reachable(wf: Workflow, start: str | None = None, stop: str | None = None) -> list[str]:
    """Nodes reachable from ``start`` (default: the entry), BFS order; ``stop`` is not expanded."""
    first = start if start is not None else entry(wf)
    if first is None:
        return []
    if stop is None:  # the checks ask twice from the entry: the complete model keeps it
        kept = wf.reached_from(first)
        if kept is not None:
            return kept
        found = _reachable(wf, first, None)
        if first == entry(wf):
            wf.keep_reached(first, found)
        return found
    return _reachable(wf, first, stop)


def _reachable(wf: Workflow, first: str, stop: str | None) -> list[str]:
    succ = successor_lookup(wf)
    memo = wf.routes_memo() or {}  # filled by successor_lookup: read directly in the loop
    get = memo.get
    seen: dict[str, None] = {}
    queue = deque([first])
    pop, push = queue.popleft, queue.append
    while queue:
        cur = pop()
        if cur in seen or cur in (END, START):
            continue
        seen[cur] = None
        if cur == stop:
            continue
        found = get(cur)
        for nxt in succ(cur) if found is None else found:
            if nxt not in seen:
                push(nxt)
    return list(seen)


def branch_nodes(wf: Workflow, fan_out: FanOut, branch: str) -> list[str]:
    """Nodes of one branch: from its first node up to (not including) the fan-in."""
    stop = fan_out.fan_in.name if fan_out.fan_in is not None else None
    nodes = reachable(wf, branch, stop)
    return [n for n in nodes if n != stop and n in wf.by_name]


def common_successor(wf: Workflow, branches: list[str]) -> str | None:
    """The unique first node that every branch reaches (spelling D's implicit fan-in)."""
    sets = [set(reachable(wf, b)) - {b} for b in branches]
    if not sets:
        return None
    common = set.intersection(*sets) - set(branches)
    if not common:
        return None
    # The first common node is the one every branch reaches without passing through another
    # common node (robust to loops after the join, where common nodes reach each other).
    firsts = set.intersection(*(_first_hits(wf, b, common) for b in branches))
    return next(iter(firsts)) if len(firsts) == 1 else None


def _first_hits(wf: Workflow, start: str, targets: set[str]) -> set[str]:
    """Nodes of ``targets`` reachable from ``start`` by a path through no other target."""
    hits: set[str] = set()
    seen: set[str] = {start}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        for nxt in successors(wf, cur):
            if nxt in seen or nxt in (END, START):
                continue
            seen.add(nxt)
            if nxt in targets:
                hits.add(nxt)
            else:
                queue.append(nxt)
    return hits


def vm_flows(wf: Workflow) -> dict[str, str]:
    """Which Lua VM runs each node: ``"main"`` or ``"branch:<k>:<first node>"``.

    Branch nodes get their branch's VM; every other node shares the main flow's VM.
    """
    flows: dict[str, str] = {}
    for k, fo in enumerate(wf.fan_outs):
        for b in fo.branches:
            for n in branch_nodes(wf, fo, b.name):
                flows.setdefault(n, f"branch:{k}:{b.name}")
    for n in wf.by_name:
        flows.setdefault(n, "main")
    return flows


def resolve_fan_ins(wf: Workflow) -> None:
    """Fill in the implicit fan-in of spelling-D fan-outs (the branches' common successor)."""
    for fo in wf.fan_outs:
        if fo.fan_in is None and fo.spelling == "D":
            fo.fan_in_explicit = False
            found = common_successor(wf, [b.name for b in fo.branches])
            if found is not None:
                fo.fan_in = Ref(found, fo.edges[0].ymap.span, "fan_in")
