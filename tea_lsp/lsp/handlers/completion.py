"""Completion: schema keys for the cursor's mapping, enum values, node names after
``goto:``/``to:``/``from:``/``fan_in:`` and in ``parallel: [..]``, action names after ``uses:``
and their ``with:`` arguments, state keys after ``state.`` in Lua and templates.

Completion reads the document's current text line by line (it is usually mid-edit and does not
parse); the last analysis supplies node names and state keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from tea_lsp.catalog import ArgumentSchema, catalog
from tea_lsp.engine.actions import default_registry
from tea_lsp.lsp import convert, outline, schema_nav
from tea_lsp.lsp.convert import Lines
from tea_lsp.lsp.locate import key_context, key_of, sibling_keys
from tea_lsp.model.workflow import END, START, Workflow

if TYPE_CHECKING:
    from tea_lsp.lsp.server import TeaLanguageServer

TRIGGERS = [".", ":", " ", "[", ","]

_WORD = r"[A-Za-z0-9_.\-]*"
# ``goto: x`` / ``{from: a, to: x`` / ``to: [a, x`` / ``parallel: [a, x``
_NODE_VALUE = re.compile(
    r"(?:^|[\s{,\[-])(goto|to|from|fan_in|fallback|parallel)\s*:\s*"
    r"(?:\[(?:[^\]\[{}]*,)?\s*)?[\"']?(" + _WORD + r")$"
)
_ACTION_VALUE = re.compile(r"(?:^|[\s{,-])(uses|action)\s*:\s*[\"']?(" + _WORD + r")$")
_SCALAR_VALUE = re.compile(r"^(\s*)(?:(-)(\s+))?([A-Za-z_][\w\-]*)\s*:\s+[\"']?(" + _WORD + r")$")
_KEY_LINE = re.compile(r"^(\s*)(?:(-)(\s+))?(" + r"[A-Za-z_][\w\-]*|" + r")$")
_LIST_ITEM = re.compile(r"^(\s*)-\s+[\"']?(" + _WORD + r")$")
_STATE = re.compile(r"\b(state|variables)\.(\w*)$")
_LUA_RETURN_KEYS = re.compile(r"(?:[{,]\s*)([A-Za-z_]\w*)\s*=(?!=)")


@dataclass(slots=True)
class Item:
    label: str
    kind: types.CompletionItemKind
    detail: str | None = None
    doc: str | None = None
    insert: str | None = None
    sort: str | None = None


# ---- sources


def node_items(wf: Workflow | None, key: str) -> list[Item]:
    items: list[Item] = []
    if wf is not None:
        for i, node in enumerate(wf.nodes):
            if node.name and node.name not in {it.label for it in items}:
                roles = " · ".join(outline.roles(wf, node))
                items.append(
                    Item(node.name, types.CompletionItemKind.Reference, roles, sort=f"0{i:05d}")
                )
    if key in ("goto", "to"):
        items.append(Item(END, types.CompletionItemKind.Keyword, "end the run", sort="1"))
    if key == "from":
        items.append(Item(START, types.CompletionItemKind.Keyword, "the virtual entry", sort="1"))
    return items


def action_items() -> list[Item]:
    """The runner's actions (plugins included) first, then every action a TEA engine provides."""
    out = []
    seen: set[str] = set()
    for spec in default_registry():
        seen.add(spec.name)
        args = ", ".join(spec.properties)
        out.append(
            Item(
                spec.name,
                types.CompletionItemKind.Function,
                spec.summary or None,
                f"`{spec.name}`({args})" if args else None,
                sort="0" + spec.name,
            )
        )
    for entry in catalog():
        if entry.name in seen or entry.test_only:
            continue
        args = ", ".join(ArgumentSchema(entry.name, entry.schema or {}).properties)
        doc = f"`{entry.name}`({args})\n\n" if args else ""
        out.append(
            Item(
                entry.name,
                types.CompletionItemKind.Function,
                entry.summary or entry.providers_text(),
                doc + f"Not run by the tea-lsp runner: {entry.providers_text()}.",
                sort="1" + entry.name,
            )
        )
    return out


def _type_label(schema: Mapping[str, Any]) -> str | None:
    t = schema_nav.types_of(schema)
    return " | ".join(sorted(t)) if t else None


# Keys that mean the same thing: once one is written, the other is not offered.
_ALIASES = {
    "run": "script",
    "script": "run",
    "uses": "action",
    "action": "uses",
    "output": "output_key",
    "output_key": "output",
}


