"""Build a ``Workflow`` from a YAML document. Lenient: never raises on user input.

Anything of the wrong shape is skipped here; the schema check reports it.
"""

from __future__ import annotations

from typing import Any

from tea_lsp.catalog import catalog
from tea_lsp.model.routing import resolve_fan_ins
from tea_lsp.model.workflow import (
    END,
    START,
    Edge,
    FanOut,
    GotoRule,
    Node,
    Ref,
    Snippet,
    Workflow,
)
from tea_lsp.syntax.yaml_tree import YMap, YNode, YScalar, YSeq, to_python

_LANGS = ("lua", "python", "prolog")
# Keys read before the rest of a node's keys (most nodes of a large file have no other).
_PLAIN_KEYS = frozenset(
    ("name", "language", "run", "script", "uses", "action", "with", "output", "output_key")
)


def _str(node: YNode | None) -> YScalar | None:
    if isinstance(node, YScalar) and isinstance(node.value, str):
        return node
    return None


def _ref(node: YNode | None, role: str) -> Ref | None:
    s = _str(node)
    return Ref(s.value, s.span, role) if s is not None else None


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def _collect_templates(node: YNode | None, role: str, owner: Node, out: list[Snippet]) -> None:
    if isinstance(node, YScalar):
        if isinstance(node.value, str) and _is_template(node.value):
            out.append(Snippet("jinja", node.value, node, role, owner))
    elif isinstance(node, YSeq):
        for i, item in enumerate(node.items):
            _collect_templates(item, f"{role}[{i}]", owner, out)
    elif isinstance(node, YMap):
        for p in node.pairs:
            v = p.value
            if type(v) is YScalar:  # the common case inline: the role is made only if needed
                text = v.value
                if isinstance(text, str) and ("{{" in text or "{%" in text):
                    out.append(Snippet("jinja", text, v, f"{role}.{p.key_text}", owner))
            else:
                _collect_templates(v, f"{role}.{p.key_text}", owner, out)


def _condition(node: YNode | None, role: str, owner: Node | None) -> Snippet | None:
    s = _str(node)
    if s is None:
        return None
    return Snippet("jinja", s.value, s, role, owner, expression=True)


