"""Positioned YAML, line index, UTF-16 conversion and snippet mapping."""

from __future__ import annotations

from tea_lsp.diagnostics import Span
from tea_lsp.syntax.embedded import SnippetMap
from tea_lsp.syntax.text import LineIndex, col_to_utf16, utf16_to_col
from tea_lsp.syntax.yaml_tree import YMap, YScalar, YSeq, parse_yaml, to_python


def _root(text: str) -> YMap:
    parsed = parse_yaml(text)
    root = parsed.documents[0].root
    assert isinstance(root, YMap)
    return root


def test_spans_of_keys_and_values() -> None:
    root = _root("name: wf\nnodes:\n  - name: é😀\n    run: return {}\n")
    assert root.key_node("name") is not None
    assert root.key_node("name").span == Span(0, 0, 0, 4)  # type: ignore[union-attr]
    nodes = root.get("nodes")
    assert isinstance(nodes, YSeq)
    first = nodes.items[0]
    assert isinstance(first, YMap)
    name = first.get("name")
    assert isinstance(name, YScalar)
    assert name.value == "é😀"
    assert name.span == Span(2, 10, 2, 12)  # columns in code points


def test_duplicate_key_reported_on_second_with_related_first() -> None:
    parsed = parse_yaml("a: 1\nb: 2\na: 3\n")
    [d] = parsed.diagnostics
    assert (d.code, d.span, d.message) == (
        "TEA002",
        Span(2, 0, 2, 1),
        "duplicate key 'a'; the earlier value is silently discarded",
    )
    assert d.related[0].span == Span(0, 0, 0, 1)


def test_syntax_error_is_one_line_at_reported_line() -> None:
    parsed = parse_yaml("a: 1\nb: [1, 2\nc: 3\nd: 4\n" + "e: 5\n" * 50)
    [d] = parsed.diagnostics
    assert d.code == "TEA001"
    assert d.span.start_line == d.span.end_line


def test_multi_document_and_merge_keys() -> None:
    parsed = parse_yaml("a: &x {k: 1}\nb: {<<: *x, j: 2}\n---\nc: 3\n")
    assert len(parsed.documents) == 2
    assert to_python(parsed.documents[0].root) == {"a": {"k": 1}, "b": {"k": 1, "j": 2}}
    assert to_python(parsed.documents[1].root) == {"c": 3}


def test_dates_stay_text_for_json() -> None:
    assert to_python(_root("d: 2024-01-02\n")) == {"d": "2024-01-02"}


def test_crlf_and_tabs_and_bom() -> None:
    parsed = parse_yaml("a: 1\r\nb:\r\n  - x\r\n")
    assert parsed.diagnostics == []
    root = parsed.documents[0].root
    assert isinstance(root, YMap)
    assert root.get("b").span.start_line == 2  # type: ignore[union-attr]


def test_literal_block_mapping_exact() -> None:
    text = "n:\n  run: |2-\n      x = 1\n     y\n"
    parsed = parse_yaml(text)
    scalar = _root(text).get("n").get("run")  # type: ignore[union-attr]
    assert isinstance(scalar, YScalar)
    m = SnippetMap.for_scalar(scalar, parsed.lines)
    assert m.exact
    assert m.to_file(0, 2) == (2, 6)
    assert m.to_file(1, 1) == (3, 5)


def test_folded_and_multiline_map_to_whole_value() -> None:
    text = "a: >\n  x\n  y\nb: \"one\\ttwo\"\nc: 'it''s'\nd: plain\n"
    parsed = parse_yaml(text)
    root = _root(text)
    for key in ("a", "b", "c"):
        scalar = root.get(key)
        assert isinstance(scalar, YScalar)
        assert SnippetMap.for_scalar(scalar, parsed.lines).to_file(0, 0) is None
    d = root.get("d")
    assert isinstance(d, YScalar)
    assert SnippetMap.for_scalar(d, parsed.lines).to_file(0, 2) == (5, 5)


def test_line_index_and_utf16() -> None:
    idx = LineIndex("a😀b\r\ncé\rz")
    assert idx.line_count == 3
    assert idx.line(0) == "a😀b"
    assert idx.position(idx.offset(1, 1)) == (1, 1)
    assert col_to_utf16("a😀b", 2) == 3
    assert utf16_to_col("a😀b", 3) == 2
    assert utf16_to_col("a😀b", 99) == 3
