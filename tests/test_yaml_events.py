"""The YAML tree is built from the parser's events (large files, files with anchors) or from
the composed nodes (files whose unchanged items are reused after an edit): both ways give the
same tree, spans, shared aliases and diagnostics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tea_lsp.syntax.yaml_tree import YMap, YNode, YScalar, YSeq, parse_yaml, to_python

FIXTURES = sorted(
    p for p in (Path(__file__).parent / "fixtures").rglob("*") if p.suffix in (".yaml", ".yml")
)

ADVERSARIAL = [
    "a: &x [1, 2]\nb: *x\nc: *x\n",
    "a: &x {k: 1}\nb: {<<: *x, j: 2}\n",
    "a: &s hello\nb: *s\n",
    "a: &x [*x]\n",
    "a: &r {b: *r}\n",
    "a: *nope\n",
    "a: &x 1\nb: &x 2\n",
    "- &a [1]\n- *a\n- [*a, *a]\n",
    "? &k [1]\n: 1\n? *k\n: 2\n",
    "a: 1\na: 2\n",
    "x: !!int 12\ny: !!binary aGk=\nz: 2020-01-01\nw: !!int nope\n",
    "---\na: 1\n---\nb: 2\n...\n",
    "",
    "# only a comment\n",
    "a: |\n  x\n  y\nb: >\n  z\n\nc: |-\n    deeper\n",
    "a: [1, {b: c}\n",
    "a: 'x\n",
    "k: &a {x: 1}\n<<: *a\n",
    "m: {<<: [{a: 1}, {a: 2, b: 3}], c: 4}\n",
    "a: !custom {x: 1}\nb: !!str 1\nc: ! 12\nd: !!map {}\n",
    "&a a: 1\n",
    "null: 1\n1: 2\ntrue: 3\n~: 4\n1.5: 5\n",
    "a: " + "[" * 300 + "]" * 300 + "\n",
    "a: &d " + "[" * 250 + "&in x" + "]" * 250 + "\nb: *in\n",
    "a: " + "[" * 1200 + "]" * 1200 + "\n",
    "a: &big [" + ", ".join(["x"] * 50) + "]\nb: [" + ", ".join(["*big"] * 3000) + "]\n",
    "a: &a [x, y]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c]\n",
    # aliases of a complete collection inside one still open, of collections holding aliases
    "a: &o {i: &i [1, 2], j: *i, k: *o, l: [*i]}\nb: *o\n",
    "a: &p [&q {x: [1, 2]}, *q]\nb: [*p, *p, *q]\nc: {<<: *q, y: *p}\n",
    "a: &a ["
    + "x, " * 9
    + "x]\n"
    + "".join(
        f"{n}: &{n} [" + ", ".join([f"*{p}"] * 10) + "]\n"
        for p, n in (("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"))
    ),
]


def _shape(node: YNode | None, seen: dict[int, int]) -> Any:
    if node is None:
        return None
    if isinstance(node, YScalar):
        return (
            "S",
            node.tag,
            repr(node.value),
            node.style,
            node.span,
            node.header_line,
            node.block_indent,
        )
    if id(node) in seen:
        return ("alias of", seen[id(node)])
    seen[id(node)] = len(seen)
    if isinstance(node, YSeq):
        return ("Q", node.tag, node.span, [_shape(i, seen) for i in node.items])
    assert isinstance(node, YMap)
    pairs = [(_shape(p.key, seen), _shape(p.value, seen)) for p in node.pairs]
    return ("M", node.tag, node.span, pairs, node.keys())


def _both(text: str) -> tuple[Any, Any]:
    out = []
    for events in (False, True):
        parsed = parse_yaml(text, events=events)
        out.append(([_shape(d.root, {}) for d in parsed.documents], parsed.diagnostics))
    return out[0], out[1]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_events_and_composed_nodes_give_the_same_tree_for_fixtures(path: Path) -> None:
    composed, events = _both(path.read_text(encoding="utf-8", errors="replace"))
    assert events == composed


@pytest.mark.timeout(60)
@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_events_and_composed_nodes_give_the_same_tree_for_odd_input(text: str) -> None:
    composed, events = _both(text)
    assert events == composed


_WORDS = (
    "yes Yes YES no No NO true True TRUE false False FALSE on On ON off Off OFF "
    "null Null NULL ~ y Y n N nO tRUE oN "
    "falsey nullable offset Yesterday trueish ONE False1 Nothing fetch_0 yes_no"
)
WORDS = _WORDS.split(" ")


@pytest.mark.parametrize("events", [False, True])
def test_plain_words_read_as_pyyaml_reads_them(events: bool) -> None:
    text = "".join(f"k{i}: {w}\n" for i, w in enumerate(WORDS)) + "l: [" + ", ".join(WORDS) + "]\n"
    expected = yaml.safe_load(text)
    assert to_python(parse_yaml(text, events=events).documents[0].root) == expected
    assert expected["k0"] is True and expected[f"k{WORDS.index('falsey')}"] == "falsey"
