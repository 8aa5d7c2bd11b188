"""Text renderings of a :class:`~tea_lsp.graph.build.Graph`: Graphviz DOT and Mermaid.

Both are generated here, deterministically (golden files compare them byte for byte). Labels
are escaped for each language: quotes, backslashes, newlines, and Mermaid's own specials
(``#``, ``<``, ``>``, ``|``, backticks...). Nodes with an error are outlined red, with a
warning amber; a run's outcome (``ok``, ``failed``, ``timeout``, ``not_run``) fills them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tea_lsp.diagnostics import Severity
from tea_lsp.graph.build import Cluster, Graph, GraphEdge, GraphNode

OUTCOMES = ("ok", "failed", "timeout", "not_run")

ERROR_COLOR = "#d32f2f"
WARNING_COLOR = "#f9a825"
PARALLEL_COLOR = "#1565c0"
FILL = {
    "ok": "#c8e6c9",
    "failed": "#ffcdd2",
    "timeout": "#ffe0b2",
    "not_run": "#eeeeee",
}


@dataclass(frozen=True, slots=True)
class Status:
    """How a node ended in a run, and a short text shown under its name (e.g. ``12 ms``)."""

    outcome: str  # one of OUTCOMES
    note: str = ""


def _lines(node: GraphNode, status: Status | None) -> list[str]:
    out = [node.name]
    if node.marker:
        out.append(node.marker)
    if node.kind == "missing":
        out.append("(no such node)")
    if status is not None and status.note:
        out.append(status.note)
    return out


# ---- DOT


def dot_string(text: str) -> str:
    """``text`` as a DOT double-quoted string (``\\n`` for newlines)."""
    body = text.replace("\\", "\\\\").replace('"', '\\"')
    body = body.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{body}"'


# kind -> (shape, styles, other attributes)
_DOT_SHAPES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "start": ("oval", ("filled",), 'fillcolor="#424242", fontcolor="white"'),
    "end": ("oval", ("filled",), 'fillcolor="#424242", fontcolor="white"'),
    "node": ("box", ("rounded",), ""),
    "fan_in": ("box", ("rounded",), "peripheries=2"),
    "dynamic": ("box3d", (), ""),
    "loop": ("hexagon", (), ""),
    "steps": ("box", ("rounded",), ""),
    "missing": ("box", ("dashed",), ""),
}

_DOT_EDGES = {
    "next": "",
    "goto": "",
    "edge": "",
    "parallel": f'style=bold, color="{PARALLEL_COLOR}"',
    "join": f'style=bold, color="{PARALLEL_COLOR}"',
    "loop": "",
    "repeat": "style=dashed, constraint=false",
    "handler": 'style=dotted, color="#6d4c41"',
}


def _dot_node(node: GraphNode, status: Status | None) -> str:
    shape, styles, extra = _DOT_SHAPES[node.kind]
    attrs = [f"label={dot_string(chr(10).join(_lines(node, status)))}", f"shape={shape}"]
    if status is not None and node.kind not in ("start", "end"):
        styles = (*styles, "filled")
        extra = f'fillcolor="{FILL.get(status.outcome, FILL["not_run"])}"'
        extra += f', class="outcome-{status.outcome}"'
    if styles:
        attrs.append(f'style="{",".join(styles)}"')
    if extra:
        attrs.append(extra)
    if node.kind == "missing" or node.severity == Severity.ERROR:
        attrs.append(f'color="{ERROR_COLOR}", penwidth=2.5')
    elif node.severity == Severity.WARNING:
        attrs.append(f'color="{WARNING_COLOR}", penwidth=2')
    attrs.append(f"id={dot_string('tea-' + node.id)}")
    attrs.append(f"tooltip={dot_string(node.name)}")
    return f"{node.id} [{', '.join(attrs)}];"


def _dot_edge(edge: GraphEdge) -> str:
    attrs = [a for a in (_DOT_EDGES[edge.kind],) if a]
    if edge.label:
        attrs.insert(0, f"label={dot_string(edge.label)}")
    tail = f" [{', '.join(attrs)}]" if attrs else ""
    return f"{edge.source} -> {edge.target}{tail};"


def _dot_cluster(cluster: Cluster, nodes: list[str], indent: str) -> list[str]:
    style = "rounded,dashed" if cluster.kind == "branch" else "rounded"
    color = "#90a4ae" if cluster.kind == "branch" else "#b0bec5"
    out = [f"{indent}subgraph cluster_{cluster.id} {{"]
    out.append(f'{indent}  label={dot_string(cluster.label)}; style="{style}"; color="{color}";')
    out.extend(f"{indent}  {line}" for line in nodes)
    out.append(f"{indent}}}")
    return out


def to_dot(graph: Graph, statuses: Mapping[str, Status] | None = None) -> str:
    """The graph as Graphviz DOT (``statuses``: by node name, for a run's outcome)."""
    st = statuses or {}
    out = [f"digraph {dot_string(graph.name)} {{"]
    out.append('  graph [rankdir=TB, fontname="Helvetica", fontsize=11, nodesep=0.35];')
    out.append('  node [fontname="Helvetica", fontsize=11];')
    out.append('  edge [fontname="Helvetica", fontsize=9];')
    by_cluster: dict[str, list[str]] = {}
    for n in graph.nodes:
        line = _dot_node(n, st.get(n.name))
        if n.cluster is not None:
            by_cluster.setdefault(n.cluster, []).append(line)
        else:
            out.append(f"  {line}")
    for c in graph.clusters:
        out.extend(_dot_cluster(c, by_cluster.get(c.id, []), "  "))
    out.extend(f"  {_dot_edge(e)}" for e in graph.edges)
    out.append("}")
    return "\n".join(out) + "\n"


# ---- Mermaid

_MERMAID_ENTITIES = {
    "&": "#amp;",
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "|": "#124;",
    "`": "#96;",
    "\\": "#92;",
}


_MERMAID_TABLE = str.maketrans({**_MERMAID_ENTITIES, "\n": "<br/>"})


def mermaid_text(text: str) -> str:
    """``text`` inside a Mermaid quoted label: entity codes for specials, ``<br/>`` for newlines."""
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_MERMAID_TABLE)


