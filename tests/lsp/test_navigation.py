"""Hover, completion, definition, references, rename, symbols, code actions, code lens."""

from __future__ import annotations

from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tea_lsp import codes
from tea_lsp.catalog import catalog
from tea_lsp.engine.actions import default_registry
from tests.lsp.conftest import (
    change_doc,
    diagnostics,
    doc_id,
    file_uri,
    open_doc,
    simple,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

NAV = """\
name: nav
state_schema:
  count: int
  text: str
nodes:
  - name: setup
    run: |
      return { count = 1 }
  - name: branch_a
    run: |
      return { a = state.count + 1 }
  - name: branch_b
    uses: json.parse
    with:
      text: "{{ state.text }}"
    output: parsed
  - name: join
    fan_in: true
    run: |
      local n = #state.parallel_results
      return { count = n }
    goto: finish
  - name: finish
    run: return { done = true }  # tea-lsp: ignore[TEA204, TEA010]
edges:
  - {from: setup, to: [branch_a, branch_b], parallel: true, fan_in: join}  # tea-lsp: ignore[TEA215]
  - {from: branch_a, to: join}
  - {from: branch_b, to: "join"}
"""

FIXABLE = """\
name: fixable
nodes:
  - name: a
    run: |
      x = state["y"]
      return {"x": x}
  - name: b
    rnu: return {}
  - name: finish
    run: |
      return { z = stat.count }
"""

NAV_URI = file_uri("nav.tea.yaml")


def rng(r: types.Range) -> tuple[int, int, int, int]:
    return (r.start.line, r.start.character, r.end.line, r.end.character)


def at(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


def edits_of(edit: types.WorkspaceEdit | None, uri: str) -> list[tuple[Any, ...]]:
    """The text edits of one document, whichever shape the client asked for."""
    assert edit is not None
    found: list[types.TextEdit] = []
    if edit.document_changes:
        for change in edit.document_changes:
            assert isinstance(change, types.TextDocumentEdit)
            assert change.text_document.uri == uri
            found.extend(e for e in change.edits if isinstance(e, types.TextEdit))
    else:
        assert edit.changes is not None
        found.extend(edit.changes[uri])
    return [(rng(e.range), e.new_text) for e in found]


def apply(text: str, edits: list[tuple[Any, ...]]) -> str:
    lines = text.split("\n")
    for (sl, sc, el, ec), new in sorted(edits, reverse=True):
        head = "\n".join([*lines[:sl], lines[sl][:sc]])
        tail = "\n".join([lines[el][ec:], *lines[el + 1 :]])
        lines = (head + new + tail).split("\n")
    return "\n".join(lines)


async def hover(client: LanguageClient, uri: str, line: int, col: int) -> tuple[str, Any] | None:
    result = await client.text_document_hover_async(
        types.HoverParams(text_document=doc_id(uri), position=at(line, col))
    )
    if result is None:
        return None
    assert isinstance(result.contents, types.MarkupContent)
    assert result.contents.kind == types.MarkupKind.Markdown
    return result.contents.value, rng(result.range) if result.range else None


async def labels(client: LanguageClient, uri: str, line: int, col: int) -> list[str]:
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=doc_id(uri), position=at(line, col))
    )
    if result is None:
        return []
    items = result.items if isinstance(result, types.CompletionList) else result
    return [i.label for i in sorted(items, key=lambda i: i.sort_text or i.label)]


async def test_open_clean(client: LanguageClient) -> None:
    open_doc(client, NAV_URI, NAV)
    assert await diagnostics(client, NAV_URI, 1) == []


async def test_hover_node_role_routes_and_code(client: LanguageClient) -> None:
    assert await hover(client, NAV_URI, 16, 11) == (
        "**node `join`** — fan-in of 'branch_a', 'branch_b' (fan-out from 'setup')\n\n"
        "**incoming:** `branch_a` (edge) · `branch_b` (edge)\n\n"
        "**outgoing:** `finish` (goto)\n\n"
        "```lua\nlocal n = #state.parallel_results\nreturn { count = n }\n```",
        (16, 10, 16, 14),
    )
    # From a reference inside a flow sequence of an edge.
    assert await hover(client, NAV_URI, 25, 25) == (
        "**node `branch_a`** — branch of the fan-out from 'setup', joined at 'join'\n\n"
        "**incoming:** `setup` (parallel)\n\n"
        "**outgoing:** `join` (edge)\n\n"
        "```lua\nreturn { a = state.count + 1 }\n```",
        (25, 23, 25, 31),
    )
    setup = await hover(client, NAV_URI, 5, 12)
    assert setup is not None
    assert setup[0].startswith(
        "**node `setup`** — entry · fan-out to 'branch_a', 'branch_b', joined at 'join'\n\n"
        "**incoming:** `__start__` (entry)\n\n"
        "**outgoing:** `branch_a` (parallel) · `branch_b` (parallel)"
    )


