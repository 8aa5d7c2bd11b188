"""The Lua checker half: compile_check, global_accesses (two ways), snippet facts, caching."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tea_lsp.analysis import analyze
from tea_lsp.langs import lua
from tea_lsp.langs.lua import (
    GlobalAccess,
    LuaSyntaxError,
    compile_check,
    global_accesses,
    global_accesses_bytecode,
    snippet_facts,
)
from tests.conftest import FIXTURES

# ---------------------------------------------------------------- compile_check


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("return { a = 1 }", None),
        ("x = {1, 2}}", LuaSyntaxError(1, 10, "unexpected symbol near '}'", "}")),
        ("return {", LuaSyntaxError(1, 8, "unexpected symbol near <eof>", "<eof>")),
        (
            "local x = 1\nreturn { a = 1 \n",
            LuaSyntaxError(2, 14, "'}' expected (to close '{' at line 2) near <eof>", "<eof>"),
        ),
        ("x = 3x + 1", LuaSyntaxError(1, 4, "malformed number near '3x'", "3x")),
        (
            "local t = {\n a = 1\n b = 2 }",
            LuaSyntaxError(3, 1, "'}' expected (to close '{' at line 1) near 'b'", "b"),
        ),
        ("x = 'abc", LuaSyntaxError(1, 8, "unfinished string near <eof>", "<eof>")),
        (
            "x = [[abc\nmore",
            LuaSyntaxError(2, 4, "unfinished long string (starting at line 1) near <eof>", "<eof>"),
        ),
        (
            "--[==[ never closed ]=]\n",
            LuaSyntaxError(
                1, 23, "unfinished long comment (starting at line 1) near <eof>", "<eof>"
            ),
        ),
        (
            "for i = 1, 2 do\n  goto skip\nend\n",
            LuaSyntaxError(2, 2, "no visible label 'skip' for <goto> at line 2", None),
        ),
        (
            "local x <const> = 1\nx = 2",
            LuaSyntaxError(2, None, "attempt to assign to const variable 'x'", None),
        ),
        ("x = \0", LuaSyntaxError(1, 4, "unexpected symbol", None)),
        ("local s = 'a\0b'", None),
        # The first '}' is fine: the error is the second one, where parsing stops.
        ("f({a = {}}})", LuaSyntaxError(1, 10, "')' expected near '}'", "}")),
        ("x = 'é' +", LuaSyntaxError(1, 9, "unexpected symbol near <eof>", "<eof>")),
    ],
)
def test_compile_check(code: str, expected: LuaSyntaxError | None) -> None:
    assert compile_check(code) == expected


def test_deep_nesting_is_a_diagnostic_not_a_crash() -> None:
    err = compile_check("f(" * 5000)
    assert err is not None
    assert err.message == "the code is nested too deeply (C stack overflow)"
    assert (err.line, err.col) == (1, None)
    err = compile_check("x = " + "{" * 300 + "}" * 300)
    assert err is not None and err.col is None


def test_compile_check_never_executes() -> None:
    assert compile_check("while true do end") is None
    assert compile_check("error('boom')") is None


def test_compile_check_is_cached() -> None:
    code = "return { cached_marker = 12345 }"
    before = compile_check.cache_info()
    compile_check(code)
    compile_check(code)
    after = compile_check.cache_info()
    assert after.hits >= before.hits + 1


# ---------------------------------------------------------------- globals

TRICKY = """\
local x <const> = 5
local function helper(a, ...)
  local t = {key = a, [1] = "s"}
  return helper(a) + undefined_fn(...)
end
total = (total or 0) + state.count + state["other"]
for i, v in ipairs(state.items) do
  goto continue
  print(v)
  ::continue::
