"""Node names in a workflow: where they are written, what each node does in the graph.

Shared by hover, definition, references, rename and document symbols. Pure (no LSP types).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import yaml

from tea_lsp.analysis import Analysis
from tea_lsp.diagnostics import Span
from tea_lsp.model.routing import branch_nodes, routes
from tea_lsp.model.workflow import END, RESERVED, START, Node, Ref, Workflow
from tea_lsp.syntax.text import LineIndex
from tea_lsp.util import quote_list


@dataclass(frozen=True, slots=True)
class Occurrence:
    """A node name written in the file: ``span`` is the scalar as written (quotes included),
    ``inner`` the name's own characters; ``style`` the scalar's quoting."""

    name: str
    span: Span
    inner: Span
    style: str  # "", "'" or '"'
    definition: bool
    role: str


def workflow_at(analysis: Analysis, line: int) -> Workflow | None:
    """The workflow of the YAML document that contains ``line`` (most files have one)."""
    found: Workflow | None = None
    for wf in analysis.workflows:
        if wf is None:
            continue
        if wf.root.span.start_line <= line <= wf.root.span.end_line:
            return wf
        found = found or wf
    return found


def _written(lines: LineIndex, span: Span, name: str) -> tuple[Span, str] | None:
    """The span of the name's characters when the scalar is exactly ``name`` as written."""
    if span.start_line != span.end_line:
        return None
    text = lines.line(span.start_line)[span.start_col : span.end_col]
    if text == name:
        return span, ""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" and text[1:-1] == name:
        inner = Span(span.start_line, span.start_col + 1, span.end_line, span.end_col - 1)
        return inner, text[0]
    return None


def occurrences(wf: Workflow, lines: LineIndex) -> list[Occurrence]:
    """Every definition and reference of a node name whose text is written verbatim."""
    out: list[Occurrence] = []
    for node in wf.all_nodes():
        if not node.name:
            continue
        w = _written(lines, node.name_span, node.name)
        if w is not None:
            out.append(Occurrence(node.name, node.name_span, w[0], w[1], True, "name"))
    for ref in wf.refs():
        w = _written(lines, ref.span, ref.name)
        if w is not None:
            out.append(Occurrence(ref.name, ref.span, w[0], w[1], False, ref.role))
    for node in wf.all_nodes():
        for h in handlers(wf, node):
            if (w := _written(lines, h.span, h.name)) is not None:
                out.append(Occurrence(h.name, h.span, w[0], w[1], False, "handler"))
    out.sort(key=lambda o: (o.span.start_line, o.span.start_col))
    unique: dict[tuple[int, int], Occurrence] = {}
    for o in out:
        unique.setdefault((o.span.start_line, o.span.start_col), o)
    return list(unique.values())


def occurrence_at(wf: Workflow, lines: LineIndex, line: int, col: int) -> Occurrence | None:
    for o in occurrences(wf, lines):
        if o.span.contains(line, col):
            return o
    return None


def handlers(wf: Workflow, node: Node) -> list[Ref]:
    """``fallback`` / ``on_error`` values that name a node of the workflow."""
    refs: list[Ref] = getattr(node, "handlers", None) or []
    return [r for r in refs if r.name in wf.by_name]


def find_node(wf: Workflow, name: str) -> Node | None:
    if name in wf.by_name:
        return wf.by_name[name]
    for n in wf.all_nodes():
        if n.name == name:
            return n
    return None


# ---- roles and routes