async def test_hover_keys_actions_and_codes(client: LanguageClient) -> None:
    assert await hover(client, NAV_URI, 17, 6) == (
        "**`fan_in`**\n\n`true` marks this node as a fan-in: it runs once after every branch "
        "of a parallel fan-out has finished and reads `state.parallel_results`. In a "
        "`dynamic_parallel` node: the name of the fan-in node that receives the results.\n\n"
        "[format reference](https://github.com/tea-lsp/tea-lsp/blob/main/docs/format.md)",
        (17, 4, 17, 10),
    )
    assert await hover(client, NAV_URI, 12, 13) == (
        "**action `json.parse`** — parse JSON text; result: {data, success}\n\n"
        "**with:**\n- `text`: string (required)\n- `strict`: boolean\n- `default`",
        (12, 10, 12, 20),
    )
    assert await hover(client, NAV_URI, 14, 8) == (
        "**`text`**: string (required) — argument of `json.parse`",
        (14, 6, 14, 10),
    )
    # A code in an ignore comment: the rule's documentation.
    line = NAV.split("\n")[23]
    col = line.index("TEA204") + 2
    assert await hover(client, NAV_URI, 23, col) == (
        codes.REGISTRY["TEA204"].explain(),
        (23, col - 2, 23, col + 4),
    )
    # Plain values and blank space: nothing to say.
    assert await hover(client, NAV_URI, 0, 8) is None


async def test_hover_upstream_action(client: LanguageClient) -> None:
    """An action only TEA's engines run: its summary, who runs it, and its arguments."""
    uri = file_uri("upstream_action.tea.yaml")
    text = (
        "name: up\nnodes:\n  - name: ask\n    uses: llm.call\n    with:\n"
        "      model: gpt\n      prompt: hi\n    output: answer\n"
    )
    open_doc(client, uri, text)
    await diagnostics(client, uri, 1)
    value, span = await hover(client, uri, 3, 12) or ("", None)
    assert value.startswith(
        "**action `llm.call`** — call a language model; result: {content, usage, ...}\n\n"
        "Not run by the tea-lsp runner: TEA's Python and Rust engines provide it.\n\n"
        "**with:**\n- `model`: string\n- `messages`: array\n- `prompt`: string\n"
    )
    assert span == (3, 10, 3, 18)
    assert await hover(client, uri, 6, 8) == (
        "**`prompt`**: string — argument of `llm.call`",
        (6, 6, 6, 12),
    )


async def test_completion(client: LanguageClient) -> None:
    uri = file_uri("completion.tea.yaml")
    text = NAV.replace("    goto: finish\n", "    goto: fi\n")
    text = text.replace("    output: parsed\n", "    output: parsed\n    \n")
    text = text.replace('      text: "{{ state.text }}"\n', '      text: "{{ state. }}"\n      \n')
    open_doc(client, uri, text)
    await diagnostics(client, uri, 1)
    lines = text.split("\n")
    goto_line = lines.index("    goto: fi")
    nodes = ["setup", "branch_a", "branch_b", "join", "finish"]
    assert await labels(client, uri, goto_line, 12) == [*nodes, "__end__"]
    # Edge ends: `from:` offers the virtual entry, `to:` lists in flow sequences the exit.
    edge = lines.index("  - {from: branch_a, to: join}")
    assert await labels(client, uri, edge, 11) == [*nodes, "__start__"]
    assert await labels(client, uri, edge, 28) == [*nodes, "__end__"]
    # Keys of a node, minus those it already has.
    blank = lines.index("    ", lines.index("    output: parsed"))
    keys = await labels(client, uri, blank, 4)
    assert keys[:6] == ["description", "run", "script", "language", "goto", "fan_in"]
    assert not {"name", "uses", "action", "with", "output", "output_key"} & set(keys)
    # Action names after `uses:`.
    uses_line = lines.index("    uses: json.parse")
    # The runner's actions, then every action a TEA engine provides (from the catalogue).
    offered = await labels(client, uri, uses_line, 14)
    assert sorted(offered) == sorted(set(default_registry(True).names()) | set(catalog().names()))
    assert {"json.parse", "llm.call", "retry.loop", "plan.decompose"} <= set(offered)
    # `with:` arguments of the node's action, and state keys inside a template.
    with_blank = lines.index("      ", uses_line)
    # `text` is already given: the optional arguments remain.
    assert await labels(client, uri, with_blank, 6) == ["default", "strict"]
    tmpl_line = lines.index('      text: "{{ state. }}"')
    assert await labels(client, uri, tmpl_line, 22) == [
        "count",
        "text",
        "a",
        "parsed",
        "done",
        "parallel_results",
    ]
    # State keys in Lua.
    lua_line = lines.index("      return { a = state.count + 1 }")
    assert await labels(client, uri, lua_line, 25) == [
        "count",
        "text",
        "a",
        "parsed",
        "done",
        "parallel_results",
    ]
    # Enum values of the schema.
    extra = "  - from: finish\n    type: \n  - {from: join, parallel: [branch_a, ]}\n"
    change_doc(client, uri, 2, text + extra)
    n = text.count("\n")
    assert await labels(client, uri, n + 1, 10) == ["normal", "parallel", "entry", "finish"]
    # Inside a `parallel: [..]` list.
    assert await labels(client, uri, n + 2, 38) == nodes