def _build_node(ymap: YMap, index: int, parent: Node | None) -> Node:
    values = ymap.values_by_key()
    get = values.get
    # ``_str`` inline for the keys most nodes have (a large file has tens of thousands)
    name_node = get("name")
    if type(name_node) is YScalar and isinstance(name_node.value, str):
        node = Node(name_node.value, name_node.span, ymap, index, parent)
    else:
        node = Node("", (ymap.key_node("name") or ymap).span, ymap, index, parent)
    lang = get("language")
    if type(lang) is YScalar and isinstance(lang.value, str):
        node.language = lang.value.strip().lower()
        node.language_explicit = True

    run = get("run")
    if run is None:
        run = get("script")
    if isinstance(run, YMap):
        rtype = _str(run.get("type"))
        kind = rtype.value.strip().lower() if rtype else ""
        if kind == "expression":
            value = _str(run.get("value"))
            if value is not None:
                node.expression = Snippet("python", value.value, value, "expression", node, True)
            key = _str(run.get("output_key"))
            node.output_key = key.value if key else None
        else:
            if kind:
                node.language = kind
                node.language_explicit = True
            code = _str(run.get("code"))
            if code is not None:
                node.code = Snippet(_kind(node.language), code.value, code, "run", node)
    elif type(run) is YScalar and isinstance(run.value, str):
        language = node.language
        code_kind: Any = language if language in _LANGS else "other"  # ``_kind`` inline
        node.code = Snippet(code_kind, run.value, run, "run", node)

    uses = get("uses")
    if type(uses) is not YScalar or not isinstance(uses.value, str):
        uses = _str(get("action"))
    if uses is not None:
        node.uses = uses.value
        node.uses_span = uses.span
    with_args = get("with")
    if isinstance(with_args, YMap):
        node.with_args = with_args
        _collect_templates(with_args, "with", node, node.templates)
        if node.uses is not None:
            _action_refs(node, with_args)
    out = get("output")
    if out is None:
        out = get("output_key")
    if isinstance(out, YScalar) and isinstance(out.value, str):
        if _is_template(out.value):
            node.templates.append(Snippet("jinja", out.value, out, "output", node))
        else:
            node.output_key = out.value
    elif isinstance(out, YMap | YSeq):
        _collect_templates(out, "output", node, node.templates)

    if values.keys() <= _PLAIN_KEYS:
        return node  # none of the keys below: what they would set keeps its default
    goto = get("goto")
    if goto is not None:
        node.goto_span = goto.span
        target = _ref(goto, "goto")
        if target is not None:
            node.goto = [GotoRule(target, None)]
        elif isinstance(goto, YSeq):
            rules: list[GotoRule] = []
            for item in goto.items:
                if not isinstance(item, YMap):
                    continue
                to = _ref(item.get("to"), "goto")
                if to is None:
                    continue
                rules.append(GotoRule(to, _condition(item.get("if"), "condition", node)))
            node.goto = rules

    fan_in = get("fan_in")
    ntype = _str(get("type"))
    node.type = ntype.value if ntype else None
    if isinstance(fan_in, YScalar) and fan_in.value is True:
        node.fan_in = True
    elif node.type == "dynamic_parallel":
        node.dp_fan_in = _ref(fan_in, "fan_in")

    node.has_interrupt = "interrupt" in values
    node.has_retry = "retry" in values
    for handler_key in ("fallback", "on_error"):
        if handler_key not in values:
            continue  # _ref(None) is None: nothing to add
        handler = values[handler_key]
        handlers = [p.value for p in handler.pairs] if isinstance(handler, YMap) else [handler]
        node.handlers.extend(r for r in (_ref(v, "handler") for v in handlers) if r is not None)

    for sub_key, target_list in (("steps", node.steps), ("body", node.body)):
        seq = get(sub_key)
        if isinstance(seq, YSeq):
            for i, item in enumerate(seq.items):
                if isinstance(item, YMap):
                    sub = _build_node(item, i, node)
                    if sub_key == "steps" and "name" not in item:
                        sub.name = f"step_{i}"  # as TEA names an unnamed step
                    target_list.append(sub)
    if node.type == "while_loop":
        node.condition = _condition(get("condition"), "condition", node)
        mi = get("max_iterations")
        if isinstance(mi, YScalar) and isinstance(mi.value, int) and not isinstance(mi.value, bool):
            node.max_iterations = mi.value
    if node.type == "dynamic_parallel":
        items = _str(get("items"))
        if items is not None:
            node.items = Snippet("jinja", items.value, items, "items", node, True)
        iv, ix = _str(get("item_var")), _str(get("index_var"))
        node.item_var = iv.value if iv else "item"
        node.index_var = ix.value if ix else "index"
    return node


def _action_refs(node: Node, with_args: YMap) -> None:
    """Arguments of the node's action that name a node to run (from the action catalogue)."""
    assert node.uses is not None
    for arg in catalog().node_arguments(node.uses):
        value = with_args.get(arg)
        if value is None:
            continue
        ref = _ref(value, arg)
        if ref is None or _is_template(ref.name):
            node.action_refs_dynamic = True
        elif ref.name:
            node.action_refs.append(ref)


def _kind(language: str) -> Any:
    return language if language in _LANGS else "other"


