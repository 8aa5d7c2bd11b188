"""Schema check (TEA101–TEA106): each error on the exact YAML node, one per node and reason."""

from __future__ import annotations

import copy
from textwrap import dedent
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tea_lsp.analysis import analyze
from tea_lsp.checks import schema
from tea_lsp.checks.schema_fast import compile_node_schema, compile_schema
from tea_lsp.diagnostics import Diagnostic, Fix, Span, TextEdit
from tea_lsp.schema_file import load_schema
from tea_lsp.syntax.yaml_tree import parse_yaml, to_python
from tests.conftest import FIXTURES


def schema_diags(text: str) -> list[Diagnostic]:
    return [d for d in analyze(dedent(text), "t.yaml").diagnostics if d.code.startswith("TEA1")]


def lines(text: str) -> list[str]:
    """``line:col-end_line:end_col CODE message`` (1-based), schema codes only."""
    out = []
    for d in schema_diags(text):
        s = d.span
        pos = f"{s.start_line + 1}:{s.start_col + 1}-{s.end_line + 1}:{s.end_col + 1}"
        out.append(f"{pos} {d.code} {d.message}")
    return out


def test_unknown_key_on_the_key_with_fix() -> None:
    found = schema_diags(
        """\
        name: w
        nodes:
          - name: a
            rnu: return {}
        """
    )
    assert len(found) == 1
    d = found[0]
    assert (d.code, d.message) == ("TEA101", "unknown key 'rnu' in node; did you mean 'run'?")
    assert d.span == Span(3, 4, 3, 7)
    assert d.fix == Fix("Replace 'rnu' with 'run'", (TextEdit(Span(3, 4, 3, 7), "run"),))


def test_unknown_key_fix_keeps_quotes() -> None:
    (d,) = schema_diags(
        """\
        name: w
        nodes:
          - name: a
            "rnu": return {}
        """
    )
    assert d.fix is not None
    assert d.fix.edits == (TextEdit(Span(3, 4, 3, 9), '"run"'),)


def test_unknown_key_suggests_only_absent_keys_and_lists_small_sets() -> None:
    assert lines(
        """\
        name: w
        nodes:
          - name: a
            run: return {}
            runn: return {}
        settings:
          lua:
            zzz: 1
        """
    ) == [
        "5:5-5:9 TEA101 unknown key 'runn' in node",
        "8:5-8:8 TEA101 unknown key 'zzz' in 'settings.lua'; expected one of 'timeout', "
        "'max_memory'",
    ]


def test_misspelt_required_key_gives_one_diagnostic() -> None:
    # 'nmae' is reported as unknown with the suggestion; no second "missing 'name'".
    assert lines(
        """\
        nmae: w
        nodes:
          - nmae: a
            run: return {}
        """
    ) == [
        "1:1-1:5 TEA101 unknown key 'nmae' in workflow; did you mean 'name'?",
        "3:5-3:9 TEA101 unknown key 'nmae' in node; did you mean 'name'?",
    ]


def test_wrong_type_on_the_value_naming_the_key() -> None:
    assert lines("name: w\nnodes: just-a-string\n") == [
        "2:8-2:21 TEA102 'nodes' must be a list, got a string"
    ]


def test_wrong_type_of_an_empty_value_lands_on_its_key() -> None:
    assert lines("name: w\nnodes:\n") == ["2:1-2:6 TEA102 'nodes' must be a list, got null"]


def test_multiline_value_is_clipped_to_its_first_line() -> None:
    assert lines(
        """\
        name: w
        nodes:
          name: a
          run: return {}
        """
    ) == ["3:3-3:10 TEA102 'nodes' must be a list, got a mapping"]


def test_enum_lists_expected_values_and_suggests() -> None:
    assert lines(
        """\
        name: w
        nodes:
          - name: a
            run: return {}
          - name: b
            run: return {}
        edges:
          - {from: a, to: b, type: paralel}
        """
    ) == [
        "8:28-8:35 TEA103 invalid value 'paralel' for 'type'; expected one of 'normal', "
        "'parallel', 'entry', 'finish'; did you mean 'parallel'?"
    ]