_MERMAID_SHAPES = {
    "start": ('(["', '"])'),
    "end": ('(["', '"])'),
    "node": ('("', '")'),
    "fan_in": ('[["', '"]]'),
    "dynamic": ('[/"', '"/]'),
    "loop": ('{{"', '"}}'),
    "steps": ('("', '")'),
    "missing": ('["', '"]'),
}

_MERMAID_ARROWS = {
    "next": "-->",
    "goto": "-->",
    "edge": "-->",
    "parallel": "==>",
    "join": "==>",
    "loop": "-->",
    "repeat": "-.->",
    "handler": "-.->",
}


def _mermaid_node(node: GraphNode, status: Status | None) -> str:
    left, right = _MERMAID_SHAPES[node.kind]
    return f"{node.id}{left}{mermaid_text(chr(10).join(_lines(node, status)))}{right}"


def to_mermaid(graph: Graph, statuses: Mapping[str, Status] | None = None) -> str:
    """The graph as a Mermaid flowchart (``statuses``: by node name, for a run's outcome)."""
    st = statuses or {}
    out = ["flowchart TD"]
    by_cluster: dict[str, list[str]] = {}
    for n in graph.nodes:
        line = _mermaid_node(n, st.get(n.name))
        if n.cluster is not None:
            by_cluster.setdefault(n.cluster, []).append(line)
        else:
            out.append(f"  {line}")
    for c in graph.clusters:
        out.append(f'  subgraph {c.id}["{mermaid_text(c.label)}"]')
        out.extend(f"    {line}" for line in by_cluster.get(c.id, []))
        out.append("  end")
    for e in graph.edges:
        arrow = _MERMAID_ARROWS[e.kind]
        label = f'|"{mermaid_text(e.label)}"|' if e.label else ""
        out.append(f"  {e.source} {arrow}{label} {e.target}")
    classes: dict[str, list[str]] = {}
    for n in graph.nodes:
        if n.kind in ("start", "end"):
            classes.setdefault("terminal", []).append(n.id)
            continue
        status = st.get(n.name)
        if status is not None:
            classes.setdefault(status.outcome if status.outcome in FILL else "not_run", []).append(
                n.id
            )
        if n.kind == "missing" or n.severity == Severity.ERROR:
            classes.setdefault("error", []).append(n.id)
        elif n.severity == Severity.WARNING:
            classes.setdefault("warning", []).append(n.id)
    defs = {
        "terminal": "fill:#424242,color:#fff,stroke:#424242",
        "ok": f"fill:{FILL['ok']}",
        "failed": f"fill:{FILL['failed']}",
        "timeout": f"fill:{FILL['timeout']}",
        "not_run": f"fill:{FILL['not_run']}",
        "error": f"stroke:{ERROR_COLOR},stroke-width:3px",
        "warning": f"stroke:{WARNING_COLOR},stroke-width:2px",
    }
    for name, style in defs.items():
        if name in classes:
            out.append(f"  classDef {name} {style}")
            out.append(f"  class {','.join(classes[name])} {name}")
    return "\n".join(out) + "\n"