def _build_edge(ymap: YMap, index: int) -> Edge:
    edge = Edge(index=index, ymap=ymap, source=_ref(ymap.get("from"), "from"), targets=[])
    to = ymap.get("to")
    if isinstance(to, YSeq):
        edge.targets = [r for r in (_ref(i, "to") for i in to.items) if r is not None]
    else:
        r = _ref(to, "to")
        if r is not None:
            edge.targets = [r]
    etype = _str(ymap.get("type"))
    edge.type = etype.value if etype else "normal"
    # ``type: entry`` means ``from: __start__``; ``type: finish`` means ``to: __end__``.
    if etype is not None and edge.type == "entry" and edge.source is None:
        edge.source = Ref(START, etype.span, "from")
    if etype is not None and edge.type == "finish" and not edge.targets and "to" not in ymap:
        edge.targets = [Ref(END, etype.span, "to")]
    targets = ymap.get("targets")
    if isinstance(targets, YMap):
        edge.cond_targets = [r for r in (_ref(p.value, "targets") for p in targets.pairs) if r]
    elif isinstance(targets, YSeq):
        edge.cond_targets = [r for r in (_ref(i, "targets") for i in targets.items) if r]
    edge.fan_in = _ref(ymap.get("fan_in"), "fan_in")
    edge.condition = _condition(ymap.get("condition"), "condition", None)
    when = ymap.get("when")
    edge.when = _condition(when, "when", None)
    if isinstance(when, YScalar):
        edge.when_value = when.value
    parallel = ymap.get("parallel")
    if isinstance(parallel, YScalar):
        edge.parallel_flag = parallel.value is True
    elif isinstance(parallel, YSeq):
        edge.parallel_list = [r for r in (_ref(i, "parallel") for i in parallel.items) if r]
    return edge


def _fan_outs(edges: list[Edge]) -> list[FanOut]:
    """Group parallel edges by source, in declaration order, for the three spellings."""
    out: list[FanOut] = []
    by_source: dict[str, FanOut] = {}
    for e in edges:
        if e.source is None:
            continue
        if e.parallel_list is not None:
            out.append(
                FanOut(e.source, list(e.parallel_list), e.fan_in, "D", [e], e.fan_in is not None)
            )
            continue
        if e.type == "parallel" and len(e.targets) == 1:
            f = by_source.get(e.source.name)
            if f is None or f.spelling != "A":
                f = FanOut(e.source, [], e.fan_in, "A", [])
                by_source[e.source.name] = f
                out.append(f)
            f.branches.extend(e.targets)
            f.edges.append(e)
            if f.fan_in is None:
                f.fan_in = e.fan_in
            continue
        if (e.parallel_flag or e.type == "parallel") and len(e.targets) > 1:
            out.append(FanOut(e.source, list(e.targets), e.fan_in, "C", [e]))
    return out


def build_workflow(root: YNode | None) -> Workflow | None:
    """The workflow in ``root``, or ``None`` when the document is not a mapping."""
    if not isinstance(root, YMap):
        return None
    wf = Workflow(root=root)
    name = _str(root.get("name"))
    wf.name = name.value if name else None
    nodes = root.get("nodes")
    if isinstance(nodes, YSeq):
        add, by_name = wf.nodes.append, wf.by_name
        for i, item in enumerate(nodes.items):
            if isinstance(item, YMap):
                node = _build_node(item, i, None)
                add(node)
                node_name = node.name
                if node_name and node_name not in by_name:
                    by_name[node_name] = node
    edges = root.get("edges")
    if isinstance(edges, YSeq):
        wf.edges = [_build_edge(e, i) for i, e in enumerate(edges.items) if isinstance(e, YMap)]
    wf.fan_outs = _fan_outs(wf.edges)
    schema = root.get("state_schema")
    if isinstance(schema, YMap):
        wf.state_schema = {
            p.key_text: str(to_python(p.value)) for p in schema.pairs if p.key_text is not None
        }
    for key in ("initial_state", "variables", "settings"):
        value = to_python(root.get(key))
        if isinstance(value, dict):
            setattr(wf, key, value)
    resolve_fan_ins(wf)
    wf.freeze_routes()
    return wf
