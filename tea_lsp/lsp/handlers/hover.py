"""Hover: node roles and routes, key docs from the schema, action docs, rule docs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from tea_lsp import codes
from tea_lsp.analysis import Analysis
from tea_lsp.catalog import ArgumentSchema, catalog
from tea_lsp.diagnostics import Span
from tea_lsp.engine.actions import default_registry
from tea_lsp.lsp import convert, outline, schema_nav
from tea_lsp.lsp.locate import tree_at
from tea_lsp.model.workflow import END, START, Workflow
from tea_lsp.syntax.yaml_tree import YMap, YNode, YScalar
from tea_lsp.util import did_you_mean

if TYPE_CHECKING:
    from tea_lsp.lsp.server import TeaLanguageServer

_CODE = re.compile(r"TEA\d{3}", re.IGNORECASE)
_MAX_CODE_LINES = 30


def _code_at(line_text: str, col: int) -> tuple[str, int, int] | None:
    for m in _CODE.finditer(line_text):
        if m.start() <= col <= m.end():
            return m.group().upper(), m.start(), m.end()
    return None


def node_markdown(wf: Workflow, name: str) -> str:
    if name == END:
        return "**`__end__`** — the virtual exit: the run ends here."
    if name == START:
        return "**`__start__`** — the virtual entry: its edge names the first node."
    node = outline.find_node(wf, name)
    if node is None:
        names = [n.name for n in wf.all_nodes() if n.name]
        return f"**unknown node `{name}`**{did_you_mean(name, names)}"
    parts = [f"**node `{name}`** — {' · '.join(outline.roles(wf, node))}"]
    if node.parent is None:
        inc = outline.incoming(wf, name)
        out = outline.outgoing(wf, name)
        if inc:
            parts.append("**incoming:** " + " · ".join(f"`{s}` ({how})" for s, how in inc))
        if out:
            parts.append("**outgoing:** " + " · ".join(f"`{t}` ({how})" for t, how in out))
    code = outline.code_of(node)
    if code is not None:
        lang, text = code
        lines = text.rstrip("\n").split("\n")
        if len(lines) > _MAX_CODE_LINES:
            lines = [*lines[:_MAX_CODE_LINES], "..."]
        body = "\n".join(lines)
        fence = "````" if "```" in body else "```"
        parts.append(f"{fence}{lang}\n{body}\n{fence}")
    return "\n\n".join(parts)


def _action_doc(name: str) -> tuple[str, Mapping[str, Any], set[str], str] | None:
    """Summary, argument schemas, required arguments and who runs it (runner first)."""
    spec = default_registry().get(name)
    if spec is not None:
        return spec.summary, spec.properties, set(spec.required), ""
    entry = catalog().get(name)
    if entry is None:
        return None
    args = ArgumentSchema(name, entry.schema or {})
    return (
        entry.summary,
        args.properties,
        set(args.required),
        f"Not run by the tea-lsp runner: {entry.providers_text()}.",
    )


def action_markdown(name: str) -> str | None:
    found = _action_doc(name)
    if found is None:
        return None
    summary, properties, required, note = found
    parts = [f"**action `{name}`**" + (f" — {summary}" if summary else "")]
    if note:
        parts.append(note)
    args = []
    for arg, schema in properties.items():
        desc = schema.get("description", "") if hasattr(schema, "get") else ""
        typ = schema.get("type", "") if hasattr(schema, "get") else ""
        flag = " (required)" if arg in required else ""
        args.append(f"- `{arg}`{f': {typ}' if typ else ''}{flag}{f' — {desc}' if desc else ''}")
    if args:
        parts.append("**with:**\n" + "\n".join(args))
    return "\n\n".join(parts)


def _action_arg_markdown(uses: str, arg: str) -> str | None:
    found = _action_doc(uses)
    if found is None:
        return None
    _, properties, required, _ = found
    schema = properties.get(arg)
    if not isinstance(schema, Mapping):
        return None
    desc = schema.get("description", "")
    typ = schema.get("type", "")
    flag = " (required)" if arg in required else ""
    head = f"**`{arg}`**{f': {typ}' if typ else ''}{flag} — argument of `{uses}`"
    return head + (f"\n\n{desc}" if desc else "")


def _doc_root(analysis: Analysis, line: int) -> YNode | None:
    for doc in analysis.parsed.documents:
        root = doc.root
        if root is not None and root.span.start_line <= line <= root.span.end_line:
            return root
    return None


def hover_at(analysis: Analysis, line: int, col: int) -> tuple[str, Span] | None:
    """Markdown and the span it describes, for the position ``(line, col)``."""
    text = analysis.lines.line(line)
    found = _code_at(text, col)
    if found is not None and found[0] in codes.REGISTRY:
        return codes.REGISTRY[found[0]].explain(), Span(line, found[1], line, found[2])
    wf = outline.workflow_at(analysis, line)
    if wf is not None:
        occ = outline.occurrence_at(wf, analysis.lines, line, col)
        if occ is not None:
            return node_markdown(wf, occ.name), occ.inner
    hit = tree_at(_doc_root(analysis, line), line, col)
    if hit is None:
        return None
    if hit.on_key and hit.path:
        key = str(hit.path[-1])
        owner = hit.parents[-2] if len(hit.parents) >= 2 else None
        if len(hit.path) >= 2 and hit.path[-2] == "with" and isinstance(owner, YMap):
            uses = owner.get("uses") or owner.get("action")
            if isinstance(uses, YScalar) and isinstance(uses.value, str):
                md = _action_arg_markdown(uses.value, key)
                if md is not None:
                    return md, hit.node.span
        doc = schema_nav.key_doc(hit.path)
        if doc is None:
            return None
        link = f"[format reference]({codes.FORMAT_URL})"
        return f"**`{key}`**\n\n{doc}\n\n{link}", hit.node.span
    if (
        not hit.on_key
        and hit.pair is not None
        and hit.pair.key_text in ("uses", "action")
        and isinstance(hit.node, YScalar)
        and isinstance(hit.node.value, str)
    ):
        md = action_markdown(hit.node.value)
        if md is not None:
            return md, hit.node.span
    return None


def rules_markdown(analysis: Analysis, line: int, col: int) -> str | None:
    """One line per rule whose diagnostic covers the position: its summary and docs link."""
    seen: dict[str, None] = {}
    for d in analysis.diagnostics:
        if d.span.contains(line, col):
            seen.setdefault(d.code)
    parts = []
    for code in seen:
        info = codes.REGISTRY.get(code)
        if info is not None:
            parts.append(f"`{code}` {info.slug}: {info.summary} [docs]({info.url})")
    return "\n\n".join(parts) if parts else None


def hover_with_rules(analysis: Analysis, line: int, col: int) -> tuple[str, Span | None] | None:
    """The hover of a position, followed by the rules of the diagnostics under it."""
    found = hover_at(analysis, line, col)
    rules = rules_markdown(analysis, line, col)
    if found is None:
        return (rules, None) if rules else None
    md, span = found
    if rules and not md.startswith("# TEA"):
        md = f"{md}\n\n---\n\n{rules}"
    return md, span


def register(server: TeaLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(params: types.HoverParams) -> types.Hover | None:
        got = await server.analysis(params.text_document.uri)
        if got is None:
            return None
        _, analysis = got
        lines = analysis.lines
        line, col = convert.from_position(lines, params.position, server.encoding)
        found = hover_with_rules(analysis, line, col)
        if found is None:
            return None
        md, span = found
        td = server.caps.text_document
        formats = td.hover.content_format if td and td.hover else None
        kind = (
            types.MarkupKind.Markdown
            if server.markdown_supported(formats)
            else types.MarkupKind.PlainText
        )
        return types.Hover(
            contents=types.MarkupContent(kind=kind, value=md),
            range=convert.to_range(lines, span, server.encoding) if span else None,
        )
