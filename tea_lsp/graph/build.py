"""The routing graph of a workflow, as the runner walks it (pure: model in, plain data out).

Sequential edges come from :func:`tea_lsp.model.routing.routes` (``goto`` > edges > the next
node), so what is drawn is what runs. The three static fan-out spellings become the same
picture: the source, parallel edges to each branch, the branch's nodes grouped in a cluster,
and the fan-in. A ``dynamic_parallel`` node is one node marked ``×items`` joined to its
``fan_in``; a ``while_loop`` shows its body in a cluster with the edge back to the loop.
Node ids are generated (``n0``, ``n1``, ...) so that no name ever needs escaping as an id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from tea_lsp.diagnostics import Diagnostic, Severity, Span
from tea_lsp.model.routing import branch_nodes, routes
from tea_lsp.model.workflow import END, START, Node, Snippet, Workflow

NodeKind = Literal["start", "end", "node", "fan_in", "dynamic", "loop", "steps", "missing"]
EdgeKind = Literal["next", "goto", "edge", "parallel", "join", "loop", "repeat", "handler"]

LABEL_MAX = 48


@dataclass(slots=True)
class GraphNode:
    id: str
    name: str
    kind: NodeKind
    span: Span | None = None  # the node's name in the file
    extent: Span | None = None  # the whole node mapping (diagnostics inside it colour it)
    marker: str = ""  # second label line: "×items", "while ...", "3 steps"
    severity: Severity | None = None
    cluster: str | None = None

    @property
    def line(self) -> int | None:
        return self.span.start_line if self.span is not None else None


@dataclass(slots=True)
class GraphEdge:
    source: str  # node ids
    target: str
    kind: EdgeKind
    label: str = ""


@dataclass(slots=True)
class Cluster:
    id: str
    label: str
    kind: Literal["branch", "loop"]
    members: list[str] = field(default_factory=list)  # node ids


@dataclass(slots=True)
class Graph:
    name: str
    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[GraphEdge] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)

    def node(self, node_id: str) -> GraphNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def by_name(self) -> dict[str, GraphNode]:
        """Drawn nodes by workflow name (top-level nodes win over same-named sub-nodes)."""
        out: dict[str, GraphNode] = {}
        for n in self.nodes:
            out.setdefault(n.name, n)
        return out


def short(text: str, limit: int = LABEL_MAX) -> str:
    """One line of at most ``limit`` characters (whitespace runs collapsed)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def condition_text(snippet: Snippet) -> str:
    text = snippet.text.strip()
    if text.startswith("{{") and text.endswith("}}"):
        text = text[2:-2].strip()
    return short(text)


class _Builder:
    def __init__(self, wf: Workflow, name: str) -> None:
        self.wf = wf
        self.graph = Graph(name)
        self.ids: dict[str, str] = {}  # top-level name -> id
        self._seen_edges: set[tuple[str, str, str, str]] = set()
        self.bodies: dict[str, Cluster] = {}  # while_loop id -> its body's cluster

    def add(self, name: str, kind: NodeKind, node: Node | None = None, marker: str = "") -> str:
        node_id = f"n{len(self.graph.nodes)}"
        self.graph.nodes.append(
            GraphNode(
                node_id,
                name,
                kind,
                node.name_span if node is not None else None,
                node.ymap.span if node is not None else None,
                marker,
            )
        )
        return node_id

    def ref(self, name: str) -> str:
        """The id of a top-level node, ``__end__``, or a node drawn as missing."""
        if name not in self.ids:
            kind: NodeKind = "end" if name == END else "start" if name == START else "missing"
            self.ids[name] = self.add(name, kind)
        return self.ids[name]

    def edge(self, source: str, target: str, kind: EdgeKind, label: str = "") -> None:
        key = (source, target, kind, label)
        if key in self._seen_edges:
            return
        self._seen_edges.add(key)
        self.graph.edges.append(GraphEdge(source, target, kind, label))


def _kind_of(wf: Workflow, node: Node, fan_ins: set[str]) -> tuple[NodeKind, str]:
    if node.type == "dynamic_parallel":
        return "dynamic", "×items"
    if node.type == "while_loop":
        cond = f"while {condition_text(node.condition)}" if node.condition else "while"
        limit = f" (≤{node.max_iterations})" if node.max_iterations else ""
        return "loop", short(cond + limit)
    if node.name in fan_ins:
        return "fan_in", ""
    if node.steps:
        n = len(node.steps)
        return "steps", f"{n} step{'s' if n != 1 else ''}"
    return "node", ""


