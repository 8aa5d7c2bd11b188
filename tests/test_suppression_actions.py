"""The "Ignore CODE on this line" quick fix writes the comment of the language at the cursor,
and applying it silences exactly that diagnostic."""

from __future__ import annotations

import pytest

from tea_lsp.analysis import analyze
from tea_lsp.diagnostics import Span, TextEdit
from tea_lsp.lsp.handlers.code_actions import actions_for
from tea_lsp.syntax.text import LineIndex


def _apply(text: str, edit: TextEdit) -> str:
    lines = LineIndex(text)
    start = lines.offset(edit.span.start_line, edit.span.start_col)
    end = lines.offset(edit.span.end_line, edit.span.end_col)
    return text[:start] + edit.new_text + text[end:]


CASES = {
    "yaml": (
        "name: y\nnodes:\n  - name: a\n    rnu: return {}\n    run: return {}\n",
        "TEA101",
        "    rnu: return {}  # tea-lsp: ignore[TEA101]",
    ),
    "lua": (
        "name: l\nnodes:\n  - name: a\n    run: |\n      return {x = stat}\n",
        "TEA302",
        "      return {x = stat}  -- tea-lsp: ignore[TEA302]",
    ),
    "jinja": (
        "name: j\nnodes:\n  - name: a\n    uses: file.write\n    with:\n      path: out.txt\n"
        "      content: |\n        {{ state.x | lowr }}\n",
        "TEA402",
        "        {{ state.x | lowr }}  {# tea-lsp: ignore[TEA402] #}",
    ),
    "lua-extends-existing": (
        "name: l\nnodes:\n  - name: a\n    run: |\n"
        "      return {x = stat, y = tonumbr(1)}  -- tea-lsp: ignore[TEA999]\n",
        "TEA302",
        "      return {x = stat, y = tonumbr(1)}  -- tea-lsp: ignore[TEA999,TEA302]",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_ignore_line_quick_fix_per_language(name: str) -> None:
    text, code, expected_line = CASES[name]
    analysis = analyze(text, "wf.yaml")
    d = next(d for d in analysis.diagnostics if d.code == code)
    titles = {t: edits for t, _, edits, _ in actions_for(analysis, d.span)}
    (edit,) = titles[f"Ignore {code} on this line"]
    fixed = _apply(text, edit)
    assert fixed.splitlines()[d.span.start_line] == expected_line
    after = analyze(fixed, "wf.yaml").diagnostics
    assert [x for x in after if x.code == code and x.span.start_line == d.span.start_line] == []


def test_python_snippet_gets_a_hash_comment() -> None:
    text = (
        "name: p\nnodes:\n  - name: a\n    language: python\n    run: |\n"
        "      return {'x': 1}\n    gotto: b\n"
    )
    analysis = analyze(text, "wf.yaml")
    d = next(d for d in analysis.diagnostics if d.code == "TEA101")
    # a diagnostic on the Python code line gets Python's comment
    inside = d.__class__(d.code, d.severity, d.message, Span(5, 6, 5, 12))
    analysis.diagnostics.append(inside)
    edits = {t: e for t, diag, e, _ in actions_for(analysis, inside.span) if diag is inside}
    (edit,) = edits["Ignore TEA101 on this line"]
    assert _apply(text, edit).splitlines()[5] == "      return {'x': 1}  # tea-lsp: ignore[TEA101]"
