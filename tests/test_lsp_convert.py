"""Position conversion and document edits of the language server, with non-ASCII text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types

from tea_lsp.diagnostics import Diagnostic, Related, Severity, Span
from tea_lsp.lsp import convert
from tea_lsp.lsp.convert import Encoding
from tea_lsp.lsp.documents import Change, Document, split_lines
from tea_lsp.lsp.selection import is_workflow, matches_glob, modeline_schema
from tea_lsp.lsp.settings import Settings, parse_settings, parse_size
from tea_lsp.syntax.text import LineIndex

LINE = "aé😀中b"  # five characters of 1, 2, 4, 3 and 1 UTF-8 bytes; the emoji is 2 UTF-16 units


@pytest.mark.parametrize(
    ("encoding", "units"),
    [
        ("utf-8", [0, 1, 3, 7, 10, 11]),
        ("utf-16", [0, 1, 2, 4, 5, 6]),
        ("utf-32", [0, 1, 2, 3, 4, 5]),
    ],
)
def test_columns_in_each_encoding(encoding: Encoding, units: list[int]) -> None:
    assert [convert.col_to_units(LINE, col, encoding) for col in range(6)] == units
    assert [convert.units_to_col(LINE, u, encoding) for u in units] == list(range(6))


def test_positions_inside_a_character_land_on_a_boundary() -> None:
    # Half a surrogate pair (UTF-16 unit 3) and the middle of the emoji's UTF-8 bytes.
    assert convert.units_to_col(LINE, 3, "utf-16") in (2, 3)
    assert convert.units_to_col(LINE, 5, "utf-8") == 2
    # Past the end of the line: the end of the line.
    assert convert.units_to_col(LINE, 99, "utf-16") == 5
    assert convert.units_to_col(LINE, 99, "utf-8") == 5
    assert convert.col_to_units(LINE, 99, "utf-16") == 6


def test_negotiation_follows_the_client_preference() -> None:
    assert convert.negotiate(["utf-8", "utf-16"]) == "utf-8"
    assert convert.negotiate(["utf-32"]) == "utf-32"
    assert convert.negotiate(["latin-1"]) == "utf-16"
    assert convert.negotiate(None) == "utf-16"


def test_ranges_after_emoji_accents_and_cjk() -> None:
    text = 'name: "Ünïcödé 😀 中文"\nnodes:\n  - {name: "café😀中文", goto: finsh}\n'
    lines = LineIndex(text)
    span = Span(2, 28, 2, 33)
    assert lines.line(2)[28:33] == "finsh"
    for enc, (start, end) in {
        "utf-16": (29, 34),
        "utf-8": (36, 41),
        "utf-32": (28, 33),
    }.items():
        rng = convert.to_range(lines, span, enc)  # type: ignore[arg-type]
        assert (rng.start.line, rng.start.character, rng.end.line, rng.end.character) == (
            2,
            start,
            2,
            end,
        )
        assert convert.from_range(lines, rng, enc) == span  # type: ignore[arg-type]


def test_positions_past_the_end_clamp_to_the_text() -> None:
    lines = LineIndex("ab\ncd😀")
    assert convert.to_position(lines, 7, 0, "utf-16") == types.Position(line=1, character=4)
    assert convert.from_position(lines, types.Position(line=9, character=9), "utf-16") == (1, 3)
    assert convert.from_position(lines, types.Position(line=0, character=9), "utf-8") == (0, 2)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("aé😀中\r\n\t "), max_size=40))
def test_every_boundary_round_trips(text: str) -> None:
    lines = LineIndex(text)
    for enc in convert.ENCODINGS:
        for n in range(lines.line_count):
            for col in range(len(lines.line(n)) + 1):
                pos = convert.to_position(lines, n, col, enc)
                assert convert.from_position(lines, pos, enc) == (n, col)


def test_diagnostic_conversion() -> None:
    text = "x: 😀 bad\nother\n"
    lines = LineIndex(text)
    d = Diagnostic(
        "TEA204",
        Severity.WARNING,
        "node 'b' is never reached",
        Span(0, 5, 0, 8),
        (Related(Span(1, 0, 1, 5), "first defined here"),),
    )
    got = convert.to_diagnostic(lines, d, "file:///w.tea.yaml", "utf-16")
    assert got.range == types.Range(
        start=types.Position(line=0, character=6), end=types.Position(line=0, character=9)
    )
    assert (got.code, got.source, got.severity, got.message) == (
        "TEA204",
        "tea-lsp",
        types.DiagnosticSeverity.Warning,
        "node 'b' is never reached",
    )
    assert got.code_description == types.CodeDescription(
        href="https://github.com/tea-lsp/tea-lsp/blob/main/docs/rules/TEA204.md"
    )
    assert got.tags == [types.DiagnosticTag.Unnecessary]
    assert got.related_information == [
        types.DiagnosticRelatedInformation(
            location=types.Location(
                uri="file:///w.tea.yaml",
                range=types.Range(
                    start=types.Position(line=1, character=0),
                    end=types.Position(line=1, character=5),
                ),
            ),
            message="first defined here",
        )
    ]
    run = convert.to_diagnostic(lines, d, "file:///w.tea.yaml", "utf-8", source="tea-run")
    assert run.source == "tea-run"
    assert (run.range.start.character, run.range.end.character) == (8, 11)


# ---- documents


def test_split_lines_follows_lsp() -> None:
    assert split_lines("a\r\nb\rc\nd") == ["a\r\n", "b\r", "c\n", "d"]
    assert split_lines("a\n") == ["a\n", ""]
    assert split_lines("") == [""]
    # Other Unicode separators are not line breaks in LSP.
    assert split_lines("a\u2028b\x0cc") == ["a\u2028b\x0cc"]


def test_incremental_edit_after_emoji() -> None:
    doc = Document.create("u", "goto: 😀finsh\nnext\n", 1)
    # Replace 'finsh' (UTF-16 units 8..13) with 'finish'.
    doc.apply(Change("finish", (0, 8, 0, 13)), "utf-16")
    assert doc.text == "goto: 😀finish\nnext\n"
    doc.apply(Change("X", (0, 10, 0, 10)), "utf-8")  # after the emoji's 4 bytes
    assert doc.text == "goto: 😀Xfinish\nnext\n"


def test_edit_joining_cr_and_lf_is_one_line_break() -> None:
    doc = Document.create("u", "a\rb\n")
    doc.apply(Change("\n", (1, 0, 1, 0)), "utf-16")
    assert doc.text == "a\r\nb\n"
    assert doc.line_count == 3
    assert [doc.line(i) for i in range(3)] == ["a", "b", ""]


def _offset(text: str, line: int, units: int, enc: Encoding) -> int:
    lines = LineIndex(text)
    if line >= lines.line_count:
        return len(text)
    col = convert.units_to_col(lines.line(line), units, enc)
    return lines.offset(line, col)


edit_text = st.text(alphabet=st.sampled_from("ab😀é中\r\n"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("ab😀é中\r\n"), max_size=30),
    st.lists(
        st.tuples(
            st.integers(0, 6), st.integers(0, 8), st.integers(0, 6), st.integers(0, 8), edit_text
        ),
        max_size=6,
    ),
    st.sampled_from(convert.ENCODINGS),
)
def test_incremental_edits_match_a_full_rewrite(
    text: str, edits: list[tuple[int, int, int, int, str]], enc: Encoding
) -> None:
    doc = Document.create("u", text)
    expected = text
    for sl, sc, el, ec, new in edits:
        a = _offset(expected, sl, sc, enc)
        b = _offset(expected, el, ec, enc)
        a, b = min(a, b), max(a, b)
        expected = expected[:a] + new + expected[b:]
        doc.apply(Change(new, (sl, sc, el, ec)), enc)
        assert doc.text == expected
        ref = LineIndex(expected)
        assert doc.line_count == ref.line_count
        assert [doc.line(i) for i in range(doc.line_count)] == [
            ref.line(i) for i in range(ref.line_count)
        ]


def test_full_change_replaces_everything() -> None:
    doc = Document.create("u", "old")
    doc.apply(Change("new\ntext"), "utf-16")
    assert (doc.text, doc.line_count, doc.line(1)) == ("new\ntext", 2, "text")


# ---- settings


def test_settings_defaults_and_valid_values() -> None:
    assert parse_settings(None) == (Settings(), [])
    got, warnings = parse_settings(
        {
            "tea": {
                "files": ["flows/**/*.yml"],
                "lua": {"timeout": 5, "maxMemory": "128MB"},
                "run.maxParallelBranches": 3,
                "run": {"strategy": "thread"},
                "trace": {"server": "verbose"},
                "ignore": ["TEA204"],
            }
        }
    )
    assert warnings == []
    assert got == Settings(
        files=("flows/**/*.yml",),
        lua_timeout=5.0,
        lua_max_memory=128 * 1024**2,
        max_parallel_branches=3,
        strategy="thread",
        ignore=frozenset({"TEA204"}),
    )


def test_invalid_settings_fall_back_with_warnings() -> None:
    got, warnings = parse_settings(
        {"lua": {"timeout": -1, "maxMemory": True}, "files": 3, "run": {"stratgy": "x"}}
    )
    assert got == Settings()
    assert warnings == [
        "invalid setting 'tea.lua.timeout': expected a number of seconds greater than 0, "
        "got -1; using the default (30.0)",
        "invalid setting 'tea.lua.maxMemory': expected a size such as '64MB', got True; "
        "using the default (64MB)",
        "invalid setting 'tea.files': expected a list of glob patterns, got 3; "
        "using the default (**/*.tea.yaml, **/*.tea.yml)",
        "unknown setting 'tea.run.stratgy'; did you mean 'run.strategy'?; it is ignored",
    ]
    assert parse_settings("junk") == (
        Settings(),
        ["settings 'tea' must be an object, got 'junk'; using defaults"],
    )


def test_sizes() -> None:
    assert parse_size("64MB") == 64 * 1024**2
    assert parse_size("512 KiB") == 512 * 1024
    assert parse_size("1g") == 1024**3
    assert parse_size(4096) == 4096
    assert parse_size("lots") is None
    assert parse_size(0) is None


# ---- which documents


def test_globs() -> None:
    pats = ("**/*.tea.yaml", "**/*.tea.yml")
    assert matches_glob("/home/u/p/flows/a.tea.yaml", pats)
    assert not matches_glob("/home/u/p/flows/a.yaml", pats)
    assert matches_glob("/w/flows/x/a.yml", ("flows/**/*.yml",), roots=("/w",))
    assert not matches_glob("/w/other/a.yml", ("flows/**/*.yml",), roots=("/w",))
    assert matches_glob("/w/a.flow.yaml", ("*.{flow,tea}.yaml",))
    assert matches_glob("/w/deep/a.flow.yaml", ("*.flow.yaml",))


def test_modelines_and_top_level_nodes() -> None:
    ours = "# yaml-language-server: $schema=https://tea-lsp.dev/schemas/workflow.schema.json\n"
    other = "# yaml-language-server: $schema=https://json.schemastore.org/github-workflow\n"
    files = ("**/*.tea.yaml",)
    assert modeline_schema(ours + "a: 1\n") == "https://tea-lsp.dev/schemas/workflow.schema.json"
    assert is_workflow("file:///w/a.yaml", "yaml", ours + "a: 1\n", files)
    assert is_workflow("file:///w/a.yaml", "yaml", "nodes:\n  - name: a\n", files)
    assert not is_workflow("file:///w/a.yaml", "yaml", other + "nodes: []\n", files)
    assert not is_workflow("file:///w/a.yaml", "yaml", "key: value\n", files)
    assert not is_workflow("file:///w/a.json", "json", "nodes:\n", files)
    assert is_workflow("file:///w/a.tea.yaml", "yaml", "- a list\n", files)
    assert is_workflow(
        "file:///w/rel.yaml",
        "yaml",
        "# yaml-language-server: $schema=../schemas/workflow.schema.json\n",
        files,
    )