def key_items(path: list[str | int], present: Mapping[str, str]) -> list[Item]:
    """The schema's keys for the mapping at ``path``, in the schema's order."""
    props = schema_nav.properties(path)
    taken = set(present) | {_ALIASES[k] for k in present if k in _ALIASES}
    out: list[Item] = []
    for i, (name, schema) in enumerate(props.items()):
        if name in taken:
            continue
        out.append(
            Item(
                name,
                types.CompletionItemKind.Property,
                _type_label(schema),
                schema_nav.description(schema),
                f"{name}: ",
                sort=f"{i:03d}",
            )
        )
    return out


def _arguments(uses: str) -> tuple[Mapping[str, Any], set[str]] | None:
    """The ``with:`` arguments of an action (the runner's, else the catalogue's schema)."""
    spec = default_registry().get(uses)
    if spec is not None:
        return spec.properties, set(spec.required)
    entry = catalog().get(uses)
    if entry is None or not entry.schema:
        return None
    args = ArgumentSchema(uses, entry.schema)
    return args.properties, set(args.required)


def with_items(uses: str, present: Mapping[str, str]) -> list[Item]:
    found = _arguments(uses)
    if found is None:
        return []
    properties, required = found
    out = []
    for name, schema in properties.items():
        if name in present:
            continue
        typ = schema.get("type") if isinstance(schema, Mapping) else None
        detail = f"{typ}" if isinstance(typ, str) else None
        if name in required:
            detail = f"{detail or 'argument'} (required)"
        desc = schema.get("description") if isinstance(schema, Mapping) else None
        out.append(
            Item(
                name,
                types.CompletionItemKind.Property,
                detail,
                desc if isinstance(desc, str) else None,
                f"{name}: ",
                sort=("0" if name in required else "1") + name,
            )
        )
    return out


def enum_items(path: list[str | int]) -> list[Item]:
    out = []
    for i, v in enumerate(schema_nav.enum_values(path)):
        label = v if isinstance(v, str) else json.dumps(v)
        out.append(Item(label, types.CompletionItemKind.EnumMember, sort=f"{i:03d}"))
    return out


def state_keys(wf: Workflow | None) -> dict[str, str]:
    """State keys a workflow declares or produces, with where each comes from."""
    out: dict[str, str] = {}
    if wf is None:
        return out
    for k, t in (wf.state_schema or {}).items():
        out.setdefault(k, f"state_schema: {t}")
    for k in wf.initial_state:
        out.setdefault(k, "initial_state")
    for node in wf.all_nodes():
        if node.output_key:
            out.setdefault(node.output_key, f"output of '{node.name}'")
        if node.code is not None and node.code.kind == "lua":
            for block in re.findall(r"\breturn\s*(\{.*?\})", node.code.text, re.DOTALL):
                for key in _LUA_RETURN_KEYS.findall(block):
                    out.setdefault(key, f"returned by '{node.name}'")
    if any(f.fan_in is not None for f in wf.fan_outs):
        out.setdefault("parallel_results", "branch results (fan-in nodes)")
    return out


# ---- context


def complete(
    lines: Lines, line: int, col: int, wf: Workflow | None, trigger: str | None = None
) -> tuple[list[Item], int]:
    """Items for the cursor, and the column where the word being completed starts.

    ``trigger``: the character that triggered completion automatically, if any. A space
    only asks for values (``goto: ``) and for the keys of a new list item (``- ``), never
    for keys while the user indents a line.
    """
    items, start = _complete(lines, line, col, wf, trigger)
    text = lines.line(line)
    if items and start > 0 and text[start - 1] == ":":
        # Completed right after the colon (``goto:|``): YAML needs a space before the value.
        for it in items:
            it.insert = " " + (it.insert or it.label)
    return items, start