async def test_completion_of_with_arguments(client: LanguageClient) -> None:
    uri = file_uri("with.tea.yaml")
    text = (
        "name: w\nnodes:\n  - name: a\n    uses: file.write\n"
        "    with:\n      path: out.txt\n      \n"
    )
    open_doc(client, uri, text)
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=doc_id(uri), position=at(6, 6))
    )
    assert isinstance(result, types.CompletionList)
    assert [(i.label, i.detail) for i in sorted(result.items, key=lambda i: i.sort_text or "")] == [
        ("content", "string (required)"),
        ("append", "boolean"),
        ("encoding", "string"),
    ]
    assert result.items[0].text_edit is not None
    assert result.items[0].text_edit.new_text == "content: "


async def test_definition_and_references(client: LanguageClient) -> None:
    got = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc_id(NAV_URI), position=at(21, 12))
    )
    assert isinstance(got, list)
    assert [(loc.uri, rng(loc.range)) for loc in got] == [(NAV_URI, (22, 10, 22, 16))]
    refs = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=doc_id(NAV_URI),
            position=at(16, 11),
            context=types.ReferenceContext(include_declaration=True),
        )
    )
    assert refs is not None
    assert [rng(loc.range) for loc in refs] == [
        (16, 10, 16, 14),  # name: join
        (25, 68, 25, 72),  # fan_in: join
        (26, 25, 26, 29),  # to: join
        (27, 26, 27, 30),  # to: "join" (inside the quotes)
    ]
    refs = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=doc_id(NAV_URI),
            position=at(26, 26),
            context=types.ReferenceContext(include_declaration=False),
        )
    )
    assert refs is not None and len(refs) == 3
    # Not a node name: nothing.
    none = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc_id(NAV_URI), position=at(0, 8))
    )
    assert none is None


async def test_rename_updates_every_reference(client: LanguageClient) -> None:
    prep = await client.text_document_prepare_rename_async(
        types.PrepareRenameParams(text_document=doc_id(NAV_URI), position=at(27, 26))
    )
    assert isinstance(prep, types.PrepareRenamePlaceholder)
    assert (rng(prep.range), prep.placeholder) == ((27, 26, 27, 30), "join")
    edit = await client.text_document_rename_async(
        types.RenameParams(text_document=doc_id(NAV_URI), position=at(16, 11), new_name="merge")
    )
    got = edits_of(edit, NAV_URI)
    assert got == [
        ((16, 10, 16, 14), "merge"),
        ((25, 68, 25, 72), "merge"),
        ((26, 25, 26, 29), "merge"),
        ((27, 25, 27, 31), '"merge"'),
    ]
    renamed = apply(NAV, got)
    assert "join" not in renamed
    # The renamed text is still a clean workflow.
    uri = file_uri("renamed.tea.yaml")
    open_doc(client, uri, renamed)
    assert await diagnostics(client, uri, 1) == []


async def test_rename_refuses_a_taken_name(client: LanguageClient) -> None:
    with pytest.raises(Exception, match="a node named 'finish' already exists"):
        await client.text_document_rename_async(
            types.RenameParams(
                text_document=doc_id(NAV_URI), position=at(16, 11), new_name="finish"
            )
        )
    prep = await client.text_document_prepare_rename_async(
        types.PrepareRenameParams(text_document=doc_id(NAV_URI), position=at(17, 6))
    )
    assert prep is None


