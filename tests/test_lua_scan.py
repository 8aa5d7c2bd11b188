"""The Lua scanner: exact tokens, globals, returned keys and error positions, on both lexers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tea_lsp.langs import lua_scan

Access = tuple[str, int, str, str | None]

SCANS: list[tuple[str, list[Access], frozenset[str], bool]] = [
    (
        "local x = (state.total or 0) + 1\nreturn { total = x }\n",
        [("state", 11, "get", "total")],
        frozenset({"total"}),
        False,
    ),
    (
        "total = (total or 0) + state.count + state[\"other\"]\nreturn {n = total, ['k'] = 1}",
        [
            ("total", 0, "set", None),
            ("total", 9, "get", None),
            ("state", 23, "get", "count"),
            ("state", 37, "get", "other"),
            ("total", 64, "get", None),
        ],
        frozenset({"k", "n"}),
        False,
    ),
    (
        "local t = {}\nfor i, v in ipairs(state.items) do t[i] = v .. os.date('%Y') end\nreturn t",
        [("ipairs", 25, "get", None), ("state", 32, "get", "items"), ("os", 60, "get", "date")],
        frozenset(),
        True,
    ),
    (
        "x, y = y, x\nf{a = 1}:m 'arg'\nreturn nil",
        [
            ("x", 0, "set", None),
            ("y", 3, "set", None),
            ("y", 7, "get", None),
            ("x", 10, "get", None),
            ("f", 12, "get", None),
        ],
        frozenset(),
        False,
    ),
    (
        "local function f(a, ...) return g(a) end\nstate.out = f(1)\n",
        [("g", 32, "get", None), ("state", 41, "get", None)],
        frozenset(),
        False,
    ),
    ("goto done\n::done::\nlocal _ENV = {}\nhidden = 1", [], frozenset(), False),
]


@pytest.mark.parametrize(("code", "accesses", "keys", "opaque"), SCANS)
@pytest.mark.parametrize(
    "comment", ["", "\n-- a comment", "\n--[==[ a long\ncomment ]==]", "\n-- [[x]]"]
)
def test_scan_facts(
    code: str, accesses: list[Access], keys: frozenset[str], opaque: bool, comment: str
) -> None:
    # Without a comment the code takes the comment-free lexer; with one, the general lexer.
    got, got_keys, got_opaque = lua_scan.scan_accesses(code + comment)
    assert (got, got_keys, got_opaque) == (accesses, keys, opaque)
    result = lua_scan.scan(code + comment)
    assert [(a.name, a.offset, a.kind, a.field) for a in result.accesses] == accesses
    assert (result.return_keys, result.returns_opaque) == (keys, opaque)


def test_tokens_with_comments_and_long_strings() -> None:
    tokens = lua_scan.tokenize("a.b = [=[x]=] -- c\n  .5 ~= 0x1p4")
    assert [(t.kind, t.text, t.offset) for t in tokens] == [
        ("name", "a", 0),
        ("op", ".", 1),
        ("name", "b", 2),
        ("op", "=", 4),
        ("str", "[=[x]=]", 6),
        ("num", ".5", 21),
        ("op", "~=", 24),
        ("num", "0x1p4", 27),
        ("eof", "<eof>", 32),
    ]


def test_tokens_without_comments() -> None:
    tokens = lua_scan.tokenize("a.b = 'x' \n  .5 ~= 0x1p4 ... end")
    assert [(t.kind, t.text, t.offset) for t in tokens] == [
        ("name", "a", 0),
        ("op", ".", 1),
        ("name", "b", 2),
        ("op", "=", 4),
        ("str", "'x'", 6),
        ("num", ".5", 13),
        ("op", "~=", 16),
        ("num", "0x1p4", 19),
        ("op", "...", 25),
        ("kw", "end", 29),
        ("eof", "<eof>", 32),
    ]


@pytest.mark.parametrize(
    ("code", "offset"),
    [
        ('x = "abc', 3),
        ("x = 1 @ 2", 5),
        ("x = 1\r\ny = 'a", 10),
        ("return é", 6),
        ("x = 1 -- note\n$", 13),
    ],
)
def test_lex_error_offset(code: str, offset: int) -> None:
    with pytest.raises(lua_scan.LexError) as info:
        lua_scan.tokenize(code)
    assert info.value.offset == offset
    assert lua_scan.error_token(code) is None


@pytest.mark.parametrize(
    ("code", "token"),
    [
        ("x = = 1", ("op", "=", 4)),
        ("return {", ("eof", "<eof>", 8)),
        ("local 1 = 2", ("num", "1", 6)),
        ("f(", ("eof", "<eof>", 2)),
        ("a.b.", ("eof", "<eof>", 4)),
        ("x = y z", ("eof", "<eof>", 7)),
        ("x = 1 -- c\ny = = 2", ("op", "=", 15)),
    ],
)
def test_error_token(code: str, token: tuple[str, str, int]) -> None:
    found = lua_scan.error_token(code)
    assert found is not None
    assert (found.kind, found.text, found.offset) == token
    with pytest.raises(lua_scan.ParseError):
        lua_scan.scan(code)


_PIECES = st.sampled_from(
    [
        *("x", "state", "local", "end", "return", "_ENV", "a1", "0", "3.5", "0x1F", ".5", "1e3"),
        *("'s'", '"q"', "'open", '"\\n"', "'\\z  '", "[", "]", "=", "==", "-", ".", "..", "..."),
        *("(", ")", "{", "}", ",", ";", ":", "::", "~=", "<", "<=", "//", "#", "@", "é", "$"),
        *(" ", "  ", "\n", "\r\n", "\t", "--", "-- note", "---", "--[", "--]]"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=30))
def test_both_lexers_agree(pieces: list[str]) -> None:
    """Code without long strings or long comments: the one-call lexer and the general one give
    the same tokens and offsets, and refuse the same code (the general one says where)."""
    code = "".join(pieces)
    if "--[" in code or "[[" in code or "[=" in code:
        return
    plain = lua_scan._lex_plain(code)
    try:
        general = lua_scan._lex_any(code)
    except lua_scan.LexError:
        assert plain is None
        return
    assert plain is not None
    texts, kinds, offsets = plain
    assert (texts, kinds) == (general[0], general[1])
    expected = [general[2][i] for i in range(len(texts))]
    assert [offsets[i] for i in range(len(texts))] == expected
    assert [offsets[i] for i in reversed(range(len(texts)))] == expected[::-1]
