"""Alias bombs: aliases are shared, never expanded into copies, and capped (TEA005/TEA006)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tea_lsp.analysis import analyze
from tea_lsp.syntax.yaml_tree import parse_yaml, to_python, walk

NODES = "nodes:\n  - name: a\n    language: lua\n    run: return {}\n"


def seq_bomb(levels: int = 10, width: int = 10) -> str:
    """The classic 'billion laughs' shape: each level a list of aliases of the one before."""
    lines = ["name: bomb", "settings:", "  variables:"]
    lines.append("    l0: &l0 [" + ", ".join(["lol"] * width) + "]")
    for i in range(1, levels):
        lines.append(f"    l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n" + NODES


def map_bomb(levels: int = 10, width: int = 10) -> str:
    lines = ["name: bomb", "settings:", "  variables:"]
    lines.append("    l0: &l0 {" + ", ".join(f"k{j}: lol" for j in range(width)) + "}")
    for i in range(1, levels):
        items = ", ".join(f"k{j}: *l{i - 1}" for j in range(width))
        lines.append(f"    l{i}: &l{i} {{{items}}}")
    return "\n".join(lines) + "\n" + NODES


def merge_bomb(levels: int = 12) -> str:
    """Merge keys: every level merges the previous one and adds aliases of it."""
    lines = ["name: bomb", "settings:", "  variables:", "    l0: &l0 {a: lol, b: lol}"]
    for i in range(1, levels):
        items = ", ".join(f"k{j}: *l{i - 1}" for j in range(8))
        lines.append(f"    l{i}: &l{i} {{<<: *l{i - 1}, {items}}}")
    return "\n".join(lines) + "\n" + NODES


def merge_list_bomb(levels: int = 12) -> str:
    lines = ["name: bomb", "settings:", "  variables:", "    l0: &l0 {a: [lol, lol]}"]
    for i in range(1, levels):
        lines.append(
            f"    l{i}: &l{i} {{<<: [*l{i - 1}], a{i}: [" + ", ".join([f"*l{i - 1}"] * 8) + "]}"
        )
    return "\n".join(lines) + "\n" + NODES


BOMBS = {
    "sequences": seq_bomb(),
    "mappings": map_bomb(),
    "merge-keys": merge_bomb(),
    "merge-lists": merge_list_bomb(),
}


def expanded_size(text: str) -> int:
    parsed = parse_yaml(text)
    return sum(1 for doc in parsed.documents for _ in walk(doc.root))


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", list(BOMBS))
def test_alias_bomb_is_cut_and_reported(name: str) -> None:
    text = BOMBS[name]
    analysis = analyze(text, "bomb.yaml")
    cut = [d for d in analysis.diagnostics if d.code == "TEA005"]
    assert cut, analysis.diagnostics
    assert all(d.message.startswith("alias expansion too large: '*l") for d in cut)
    assert all(d.message.endswith("; it is read as null") for d in cut)
    # Every walker sees the expanded tree: it stays within the cap (10,000 + 1 per 2 chars).
    assert expanded_size(text) <= len(text) + 10_000 + len(text) // 2
    # The data form is built without running out of memory.
    assert to_python(parse_yaml(text).documents[0].root)["name"] == "bomb"


@pytest.mark.timeout(30)
def test_check_billion_laughs_exact_first_diagnostic(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(seq_bomb(), encoding="utf-8")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tea_lsp",
            "check",
            "--no-config",
            "--format",
            "concise",
            "bomb.yaml",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )
    assert r.returncode == 1, r.stderr
    first = r.stdout.splitlines()[0]
    # l3 = ten aliases of l2 (1111 nodes each): the ninth passes the 10,360 extra nodes allowed.
    assert first == (
        "bomb.yaml:7:54: error[TEA005] alias expansion too large: '*l2' stands for 1111 nodes "
        "and the aliases of this file may add at most 10360; it is read as null"
    )
    assert "Traceback" not in r.stderr


def test_moderate_aliases_are_shared_not_reported() -> None:
    text = (
        "name: shared\nsettings:\n  variables:\n    base: &base {retries: 3, delay: 1}\n"
        "    a: *base\n    b: {<<: *base, delay: 2}\n    list: [*base, *base]\n" + NODES
    )
    analysis = analyze(text, "shared.yaml")
    assert [d.code for d in analysis.diagnostics if d.code in ("TEA005", "TEA006")] == []
    data = to_python(analysis.parsed.documents[0].root)
    assert data["settings"]["variables"]["b"] == {"retries": 3, "delay": 2}
    assert data["settings"]["variables"]["list"] == [{"retries": 3, "delay": 1}] * 2


@pytest.mark.timeout(10)
def test_recursive_alias_is_reported_not_followed() -> None:
    text = "name: r\nsettings:\n  variables: &v\n    me: *v\n    l: &l [1, [2, *l]]\n" + NODES
    analysis = analyze(text, "r.yaml")
    got = [
        (d.code, d.span.start_line, d.span.start_col, d.message)
        for d in analysis.diagnostics
        if d.code == "TEA006"
    ]
    assert got == [
        (
            "TEA006",
            3,
            8,
            "recursive alias '*v' is inside the node it refers to; it is read as null",
        ),
        (
            "TEA006",
            4,
            18,
            "recursive alias '*l' is inside the node it refers to; it is read as null",
        ),
    ]
    assert to_python(analysis.parsed.documents[0].root)["settings"]["variables"]["me"] is None


def test_tags_resolve_as_the_safe_loader_does() -> None:
    import yaml

    text = (
        "a: yes\nb: 'yes'\nc: 0x1F\nd:\ne: ''\nf: ~\ng: 1.5\nh: .inf\ni: -7\nj: 0o17\n"
        'k: null\nl: "null"\nm: +12\nn: No\no: on\np: 2024-01-02\nq: <<x\n'
        "r: [true, 'true', 1_000]\n"
        "base: &b {x: 1}\nmerged: {<<: *b, y: 2}\n"
    )
    expected = yaml.safe_load(text)
    expected["p"] = "2024-01-02"  # dates stay text (JSON has none)
    assert to_python(parse_yaml(text).documents[0].root) == expected