def test_one_value_diagnostic_per_node() -> None:
    # '' breaks both minLength and the non-blank pattern: reported once.
    assert lines('name: w\nnodes:\n  - name: ""\n    run: return {}\n') == [
        "3:11-3:13 TEA105 'name' must not be empty"
    ]
    # A list where a string is expected fails 'type' only (not also 'enum').
    assert lines("name: w\nnodes:\n  - name: a\n    language: [lua]\n") == [
        "4:15-4:20 TEA102 'language' must be a string, got a list"
    ]


def test_missing_required_on_the_parent_key() -> None:
    assert lines(
        """\
        name: w
        nodes:
          - run: return {}
            goto: __end__
        """
    ) == ["3:5-3:8 TEA104 missing required key 'name' in node"]
    assert lines("name: w\n") == ["1:1-1:5 TEA104 missing required key 'nodes' in workflow"]


def test_missing_required_in_a_flow_mapping_and_in_a_goto_rule() -> None:
    assert lines(
        """\
        name: w
        nodes:
          - name: a
            goto:
              - {if: state.x}
        edges:
          - {to: a}
        """
    ) == [
        "5:10-5:12 TEA104 missing required key 'to' in goto rule",
        "7:6-7:8 TEA104 missing required key 'from' in edge",
    ]


def test_any_of_reports_the_best_branch() -> None:
    # goto: a string or a list of rules; a list was meant, so the rule's own error shows.
    assert lines(
        """\
        name: w
        nodes:
          - name: a
            goto:
              - to: __end__
                iff: state.done
        """
    ) == ["6:9-6:12 TEA101 unknown key 'iff' in goto rule; did you mean 'if'?"]
    # interrupt: boolean | 'before'/'after' | mapping; a string picks the enum branch.
    assert lines("name: w\nnodes:\n  - name: a\n    interrupt: sometimes\n") == [
        "4:16-4:25 TEA103 invalid value 'sometimes' for 'interrupt'; expected one of 'before', "
        "'after'"
    ]
    # run: {type: lua, code: 5} is the mapping form with a bad 'code'.
    assert lines("name: w\nnodes:\n  - name: a\n    run: {type: lua, code: 5}\n") == [
        "4:28-4:29 TEA102 'code' must be a string, got 5"
    ]


def test_any_of_with_no_fitting_type_lists_every_accepted_type() -> None:
    assert lines("name: w\nnodes:\n  - name: a\n    fan_in: 3\n") == [
        "4:13-4:14 TEA102 'fan_in' must be a boolean or a string, got 3"
    ]


def test_ranges_and_min_items() -> None:
    assert lines(
        """\
        name: w
        nodes: []
        settings:
          lua:
            timeout: -1
          parallel:
            max_workers: 0
        """
    ) == [
        "2:8-2:10 TEA103 'nodes' must not be empty; expected at least 1 item",
        "5:14-5:16 TEA103 invalid value -1 for 'timeout'; expected a number greater than 0",
        "7:18-7:19 TEA103 invalid value 0 for 'max_workers'; expected an integer of at least 1",
    ]


def test_while_loop_limits_are_left_to_tea211() -> None:
    text = """\
        name: w
        nodes:
          - name: loop
            type: while_loop
            max_iterations: 5000
        """
    assert lines(text) == []
    codes = [d.code for d in analyze(dedent(text), "t.yaml").diagnostics]
    assert codes == ["TEA211", "TEA211"]


def test_max_iterations_outside_a_loop_is_a_schema_error() -> None:
    assert lines("name: w\nnodes:\n  - name: a\n    max_iterations: 0\n") == [
        "4:21-4:22 TEA103 invalid value 0 for 'max_iterations'; expected an integer from 1 to 1000"
    ]


def test_missing_workflow_name_hint_on_the_first_key() -> None:
    (d,) = schema_diags("# comment\nnodes:\n  - name: a\n")
    assert (d.code, d.severity.label, d.span) == ("TEA106", "hint", Span(1, 0, 1, 5))