async def test_document_symbols(client: LanguageClient) -> None:
    got = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=doc_id(NAV_URI))
    )
    assert got is not None
    assert [
        (s.name, s.detail, s.kind, rng(s.range), rng(s.selection_range))
        for s in got
        if isinstance(s, types.DocumentSymbol)
    ] == [
        (
            "setup",
            "entry · fan-out to 'branch_a', 'branch_b', joined at 'join' · lua",
            types.SymbolKind.Function,
            (5, 4, 7, 26),
            (5, 10, 5, 15),
        ),
        (
            "branch_a",
            "branch of the fan-out from 'setup', joined at 'join' · lua",
            types.SymbolKind.Function,
            (8, 4, 10, 36),
            (8, 10, 8, 18),
        ),
        (
            "branch_b",
            "branch of the fan-out from 'setup', joined at 'join' · uses json.parse",
            types.SymbolKind.Method,
            (11, 4, 15, 18),
            (11, 10, 11, 18),
        ),
        (
            "join",
            "fan-in of 'branch_a', 'branch_b' (fan-out from 'setup') · lua",
            types.SymbolKind.Function,
            (16, 4, 21, 16),
            (16, 10, 16, 14),
        ),
        (
            "finish",
            "ends the run · lua",
            types.SymbolKind.Function,
            (22, 4, 23, 66),
            (22, 10, 22, 16),
        ),
    ]


async def test_code_lens(client: LanguageClient) -> None:
    got = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=doc_id(NAV_URI))
    )
    assert got is not None
    [lens] = got
    assert rng(lens.range) == (0, 0, 0, 0)
    assert lens.command is not None
    assert lens.command.title == "▶ Run workflow"
    assert lens.command.command == "tea.runWorkflow"
    assert list(lens.command.arguments or ()) == [NAV_URI]


async def code_actions(
    client: LanguageClient, uri: str, d: types.Diagnostic
) -> list[types.CodeAction]:
    got = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=doc_id(uri),
            range=d.range,
            context=types.CodeActionContext(diagnostics=[d]),
        )
    )
    assert got is not None
    return [a for a in got if isinstance(a, types.CodeAction)]


async def test_code_actions(client: LanguageClient) -> None:
    uri = file_uri("fixable.tea.yaml")
    open_doc(client, uri, FIXABLE)
    diags = await diagnostics(client, uri, 1)
    by_code = {d.code: d for d in diags}
    assert [simple(d)[:2] for d in diags] == [
        ("TEA309", (3, 4, 3, 7)),
        ("TEA101", (7, 4, 7, 7)),
        ("TEA302", (10, 19, 10, 23)),
    ]
    # The did-you-mean of an unknown key.
    actions = await code_actions(client, uri, by_code["TEA101"])
    assert [(a.title, a.kind, a.is_preferred) for a in actions] == [
        ("Replace 'rnu' with 'run'", types.CodeActionKind.QuickFix, True),
        ("Ignore TEA101 on this line", types.CodeActionKind.QuickFix, None),
        ("Ignore TEA101 in this file", types.CodeActionKind.QuickFix, None),
    ]
    assert edits_of(actions[0].edit, uri) == [((7, 4, 7, 7), "run")]
    assert edits_of(actions[1].edit, uri) == [((7, 18, 7, 18), "  # tea-lsp: ignore[TEA101]")]
    assert edits_of(actions[2].edit, uri) == [((0, 0, 0, 0), "# tea-lsp: ignore-file[TEA101]\n")]
    assert [d.code for d in actions[0].diagnostics or []] == ["TEA101"]
    # `language: python` for unmarked code read as Python.
    actions = await code_actions(client, uri, by_code["TEA309"])
    assert actions[0].title == "add 'language: python'"
    fixed = apply(FIXABLE, edits_of(actions[0].edit, uri))
    assert fixed.split("\n")[3] == "    language: python"
    # Inside a Lua block the ignore comment is a Lua comment, so the code stays valid.
    actions = await code_actions(client, uri, by_code["TEA302"])
    assert [a.title for a in actions] == [
        "Replace 'stat' with 'state'",
        "Ignore TEA302 on this line",
        "Ignore TEA302 in this file",
    ]
    assert edits_of(actions[0].edit, uri) == [((10, 19, 10, 23), "state")]
    line_edit = edits_of(actions[1].edit, uri)
    assert line_edit == [((10, 31, 10, 31), "  -- tea-lsp: ignore[TEA302]")]
    # Applying the fixes the user picked clears those diagnostics.
    text = apply(FIXABLE, line_edit)
    text = apply(text, [((7, 4, 7, 7), "run")])
    change_doc(client, uri, 2, text)
    after = await diagnostics(client, uri, 2)
    assert [d.code for d in after] == ["TEA309"]