end
os.time()
local s = string.format("%d", 1):rep(2)
function gfn(self) return self end
function M.sub() end
state.x = 1
state.y.z = 2
repeat local r = 1 until r == 1
local _ENV = {}
hidden = 1
"""


def test_global_accesses_tricky() -> None:
    assert global_accesses(TRICKY) == [
        GlobalAccess("undefined_fn", 4, 21, "get", None),
        GlobalAccess("total", 6, 0, "set", None),
        GlobalAccess("total", 6, 9, "get", None),
        GlobalAccess("state", 6, 23, "get", "count"),
        GlobalAccess("state", 6, 37, "get", "other"),
        GlobalAccess("ipairs", 7, 12, "get", None),
        GlobalAccess("state", 7, 19, "get", "items"),
        GlobalAccess("print", 9, 2, "get", None),
        GlobalAccess("os", 12, 0, "get", "time"),
        GlobalAccess("string", 13, 10, "get", "format"),
        GlobalAccess("gfn", 14, 9, "set", None),
        GlobalAccess("M", 15, 9, "get", None),
        GlobalAccess("state", 16, 0, "get", None),
        GlobalAccess("state", 17, 0, "get", "y"),
    ]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("local x = x", [("x", "get")]),
        ("local function f() return f() end", []),
        ("local f = function() return f end", [("f", "get")]),
        ("for i = i, 10 do end", [("i", "get")]),
        ("for k, v in pairs(k) do end", [("pairs", "get"), ("k", "get")]),
        ("repeat local done = true until done", []),
        ("do local a = 1 end return a", [("a", "get")]),
        ("goto l ::l::", []),
        ("local t = { key = value }", [("value", "get")]),
        ("local o = {} function o:m() return self end", []),
        ("local function v(...) local a, b = ... return a end", []),
        ("local _ENV = {} x = y", []),
        ("x, y = y, x", [("x", "set"), ("y", "set"), ("y", "get"), ("x", "get")]),
        ("t[k] = v", [("t", "get"), ("k", "get"), ("v", "get")]),
        ("return 7 // 2 | 1 ~ 3 & ~0 << 1 >> 1", []),
        ("return [[os.time()]] --[==[ io.open ]==]", []),
        ("local s <close> = nil", []),
        ("return ('x'):rep(2)", []),
        ("return #_ENV", []),
    ],
)
def test_global_accesses_scoping(code: str, expected: list[tuple[str, str]]) -> None:
    got = [(a.name, a.kind) for a in global_accesses(code)]
    assert sorted(got) == sorted(expected)
    oracle = [(a.name, a.kind) for a in global_accesses_bytecode(code)]
    assert sorted(got) == sorted(oracle)


def test_global_accesses_of_broken_code_is_empty() -> None:
    assert global_accesses("return {") == []
    assert snippet_facts("return {") is None


def test_snippet_facts_return_keys() -> None:
    facts = snippet_facts("if x then return {a = 1, ['b'] = 2} end\nreturn {c = 3, 4}")
    assert facts is not None
    assert facts.return_keys == frozenset({"a", "b", "c"})
    assert not facts.returns_opaque
    facts = snippet_facts("local function f() return {inner = 1} end\nreturn {outer = f()}")
    assert facts is not None and facts.return_keys == frozenset({"outer"})
    for opaque in ("return state", "return {[k] = 1}", "return x and {a = 1}", "return f()"):
        facts = snippet_facts(opaque)
        assert facts is not None and facts.returns_opaque, opaque
    facts = snippet_facts("return nil")
    assert facts is not None and not facts.returns_opaque and not facts.return_keys


def test_long_names_and_many_constants_in_bytecode() -> None:
    long = "a_really_long_global_variable_name_that_is_over_forty_chars"
    code = f"{long} = 1\nreturn {{ v = {long} + 1 }}"
    assert global_accesses(code) == global_accesses_bytecode(code)
    assert [a.kind for a in global_accesses(code)] == ["set", "get"]
    many = ", ".join(f"k{i} = 'v{i}'" for i in range(300))
    code = f"local t = {{{many}}}\nlate = 1\nreturn {{ x = late_global, y = late2.f }}"
    assert global_accesses(code) == global_accesses_bytecode(code)
    assert [(a.name, a.field) for a in global_accesses(code)] == [
        ("late", None),
        ("late_global", None),
        ("late2", "f"),
    ]


def test_bytecode_fallback_on_extreme_nesting(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "return " + "(" * 120 + "deep_name" + ")" * 120
    lua.snippet_facts.cache_clear()
    monkeypatch.setattr(sys, "getrecursionlimit", sys.getrecursionlimit)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        facts = snippet_facts(code)
    finally:
        sys.setrecursionlimit(old)
        lua.snippet_facts.cache_clear()
    assert facts is not None and facts.method == "bytecode"
    assert [(a.name, a.line, a.col) for a in facts.accesses] == [("deep_name", 1, 127)]


def _ok_fixture_snippets() -> Iterator[str]:
    for path in sorted((FIXTURES / "ok").glob("*.yaml")):
        wf = analyze(path.read_text(encoding="utf-8"), str(path)).workflow
        if wf is None:
            continue
        for node in wf.all_nodes():
            if node.code is not None and node.code.kind == "lua":
                yield node.code.text


def test_scan_agrees_with_bytecode_on_fixtures() -> None:
    snippets = list(_ok_fixture_snippets())
    assert len(snippets) > 20
    for code in snippets:
        assert global_accesses(code) == global_accesses_bytecode(code), code


# A small generator of valid Lua programs over a few names, to compare both listers.
_NAMES = st.sampled_from(["a", "b", "state", "print", "t", "x"])


def _exprs() -> st.SearchStrategy[str]:
    leaf = st.one_of(
        _NAMES,
        st.sampled_from(["1", "'s'", "nil", "...", "2.5", "[[long]]"]),
        _NAMES.map(lambda n: f"{n}.f"),
        _NAMES.map(lambda n: f"{n}['k']"),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["+", "..", "and", "//", "<<", "=="]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            st.tuples(_NAMES, inner).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(_NAMES, inner).map(lambda t: f"{t[0]}:m({t[1]})"),
            inner.map(lambda e: f"{{ k = {e}, [1] = {e} }}"),
            inner.map(lambda e: f"(function(a, ...) return {e} end)"),
        ),
        max_leaves=6,
    )


def _blocks() -> st.SearchStrategy[str]:
    simple = st.one_of(
        st.tuples(_NAMES, _exprs()).map(lambda t: f"local {t[0]} = {t[1]}"),
        st.tuples(_NAMES, _exprs()).map(lambda t: f"{t[0]} = {t[1]}"),
        st.tuples(_NAMES, _exprs()).map(lambda t: f"{t[0]}.g = {t[1]}"),
        st.tuples(_NAMES, _exprs()).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(_NAMES, _exprs()).map(lambda t: f"local function {t[0]}() return {t[1]} end"),
    )
    return st.recursive(
        st.lists(simple, min_size=1, max_size=3).map("\n".join),
        lambda inner: st.one_of(
            st.tuples(_exprs(), inner).map(lambda t: f"if {t[0]} then\n{t[1]}\nend"),
            st.tuples(_NAMES, inner).map(lambda t: f"for {t[0]} = 1, 2 do\n{t[1]}\nend"),
            st.tuples(_NAMES, _exprs(), inner).map(
                lambda t: f"for {t[0]}, v in pairs({t[1]}) do\n{t[2]}\nend"
            ),
            st.tuples(inner, _exprs()).map(lambda t: f"repeat\n{t[0]}\nuntil {t[1]}"),
            st.tuples(inner, inner).map(lambda t: f"do\n{t[0]}\nend\n{t[1]}"),
        ),
        max_leaves=5,
    )


@settings(max_examples=150, deadline=None)
@given(_blocks())
def test_scan_agrees_with_bytecode_on_generated_code(code: str) -> None:
    if compile_check(code) is not None:  # e.g. '...' inside a non-vararg function
        return
    scan = sorted((a.line, a.name, a.kind, a.field or "") for a in global_accesses(code))
    dump = sorted((a.line, a.name, a.kind, a.field or "") for a in global_accesses_bytecode(code))
    assert scan == dump


def test_mutated_snippets_never_crash() -> None:
    """Random edits of valid snippets: a result or a diagnostic, columns inside the line."""
    rng = random.Random(7)
    snippets = list(_ok_fixture_snippets())
    pieces = [*"()[]{}=.,;:'\"\\-+*/%^#~<>&|\n \t0123456789xyz_", "[[", "]]", "--[[", "[==["]
    pieces += ["\0", "é", "end", "local", "function", "goto", "::", "...", "<const>", "return"]
    for _ in range(400):
        chars = list(rng.choice(snippets))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(chars) + 1)
            if rng.random() < 0.4 and chars:
                del chars[min(i, len(chars) - 1)]
            else:
                chars.insert(i, rng.choice(pieces))
        code = "".join(chars)
        err = compile_check(code)
        facts = snippet_facts(code)
        assert (err is None) == (facts is not None)
        if err is not None and err.col is not None:
            rows = code.split("\n")
            assert 1 <= err.line <= len(rows) and 0 <= err.col <= len(rows[err.line - 1])
        if facts is not None:
            rows = code.split("\n")
            for a in facts.accesses:
                assert a.col is not None and rows[a.line - 1][a.col :].startswith(a.name)