def test_every_document_is_validated() -> None:
    text = "name: one\nnodes:\n  - name: a\n---\nname: two\nnodes:\n  - nme: b\n"
    assert lines(text) == [
        "4:1-4:4 TEA107 document 2 of this file starts here; TEA loads exactly one YAML "
        "document per file and rejects the whole file; put each workflow in its own file",
        "7:5-7:8 TEA101 unknown key 'nme' in node; did you mean 'name'?",
    ]


def test_non_mapping_document_is_left_to_the_syntax_check() -> None:
    assert lines("- a\n- b\n") == []


def test_odd_keys_never_crash() -> None:
    found = lines("name: w\nnodes:\n  - name: a\n    1: x\n    ? [k]\n    : v\n")
    assert found[0] == "4:5-4:6 TEA101 unknown key '1' in node"
    assert all("TEA900" not in f for f in found)


def test_validator_is_built_once() -> None:
    assert schema.validator() is schema.validator()


# ---- the compiled fast path agrees with the full validator
def _schema_words() -> tuple[list[str], list[Any]]:
    keys: set[str] = set()
    values: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "properties" and isinstance(v, dict):
                    keys.update(v)
                if k in ("enum",) and isinstance(v, list):
                    values.extend(v)
                if k == "const":
                    values.append(v)
                walk(v)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(load_schema())
    return sorted(keys), values


_KEYS, _VALUES = _schema_words()
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 1200),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from([*_VALUES, "", "  ", "a b", "64MB", "lots", "2nd", "ok_name", "__end__"]),
    st.text(max_size=4),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=3), inner, max_size=4),
    ),
    max_leaves=16,
)
_NODE = st.dictionaries(st.sampled_from(_KEYS), _JSON, max_size=5).map(lambda d: {"name": "n", **d})
_DOC = st.fixed_dictionaries(
    {"nodes": st.lists(_NODE, min_size=1, max_size=3)},
    optional={
        "name": _SCALARS,
        "edges": st.lists(st.dictionaries(st.sampled_from(_KEYS), _JSON, max_size=4), max_size=3),
        "settings": _JSON,
        "edgs": _JSON,
    },
)


_OK_DOCS = [
    to_python(parse_yaml(p.read_text(encoding="utf-8")).documents[0].root)
    for p in sorted((FIXTURES / "ok").glob("*.yaml"))
]


def _containers(node: Any) -> list[Any]:
    out = [node] if isinstance(node, dict | list) else []
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        out.extend(_containers(child))
    return out


@st.composite
def _mutated(draw: st.DrawFn) -> Any:
    """A valid workflow with up to three small edits: mostly still close to valid."""
    doc = copy.deepcopy(draw(st.sampled_from(_OK_DOCS)))
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(_containers(doc)))
        if not target:
            continue
        op = draw(st.sampled_from(["replace", "delete", "add"]))
        if isinstance(target, dict):
            key = draw(st.sampled_from(sorted(target)) | st.sampled_from(_KEYS))
            if op == "delete":
                target.pop(key, None)
            else:
                target[key] = draw(_SCALARS if op == "replace" else _JSON)
        else:
            index = draw(st.integers(0, len(target) - 1))
            if op == "delete":
                del target[index]
            elif op == "add":
                target.append(draw(_JSON))
            else:
                target[index] = draw(_SCALARS)
    return doc


@settings(max_examples=400, deadline=None)
@given(st.one_of(_mutated(), _DOC, _JSON))
def test_fast_validator_agrees_with_jsonschema(doc: Any) -> None:
    fast = schema.fast_validator()
    assert fast is not None
    assert fast(doc) == schema.validator().is_valid(doc)


def test_fast_validator_agrees_on_every_fixture() -> None:
    fast = schema.fast_validator()
    assert fast is not None
    for path in sorted(FIXTURES.glob("*/*.yaml")):
        parsed = parse_yaml(path.read_text(encoding="utf-8", errors="replace"))
        for doc in parsed.documents:
            data = to_python(doc.root)
            assert fast(data) == schema.validator().is_valid(data), path