def build_graph(wf: Workflow, diagnostics: Iterable[Diagnostic] = ()) -> Graph:
    """The graph of ``wf``; nodes get the worst severity of the ``diagnostics`` inside them."""
    b = _Builder(wf, wf.name or "workflow")
    start = b.add(START, "start")
    b.ids[START] = start
    fan_ins = wf.fan_in_names()
    for node in wf.nodes:
        if not node.name or node.name in b.ids:
            continue
        kind, marker = _kind_of(wf, node, fan_ins)
        b.ids[node.name] = b.add(node.name, kind, node, marker)
        if node.type == "while_loop" and node.body:
            _add_body(b, node, b.ids[node.name])
    entry = wf.entry()
    if entry is not None:
        b.edge(start, b.ref(entry), "next")

    _clusters(b)
    b.graph.clusters.extend(b.bodies.values())
    for node in wf.nodes:
        if not node.name or b.ids.get(node.name) is None:
            continue
        _edges_of(b, node)
    if END in b.ids:  # keep __end__ last, whatever order it was first referred to in
        end = b.graph.node(b.ids[END])
        b.graph.nodes.remove(end)
        b.graph.nodes.append(end)
    _mark(b.graph, diagnostics)
    return b.graph


def _clusters(b: _Builder) -> None:
    wf = b.wf
    placed: set[str] = set()
    for k, fo in enumerate(wf.fan_outs):
        for j, branch in enumerate(fo.branches):
            if branch.name not in wf.by_name:
                continue
            names = branch_nodes(wf, fo, branch.name)
            members = [b.ids[n] for n in names if n in b.ids and n not in placed]
            if not members:
                continue
            placed.update(names)
            cluster = Cluster(f"c{k}_{j}", f"branch {branch.name}", "branch", members)
            b.graph.clusters.append(cluster)
            for m in members:
                b.graph.node(m).cluster = cluster.id


def _edges_of(b: _Builder, node: Node) -> None:
    wf = b.wf
    me = b.ids[node.name]
    if me in b.bodies:
        _loop_body(b, me)
    fo = wf.fan_out_from(node.name) if node.goto is None else None
    if fo is not None:
        for branch in fo.branches:
            b.edge(me, b.ref(branch.name), "parallel")
        if fo.fan_in is not None and not fo.branches:
            b.edge(me, b.ref(fo.fan_in.name), "join")
    if node.type == "dynamic_parallel" and node.dp_fan_in is not None:
        # The runner goes from a dynamic_parallel node to its fan-in, then routes from there.
        b.edge(me, b.ref(node.dp_fan_in.name), "join", "fan-in")
    else:
        rs = routes(wf, node.name)
        conditional = any(r.condition is not None for r in rs)
        for r in rs:
            label = ""
            if r.condition is not None:
                label = condition_text(r.condition)
                if r.edge is not None and r.edge.when is r.condition and r.edge.condition is None:
                    label = f"when {label}"
            elif conditional and r.kind == "goto":
                label = "else"
            kind: EdgeKind = "goto" if r.kind == "goto" else "edge" if r.kind == "edge" else "next"
            b.edge(me, b.ref(r.target), kind, label)
        if node.goto is None:
            for e in wf.edges_from(node.name):
                for t in e.cond_targets:
                    b.edge(me, b.ref(t.name), "edge")
    for h in node.handlers:
        if h.name in wf.by_name:
            b.edge(me, b.ref(h.name), "handler", "on error")


def _add_body(b: _Builder, node: Node, me: str) -> None:
    cluster = Cluster(f"l{len(b.bodies)}", f"loop {node.name}", "loop")
    for i, sub in enumerate(node.body):
        kind, marker = _kind_of(b.wf, sub, set())
        sub_id = b.add(sub.name or f"#{i + 1}", kind, sub, marker)
        b.graph.node(sub_id).cluster = cluster.id
        cluster.members.append(sub_id)
    b.bodies[me] = cluster


def _loop_body(b: _Builder, me: str) -> None:
    cluster = b.bodies[me]
    prev = me
    for sub_id in cluster.members:
        b.edge(prev, sub_id, "loop" if prev == me else "next", "body" if prev == me else "")
        prev = sub_id
    b.edge(prev, me, "repeat", "repeat")


def _mark(graph: Graph, diagnostics: Iterable[Diagnostic]) -> None:
    """Give each node the worst severity (error or warning) of the diagnostics inside it."""
    placed = [n for n in graph.nodes if n.extent is not None]
    rank = {Severity.ERROR: 2, Severity.WARNING: 1}
    for d in diagnostics:
        if d.severity not in rank:
            continue
        line, col = d.span.start_line, d.span.start_col
        best: GraphNode | None = None
        for n in placed:
            ext = n.extent
            assert ext is not None
            if ext.contains(line, col) and (best is None or _size(ext) < _size(best.extent)):
                best = n
        if best is None:
            continue
        if best.severity is None or rank[d.severity] > rank[best.severity]:
            best.severity = d.severity


def _size(span: Span | None) -> tuple[int, int]:
    if span is None:
        return (1 << 30, 0)
    return (span.end_line - span.start_line, span.end_col - span.start_col)