def _cond(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def roles(wf: Workflow, node: Node) -> list[str]:
    """What the node does in the graph, most important first."""
    name = node.name
    out: list[str] = []
    if node.parent is not None:
        kind = "step" if node in node.parent.steps else "loop body node"
        out.append(f"{kind} of '{node.parent.name}'")
        return out
    if wf.entry() == name:
        out.append("entry")
    for fo in wf.fan_outs:
        branches = [b.name for b in fo.branches]
        join = fo.fan_in.name if fo.fan_in else None
        joins = f", joined at '{join}'" if join else ""
        if fo.source.name == name:
            out.append(f"fan-out to {quote_list(branches)}{joins}")
        if name in branches:
            out.append(f"branch of the fan-out from '{fo.source.name}'{joins}")
        else:
            for b in branches:
                if name in branch_nodes(wf, fo, b):
                    out.append(f"in branch '{b}' of the fan-out from '{fo.source.name}'")
                    break
        if join == name:
            out.append(f"fan-in of {quote_list(branches)} (fan-out from '{fo.source.name}')")
    if node.type == "dynamic_parallel":
        join = f", joined at '{node.dp_fan_in.name}'" if node.dp_fan_in else ""
        out.append(f"dynamic parallel over its items{join}")
    if node.type == "while_loop":
        limit = f" (at most {node.max_iterations} iterations)" if node.max_iterations else ""
        out.append(f"while loop{limit}")
    for other in wf.nodes:
        if other.dp_fan_in is not None and other.dp_fan_in.name == name:
            out.append(f"fan-in of the dynamic parallel node '{other.name}'")
    if node.fan_in and not any(r.startswith("fan-in") for r in out):
        out.append("fan-in (marked `fan_in: true`)")
    if any(r.target == END for r in routes(wf, name)):
        out.append("ends the run")
    return out or ["node"]


def _how(kind: str, condition: str | None) -> str:
    label = {"goto": "goto", "edge": "edge", "implicit": "next in the list"}.get(kind, kind)
    return f"{label} if `{_cond(condition)}`" if condition else label


def incoming(wf: Workflow, name: str) -> list[tuple[str, str]]:
    """``(source, how)`` for every way control reaches ``name``."""
    out: list[tuple[str, str]] = []
    if wf.entry() == name:
        out.append((START, "entry"))
    for other in wf.nodes:
        if not other.name:
            continue
        for r in routes(wf, other.name):
            if r.target == name:
                out.append((other.name, _how(r.kind, r.condition.text if r.condition else None)))
        if other.dp_fan_in is not None and other.dp_fan_in.name == name:
            out.append((other.name, "dynamic parallel join"))
        if any(h.name == name for h in handlers(wf, other)):
            out.append((other.name, "on failure"))
    for fo in wf.fan_outs:
        if name in [b.name for b in fo.branches]:
            out.append((fo.source.name, "parallel"))
        if fo.fan_in is not None and fo.fan_in.name == name:
            listed = {src for src, _ in out}
            out.extend((b.name, "branch joins") for b in fo.branches if b.name not in listed)
    return list(dict.fromkeys(out))


def outgoing(wf: Workflow, name: str) -> list[tuple[str, str]]:
    """``(target, how)`` for every way control leaves ``name``."""
    node = wf.by_name.get(name)
    out: list[tuple[str, str]] = []
    if node is None:
        return out
    fo = wf.fan_out_from(name) if node.goto is None else None
    if fo is not None:
        out.extend((b.name, "parallel") for b in fo.branches)
    out.extend(
        (r.target, _how(r.kind, r.condition.text if r.condition else None))
        for r in routes(wf, name)
    )
    if node.dp_fan_in is not None:
        out.append((node.dp_fan_in.name, "after all items"))
    out.extend((h.name, "on failure") for h in handlers(wf, node))
    return list(dict.fromkeys(out))


def code_of(node: Node) -> tuple[str, str] | None:
    """``(language, code)`` shown for a node: its ``run`` code, expression or action."""
    if node.code is not None:
        return (node.code.kind if node.code.kind != "other" else node.language), node.code.text
    if node.expression is not None:
        return "jinja", node.expression.text
    if node.uses:
        return "yaml", f"uses: {node.uses}"
    return None


# ---- writing names


_SAFE_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def render_name(name: str, style: str) -> str:
    """``name`` as a YAML scalar in the given quoting style (plain only when safe)."""
    if style == "'":
        return "'" + name.replace("'", "''") + "'"
    if style == '"':
        return json.dumps(name, ensure_ascii=False)
    if _SAFE_PLAIN.match(name) and _plain_roundtrips(name):
        return name
    return json.dumps(name, ensure_ascii=False)


def _plain_roundtrips(name: str) -> bool:
    try:
        return bool(yaml.safe_load(f"[{name}]") == [name])
    except yaml.YAMLError:
        return False


def rename_problem(wf: Workflow, old: str, new: str) -> str | None:
    """Why ``old`` cannot be renamed to ``new``, or ``None``."""
    if old in RESERVED:
        return f"'{old}' is reserved and cannot be renamed"
    if not new.strip() or new != new.strip():
        return "a node name must be non-empty, without leading or trailing spaces"
    if new in RESERVED:
        return f"'{new}' is reserved for the virtual entry and exit"
    if "\n" in new or "\r" in new:
        return "a node name must fit on one line"
    if new != old and find_node(wf, new) is not None:
        return f"a node named '{new}' already exists"
    return None