# The validator over the YAML tree, both ways it reads a list of nodes: as data (the default:
# the data predicate keeps each item's result) and on the tree (a list of more items).
_TREE_VALIDATORS = [compile_node_schema(load_schema()), compile_node_schema(load_schema(), 0)]


def _tree_agrees(text: str) -> None:
    for doc in parse_yaml(text).documents:
        if doc.root is None:
            continue
        data = to_python(doc.root)
        expected = schema.validator().is_valid(data)
        for tree in _TREE_VALIDATORS:
            assert tree is not None
            assert tree(doc.root) == expected, text


@settings(max_examples=300, deadline=None)
@given(st.one_of(_mutated(), _DOC, _JSON))
def test_tree_validator_agrees_with_jsonschema(doc: Any) -> None:
    _tree_agrees(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


def test_tree_validator_agrees_on_every_fixture() -> None:
    for path in sorted(FIXTURES.glob("*/*.yaml")):
        _tree_agrees(path.read_text(encoding="utf-8", errors="replace"))


@pytest.mark.parametrize(
    "text",
    [
        # a duplicated key: the last value counts, as in the data
        "name: w\nnodes:\n  - name: a\n    run: x\n    run: 3\n",
        "name: w\nnodes:\n  - name: a\n    run: 3\n    run: x\n",
        # a null key and a key that is a mapping: both read as 'null'
        "name: w\nnodes:\n  - name: a\n    ~: 1\n",
        "name: w\nnodes:\n  - name: a\n    ? {k: v}\n    : 1\n",
        "name: w\nnodes:\n  - ? [a]\n    : b\n    name: a\n",
        # a required key missing but a null key present
        "name: w\nnodes:\n  - null: a\n",
        "name: w\nnodes:\n  - name: a\n    type: while_loop\n    null: 1\n",
        # merge keys, and keys that are not strings
        "base: &b {name: a, run: x}\nname: w\nnodes:\n  - <<: *b\n    run: y\n",
        "base: &b {name: a, run: 1}\nname: w\nnodes:\n  - <<: *b\n",
        "name: w\nnodes:\n  - name: a\n    1: x\n    true: y\n",
        "name: w\nnodes:\n  - name: a\n    type: dynamic_parallel\n",
        "name: w\nnodes:\n  - {name: a, type: while_loop, condition: x, max_iterations: 2,"
        " body: [{name: b}]}\n",
        "name: w\nnodes: []\nedges:\n  - {from: a, to: [b, c], type: parallel}\n",
        "- 1\n- 2\n",
        "just text\n",
    ],
)
def test_tree_validator_agrees_on_odd_mappings(text: str) -> None:
    _tree_agrees(text)


def test_fast_compiler_refuses_what_it_cannot_check() -> None:
    assert compile_schema({"type": "array", "uniqueItems": True}) is None
    assert compile_schema({"$ref": "https://example.com/other.json"}) is None
    check = compile_schema({"type": "object", "x-editor-hint": 1, "required": ["a"]})
    assert check is not None and check({"a": 1}) and not check({})


@settings(max_examples=150, deadline=None)
@given(_mutated())
def test_every_invalid_document_gets_a_positioned_schema_diagnostic(doc: Any) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    found = analyze(text, "t.yaml").diagnostics
    mine = ("'schema'", "'graph_")
    assert not [d for d in found if d.code == "TEA900" and any(m in d.message for m in mine)]
    validation = {"TEA101", "TEA102", "TEA103", "TEA104", "TEA105"}
    ours = [d for d in found if d.code in validation]
    ours += [d for d in found if d.code == "TEA211"]  # while_loop limits, left to the graph check
    assert bool(ours) == (not schema.validator().is_valid(doc))
    line_count = text.count("\n") + 1
    assert all(0 <= d.span.start_line < line_count for d in ours)
