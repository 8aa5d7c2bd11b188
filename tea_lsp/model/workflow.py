"""The typed ``Workflow``: nodes, edges, fan-outs and embedded snippets, each with spans."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tea_lsp.diagnostics import Span
from tea_lsp.syntax.yaml_tree import YMap, YScalar

START = "__start__"
END = "__end__"
RESERVED = (START, END)

SnippetKind = Literal["lua", "python", "prolog", "other", "jinja"]


@dataclass(slots=True)
class Ref:
    """A node name written somewhere in the file (a reference or a definition)."""

    name: str
    span: Span
    role: str  # "goto", "from", "to", "fan_in", "parallel", "targets", "handler", or the
    # name of an action argument that names a node (``correct`` of ``retry.loop``)


@dataclass(slots=True)
class Snippet:
    """Embedded code or template text, with the scalar it came from."""

    kind: SnippetKind
    text: str
    scalar: YScalar
    role: str  # "run", "condition", "with.<arg>", "output", "items", "expression"
    node: Node | None = None
    # For Jinja: a bare expression (condition) rather than a template.
    expression: bool = False


@dataclass(slots=True)
class GotoRule:
    target: Ref
    condition: Snippet | None  # None: unconditional (fallback)


@dataclass(slots=True)
class Node:
    name: str
    name_span: Span
    ymap: YMap
    index: int
    parent: Node | None = None
    language: str = "lua"  # "lua" | "python" | "prolog" | other explicit value
    language_explicit: bool = False
    code: Snippet | None = None  # run / script / run.code
    expression: Snippet | None = None  # run: {type: expression, value: ...}
    output_key: str | None = None
    uses: str | None = None
    uses_span: Span | None = None
    with_args: YMap | None = None
    goto: list[GotoRule] | None = None
    goto_span: Span | None = None
    fan_in: bool = False
    type: str | None = None
    steps: list[Node] = field(default_factory=list)
    body: list[Node] = field(default_factory=list)
    condition: Snippet | None = None
    max_iterations: int | None = None
    items: Snippet | None = None
    dp_fan_in: Ref | None = None
    item_var: str = "item"
    index_var: str = "index"
    has_interrupt: bool = False
    has_retry: bool = False
    # Strings of ``fallback`` / ``on_error`` that may name a node where upstream continues
    # when this node fails. Used for reachability only (never reported as unknown names).
    handlers: list[Ref] = field(default_factory=list)
    # Nodes the node's action runs by name (``retry.loop``'s ``correct``): checked like any
    # reference, and reached (as one call: their own routes are not followed from there).
    action_refs: list[Ref] = field(default_factory=list)
    # True when such an argument is a template: the node it runs is known only at run time.
    action_refs_dynamic: bool = False
    templates: list[Snippet] = field(default_factory=list)

    @property
    def is_lua(self) -> bool:
        return self.language == "lua"

    def top(self) -> Node:
        """The top-level node this (sub-)node belongs to; sub-nodes share its Lua VM."""
        node = self
        while node.parent is not None:
            node = node.parent
        return node

    def item_names(self) -> frozenset[str]:
        """The ``item_var`` / ``index_var`` of every ``dynamic_parallel`` node this sub-node
        runs inside (the names its code and templates see as state keys)."""
        out: set[str] = set()
        cur = self.parent
        while cur is not None:
            if cur.type == "dynamic_parallel":
                out.update((cur.item_var, cur.index_var))
            cur = cur.parent
        return frozenset(out)

    def walk(self) -> list[Node]:
        """This node and all its sub-nodes (steps, loop bodies)."""
        out = [self]
        if not self.steps and not self.body:
            return out
        for sub in (*self.steps, *self.body):
            out.extend(sub.walk())
        return out


@dataclass(slots=True)
class Edge:
    index: int
    ymap: YMap
    source: Ref | None
    targets: list[Ref]
    type: str = "normal"
    fan_in: Ref | None = None
    condition: Snippet | None = None
    when: Snippet | None = None
    when_value: Any = None
    parallel_flag: bool = False
    parallel_list: list[Ref] | None = None
    # ``targets:`` (a map from condition results to nodes, or a list): conditional routes.
    cond_targets: list[Ref] = field(default_factory=list)

    @property
    def is_parallel(self) -> bool:
        if self.parallel_list is not None:
            return True
        return self.type == "parallel" or (self.parallel_flag and len(self.targets) > 1)


@dataclass(slots=True)
class FanOut:
    """A static parallel fan-out: branches from ``source`` joined at ``fan_in``."""

    source: Ref
    branches: list[Ref]
    fan_in: Ref | None
    spelling: Literal["A", "C", "D"]
    edges: list[Edge]
    fan_in_explicit: bool = True

    def declared_fan_ins(self) -> list[Ref]:
        """Every ``fan_in`` written on this fan-out's edges, in order (spelling A has one per
        edge, so they may disagree; ``fan_in`` above keeps the first)."""
        return [e.fan_in for e in self.edges if e.fan_in is not None]


@dataclass(slots=True)
class Workflow:
    root: YMap
    name: str | None = None
    nodes: list[Node] = field(default_factory=list)
    by_name: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    fan_outs: list[FanOut] = field(default_factory=list)
    state_schema: dict[str, str] | None = None
    initial_state: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    # edges_from() index, rebuilt when ``edges`` is replaced or grows.
    _edge_index: tuple[tuple[int, int], dict[str, list[Edge]]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # position() index, rebuilt when ``nodes`` is replaced or grows.
    _positions: tuple[tuple[int, int], dict[int, int]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # routing.successors() per node name, kept once the model is complete (see
    # ``routes_memo``); dropped when ``nodes``, ``edges`` or ``fan_outs`` change.
    _successors: tuple[tuple[int, ...], dict[str, tuple[str, ...]]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # routing.reachable() from the entry (same lifetime as ``_successors``).
    _reach_entry: tuple[tuple[int, ...], str, list[str]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # all_nodes() of the complete model (same lifetime as ``_successors``).
    _all_nodes: tuple[tuple[int, ...], list[Node]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # fan_out_from() index, rebuilt when ``fan_outs`` is replaced or grows.
    _fan_out_index: tuple[tuple[int, int], dict[str, FanOut]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # values the checks derive from the complete model (``keep``; same lifetime as
    # ``_successors``)
    _kept: dict[str, tuple[tuple[int, ...], Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _shape(self) -> tuple[int, ...]:
        return (
            id(self.nodes),
            len(self.nodes),
            id(self.edges),
            len(self.edges),
            id(self.fan_outs),
            len(self.fan_outs),
        )

    def routes_memo(self) -> dict[str, tuple[str, ...]] | None:
        """The successors memo (``None`` while the model is being built or was changed)."""
        memo = self._successors
        if memo is None or memo[0] != self._shape():
            return None
        return memo[1]

    def freeze_routes(self) -> None:
        """The model is complete: routing may remember each node's successors."""
        shape = self._shape()
        self._successors = (shape, {})
        self._all_nodes = (shape, self._walk_nodes())

    def reached_from(self, start: str) -> list[str] | None:
        """``routing.reachable(self, start)`` as kept by ``keep_reached`` (else ``None``)."""
        kept = self._reach_entry
        if kept is None or kept[1] != start or kept[0] != self._shape():
            return None
        return list(kept[2])

    def keep_reached(self, start: str, names: list[str]) -> None:
        """Keep the nodes reachable from ``start`` (the entry) once the model is complete."""
        if self.routes_memo() is not None:
            self._reach_entry = (self._shape(), start, list(names))

    def kept(self, key: str) -> Any:
        """The value ``keep`` kept under ``key`` (``None``: none, or the model changed)."""
        found = self._kept.get(key)
        if found is None or found[0] != self._shape() or self.routes_memo() is None:
            return None
        return found[1]

    def keep(self, key: str, value: Any) -> None:
        """Keep a value derived from the complete model (several checks ask for it)."""
        if self.routes_memo() is not None:
            self._kept[key] = (self._shape(), value)

    def all_nodes(self) -> list[Node]:
        """Every node: top-level ones, each followed by its sub-nodes (steps, loop bodies).

        Kept once the model is complete (the checks ask for it some twenty times)."""
        memo = self._all_nodes
        if memo is not None and memo[0] == self._shape():
            return list(memo[1])
        return self._walk_nodes()

    def _walk_nodes(self) -> list[Node]:
        out: list[Node] = []
        for n in self.nodes:
            if n.steps or n.body:
                out.extend(n.walk())
            else:
                out.append(n)
        return out

    def snippets(self) -> list[Snippet]:
        """Every embedded snippet (code and templates) in file order."""
        out: list[Snippet] = []
        add, extend = out.append, out.extend
        for n in self.all_nodes():
            if n.code is not None:
                add(n.code)
            if n.expression is not None:
                add(n.expression)
            if n.condition is not None:
                add(n.condition)
            if n.items is not None:
                add(n.items)
            if n.goto:
                extend(r.condition for r in n.goto if r.condition is not None)
            if n.templates:
                extend(n.templates)
        for e in self.edges:
            out.extend(s for s in (e.condition, e.when) if s is not None)
        out.sort(key=lambda s: s.scalar.start)
        return out

    def position(self, node: Node) -> int:
        """Index of a top-level ``node`` in ``nodes`` (by identity), or -1."""
        key = (id(self.nodes), len(self.nodes))
        if self._positions is None or self._positions[0] != key:
            self._positions = (key, {id(n): i for i, n in enumerate(self.nodes)})
        return self._positions[1].get(id(node), -1)

    def fan_in_names(self) -> set[str]:
        """Nodes that receive ``parallel_results``: marked ``fan_in: true`` or joining a fan-out."""
        kept: frozenset[str] | None = self.kept("fan_in_names")
        if kept is not None:
            return set(kept)
        every = self.all_nodes()
        names = {n.name for n in every if n.fan_in}
        names.update(fo.fan_in.name for fo in self.fan_outs if fo.fan_in is not None)
        names.update(n.dp_fan_in.name for n in every if n.dp_fan_in is not None)
        self.keep("fan_in_names", frozenset(names))
        return names

    def edges_from(self, name: str) -> list[Edge]:
        key = (id(self.edges), len(self.edges))
        if self._edge_index is None or self._edge_index[0] != key:
            index: dict[str, list[Edge]] = {}
            for e in self.edges:
                if e.source is not None:
                    index.setdefault(e.source.name, []).append(e)
            self._edge_index = (key, index)
        return list(self._edge_index[1].get(name, ()))

    def fan_out_from(self, name: str) -> FanOut | None:
        """The first fan-out whose source is ``name``."""
        key = (id(self.fan_outs), len(self.fan_outs))
        if self._fan_out_index is None or self._fan_out_index[0] != key:
            index: dict[str, FanOut] = {}
            for f in self.fan_outs:
                index.setdefault(f.source.name, f)
            self._fan_out_index = (key, index)
        return self._fan_out_index[1].get(name)

    def entry(self) -> str | None:
        for e in self.edges:
            if e.source is not None and e.source.name == START and e.targets:
                return e.targets[0].name
        return self.nodes[0].name if self.nodes else None

    def refs(self) -> list[Ref]:
        """Every node-name reference (not definitions)."""
        out: list[Ref] = []
        for n in self.all_nodes():
            if n.goto:
                out.extend(r.target for r in n.goto)
            if n.dp_fan_in:
                out.append(n.dp_fan_in)
            out.extend(n.action_refs)
        for e in self.edges:
            if e.source:
                out.append(e.source)
            out.extend(e.targets)
            out.extend(e.cond_targets)
            if e.fan_in:
                out.append(e.fan_in)
            if e.parallel_list:
                out.extend(e.parallel_list)
        return out