def _complete(
    lines: Lines, line: int, col: int, wf: Workflow | None, trigger: str | None
) -> tuple[list[Item], int]:
    text = lines.line(line)
    before = text[:col]

    m = _STATE.search(before)
    if m is not None and not _looks_like_key(before):
        start = col - len(m.group(2))
        if m.group(1) == "state":
            keys = state_keys(wf)
            return [
                Item(k, types.CompletionItemKind.Field, src, sort=f"{i:04d}")
                for i, (k, src) in enumerate(keys.items())
            ], start
        variables = wf.variables if wf is not None else {}
        return [
            Item(k, types.CompletionItemKind.Constant, _short(v)) for k, v in variables.items()
        ], start

    m = _NODE_VALUE.search(before)
    if m is not None:
        return node_items(wf, m.group(1)), col - len(m.group(2))

    m = _ACTION_VALUE.search(before)
    if m is not None:
        return action_items(), col - len(m.group(2))

    m = _LIST_ITEM.match(before)
    if m is not None:
        dash_col = len(m.group(1))
        path = key_context(lines, line, dash_col + 2, dash_col)
        parent = path[-2] if len(path) >= 2 else None
        if parent in ("parallel", "to"):
            return node_items(wf, str(parent)), col - len(m.group(2))

    m = _SCALAR_VALUE.match(before)
    if m is not None:
        indent = len(m.group(1))
        key_col = indent + (1 + len(m.group(3)) if m.group(2) else 0)
        path = key_context(lines, line, key_col, indent if m.group(2) else None)
        items = enum_items([*path, m.group(4)])
        if items:
            return items, col - len(m.group(5))
        return [], col

    m = _KEY_LINE.match(before)
    if m is not None and trigger in (" ", ":", ",", "[") and not (m.group(2) and not m.group(4)):
        return [], col  # a space while indenting, or punctuation: not a request for keys
    if m is not None:
        indent = len(m.group(1))
        dash_at = indent if m.group(2) else None
        key_col = indent + (1 + len(m.group(3)) if m.group(2) else 0)
        path = key_context(lines, line, key_col, dash_at)
        present = sibling_keys(lines, line, key_col, dash_at)
        start = col - len(m.group(4))
        if path and path[-1] == "with":
            owner = _with_owner_keys(lines, line, key_col)
            uses = owner.get("uses") or owner.get("action")
            if uses:
                return with_items(uses.strip("'\""), present), start
        return key_items(path, present), start
    return [], col


def _looks_like_key(before: str) -> bool:
    return re.match(r"^\s*(-\s+)?[\w.]*$", before) is not None


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _with_owner_keys(lines: Lines, line: int, key_col: int) -> dict[str, str]:
    """The keys of the node whose ``with:`` mapping holds a key typed at ``key_col``."""
    for j in range(line - 1, -1, -1):
        text = lines.line(j)
        stripped = text.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        ind = len(text) - len(stripped)
        if ind >= key_col:
            continue
        m = re.match(r"-\s+", stripped)
        content, kcol = (stripped[m.end() :], ind + m.end()) if m else (stripped, ind)
        if key_of(content) != "with":
            return {}
        return sibling_keys(lines, j, kcol, ind if m else None)
    return {}


def register(server: TeaLanguageServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=TRIGGERS, resolve_provider=False),
    )
    async def completion(params: types.CompletionParams) -> types.CompletionList | None:
        uri = params.text_document.uri
        state = server.docs.get(uri)
        if state is None:
            return None
        snap = state.snap
        if snap is None or snap.version != state.doc.version:
            snap = await server.snapshot(uri)
            state = server.docs.get(uri)
            if snap is None or state is None:
                return None
        if not snap.workflow:
            return None
        doc = state.doc
        line, col = convert.from_position(doc, params.position, server.encoding)
        wf = snap.analysis.workflow if snap.analysis is not None else None
        if snap.analysis is not None:
            wf = outline.workflow_at(snap.analysis, line) or wf
        ctx = params.context
        trigger = (
            ctx.trigger_character
            if ctx is not None and ctx.trigger_kind == types.CompletionTriggerKind.TriggerCharacter
            else None
        )
        items, start = complete(doc, line, col, wf, trigger)
        if not items:
            return None
        enc = server.encoding
        rng = types.Range(
            start=convert.to_position(doc, line, start, enc),
            end=convert.to_position(doc, line, col, enc),
        )
        td = server.caps.text_document
        comp = td.completion if td else None
        doc_formats = (
            comp.completion_item.documentation_format if comp and comp.completion_item else None
        )
        md = server.markdown_supported(doc_formats)
        out = []
        for it in items:
            documentation: types.MarkupContent | str | None = None
            if it.doc:
                documentation = (
                    types.MarkupContent(kind=types.MarkupKind.Markdown, value=it.doc)
                    if md
                    else it.doc
                )
            out.append(
                types.CompletionItem(
                    label=it.label,
                    kind=it.kind,
                    detail=it.detail,
                    documentation=documentation,
                    sort_text=it.sort,
                    filter_text=it.label,
                    text_edit=types.TextEdit(range=rng, new_text=it.insert or it.label),
                )
            )
        return types.CompletionList(is_incomplete=False, items=out)
