"""A Lua 5.4 tokenizer and scope pass, in pure Python (no VM).

Used on snippets that already compiled in the sandboxed VM, to list every access to a global
name with its exact line and column, the state fields read (``state.count``), and the keys of
literal tables the chunk returns. It follows the Lua 5.4 grammar (``lparser.c``) closely, so it
also pinpoints the token where a broken snippet stops parsing.

Scoping follows Lua: a ``local`` becomes visible after its statement (``local x = x`` reads the
global ``x``), ``local function f`` is visible in its own body, loop variables live in the loop
body, ``repeat ... until cond`` sees the body's locals, function parameters (and ``self`` for
``function a:b()``) are locals of the body, and labels/``goto`` names are not variables. When a
local named ``_ENV`` is in scope, free names are fields of that table, not globals.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

KEYWORDS = frozenset(
    {
        *("and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto"),
        *("if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true"),
        *("until", "while"),
    }
)

# Token kinds.
NAME, KEYWORD, NUMBER, STRING, OP, EOF = "name", "kw", "num", "str", "op", "eof"

_NAME = r"[A-Za-z_][A-Za-z_0-9]*"
_NUMBER = (
    r"0[xX](?:[0-9a-fA-F]*(?:\.[0-9a-fA-F]*)?)(?:[pP][+-]?[0-9]+)?"
    r"|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
)
_SHORT_STRING = (
    r'"(?:[^"\\\r\n]|\\z\s*|\\(?:\r\n|\n\r|.|\n|\r))*"'
    r"|'(?:[^'\\\r\n]|\\z\s*|\\(?:\r\n|\n\r|.|\n|\r))*'"
)
_BLANKS = r"[ \t\r\n\f\v]"
# Operators that no comment, string or number starts with, then the others ('-' '[' '.').
_PLAIN_OP = r"::|<<|>>|//|==|~=|<=|>=|[+*/%^#&~|<>=(){}\];:,]"
_OTHER_OP = r"\.\.\.|\.\.|[-.\[]"

# Any code: one match per token, with the blanks before it; ``findall`` gives (blanks, name,
# number, comment, <level>, string, <level>, operator, bad) and a Python loop classifies. The
# alternatives are tried in Lua's order where they overlap (a comment before '-', a long
# string before '[', a number before '.'); ``bad`` is any other character: lexing stops there.
_TOKEN = re.compile(
    rf"""({_BLANKS}*)(?:({_NAME})|({_NUMBER})|(--\[(=*)\[.*?\]\5\]|--[^\r\n]*)
    |(\[(=*)\[.*?\]\7\]|{_SHORT_STRING})|({_PLAIN_OP}|{_OTHER_OP})|([^ \t\r\n\f\v]))""",
    re.S | re.X,
)
# Code without "--[", "[[" and "[=" has no long string or comment: then ``split`` on one group
# gives blanks and tokens (line comments included) alternately, all in C.
_PLAIN_TOKEN = re.compile(
    rf"({_NAME}|{_PLAIN_OP}|{_NUMBER}|{_SHORT_STRING}|--[^\r\n]*|{_OTHER_OP}|[^ \t\r\n\f\v])",
    re.S,
)
_BREAK = re.compile(r"\r\n|\n\r|\n|\r")

# Binary operator priorities (left, right), as in lparser.c.
_BINARY = {
    "or": (1, 1),
    "and": (2, 2),
    "<": (3, 3),
    ">": (3, 3),
    "<=": (3, 3),
    ">=": (3, 3),
    "~=": (3, 3),
    "==": (3, 3),
    "|": (4, 4),
    "~": (5, 5),
    "&": (6, 6),
    "<<": (7, 7),
    ">>": (7, 7),
    "..": (9, 8),
    "+": (10, 10),
    "-": (10, 10),
    "*": (11, 11),
    "/": (11, 11),
    "//": (11, 11),
    "%": (11, 11),
    "^": (14, 13),
}
_UNARY = frozenset(("not", "-", "#", "~"))
_UNARY_PRIORITY = 12
_BLOCK_END = frozenset(("end", "else", "elseif", "until", "<eof>"))
_SIMPLE = frozenset(("nil", "true", "false", "..."))
_ATOM = frozenset((NUMBER, STRING))
_SUFFIX_START = frozenset((".", "[", ":", "(", "{"))  # and a string: a suffix follows a name
_NEWLINES = ("\r\n", "\n\r", "\n", "\r")


class Token:
    __slots__ = ("kind", "offset", "text")

    def __init__(self, kind: str, text: str, offset: int) -> None:
        self.kind = kind
        self.text = text
        self.offset = offset

    def __repr__(self) -> str:
        return f"Token({self.kind!r}, {self.text!r}, {self.offset})"


class LexError(Exception):
    def __init__(self, offset: int) -> None:
        super().__init__(f"unexpected character at offset {offset}")
        self.offset = offset


class ParseError(Exception):
    def __init__(self, token: Token, message: str) -> None:
        super().__init__(message)
        self.token = token


BAD = "bad"  # (kind) a character no token starts with, or an unfinished string
COMMENT = "comment"  # (kind) a line comment, in :func:`_lex_plain` only
# The kind of a token text: operators and keywords by text, other tokens by first character.
_KIND_OF_TEXT = {
    **dict.fromkeys(KEYWORDS, KEYWORD),
    **dict.fromkeys(("...", "..", "::", "<<", ">>", "//", "==", "~=", "<=", ">="), OP),
    **dict.fromkeys("-+*/%^#&~|<>=(){}[];:,.", OP),
    '"': BAD,
    "'": BAD,
}
_KIND_OF_FIRST = {
    **dict.fromkeys("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_", NAME),
    **dict.fromkeys("0123456789.", NUMBER),
    '"': STRING,
    "'": STRING,
    "-": COMMENT,  # a longer token than '-' that starts with '-'
}


class _Offsets:
    """Offsets of the tokens of :func:`_lex_plain`, summed from the pieces when asked for."""

    __slots__ = ("_at", "_index", "_kept", "_pieces")

    def __init__(self, pieces: list[str], kept: list[int] | None = None) -> None:
        self._pieces = pieces  # blanks, token, blanks, ..., token, blanks
        self._kept = kept  # which of those tokens are tokens (not comments); None: all
        self._index = 0  # the last piece token asked for,
        self._at = len(pieces[0])  # and its offset

    def __getitem__(self, i: int) -> int:
        kept = self._kept
        if kept is not None:  # past the last token: the end of the code, as for EOF
            i = kept[i] if i < len(kept) else len(self._pieces) // 2 + i - len(kept)
        if i < self._index:
            self._index, self._at = 0, len(self._pieces[0])
        at = self._at + sum(map(len, self._pieces[2 * self._index + 1 : 2 * i + 1]))
        self._index, self._at = i, at
        return at


_Lexed = tuple[list[str], list[str], list[int] | _Offsets]  # texts, kinds, offsets


def _lex(code: str) -> _Lexed:
    """The tokens' texts, kinds and offsets, ending with two ``EOF`` tokens (one to spare).

    Comments and blanks are dropped. Token texts identify keywords and operators on their own:
    a name is never a keyword, and strings, numbers and ``<eof>`` never spell an operator.
    """
    if "--[" not in code and "[[" not in code and "[=" not in code:
        lexed = _lex_plain(code)
        if lexed is not None:
            return lexed
    return _lex_any(code)


def _lex_plain(code: str) -> _Lexed | None:
    """:func:`_lex` for code without long strings and long comments; ``None`` on a bad token."""
    pieces = _PLAIN_TOKEN.split(code)
    texts = pieces[1::2]
    kinds = [_KIND_OF_TEXT.get(t) or _KIND_OF_FIRST.get(t[0], BAD) for t in texts]
    if BAD in kinds:
        return None
    kept: list[int] | None = None
    if COMMENT in kinds:
        kept = [i for i, kind in enumerate(kinds) if kind != COMMENT]
        texts = [texts[i] for i in kept]
        kinds = [kinds[i] for i in kept]
    texts += ("<eof>", "<eof>")
    kinds += (EOF, EOF)
    return texts, kinds, _Offsets(pieces, kept)


def _lex_any(code: str) -> _Lexed:
    texts: list[str] = []
    kinds: list[str] = []
    offsets: list[int] = []
    text_add, kind_add, offset_add = texts.append, kinds.append, offsets.append
    keywords = KEYWORDS
    pos = 0
    for blanks, name, num, comment, _lc, string, _ls, op, bad in _TOKEN.findall(code):
        start = pos + len(blanks)
        if name:
            text_add(name)
            kind_add(KEYWORD if name in keywords else NAME)
            offset_add(start)
            pos = start + len(name)
        elif op:
            text_add(op)
            kind_add(OP)
            offset_add(start)
            pos = start + len(op)
        elif num:
            text_add(num)
            kind_add(NUMBER)
            offset_add(start)
            pos = start + len(num)
        elif string:
            text_add(string)
            kind_add(STRING)
            offset_add(start)
            pos = start + len(string)
        elif bad:
            raise LexError(pos)
        else:
            pos = start + len(comment)
    texts += ("<eof>", "<eof>")
    kinds += (EOF, EOF)
    offsets += (len(code), len(code))
    return texts, kinds, offsets


def tokenize(code: str) -> list[Token]:
    """Tokens of ``code`` (comments and blanks dropped), ending with an ``EOF`` token."""
    texts, kinds, offsets = _lex(code)
    return [Token(kinds[i], texts[i], offsets[i]) for i in range(len(texts) - 1)]


def string_value(literal: str) -> str | None:
    """The value of a simple string literal (no escapes), or ``None``."""
    if len(literal) >= 2 and literal[0] in "\"'" and "\\" not in literal:
        return literal[1:-1]
    if literal.startswith("["):
        m = re.match(r"\[(=*)\[(.*)\]\1\]\Z", literal, re.S)
        if m is not None:
            body = m.group(2)
            # A long string skips a first newline.
            for nl in _NEWLINES:
                if body.startswith(nl):
                    return body[len(nl) :]
            return body
    return None


class Lines:
    """Offsets → (1-based line, 0-based column), with Lua's line breaks."""

    __slots__ = ("starts",)

    def __init__(self, code: str) -> None:
        self.starts = [0] + [m.end() for m in _BREAK.finditer(code)]

    def position(self, offset: int) -> tuple[int, int]:
        i = bisect_right(self.starts, offset) - 1
        return i + 1, offset - self.starts[i]


@dataclass(frozen=True, slots=True)
class RawAccess:
    name: str
    offset: int
    kind: str  # "get" | "set"
    field: str | None


@dataclass(frozen=True, slots=True)
class ScanResult:
    accesses: tuple[RawAccess, ...]
    return_keys: frozenset[str]
    returns_opaque: bool


_TABLE_KEYS = tuple[frozenset[str], bool]  # (keys, has dynamic keys)
Access = tuple[str, int, str, str | None]  # (name, offset, "get" | "set", field)
_Suffixed = tuple[int | None, str | None, int, str]


class _Parser:
    """Recursive descent over the token lists, one method per grammar rule of ``lparser.c``.

    ``t`` is the current token's text (enough to recognise every keyword and operator);
    ``kinds`` tells names, strings and numbers apart. Locals in scope are counted by name in
    ``visible``, so "is this name a global" is one dictionary look-up.
    """

    __slots__ = (
        "accesses",
        "env_locals",
        "fdepth",
        "i",
        "kinds",
        "offsets",
        "return_keys",
        "returns_opaque",
        "scopes",
        "t",
        "texts",
        "visible",
    )

    def __init__(self, lexed: _Lexed) -> None:
        # Two EOF tokens end the lists: looking one token past the end needs no bounds check.
        texts, self.kinds, self.offsets = lexed
        self.texts = texts
        self.i = 0
        self.t = texts[0]
        self.scopes: list[set[str]] = [set()]
        self.visible: dict[str, int] = {}  # local name -> how many open scopes declare it
        self.env_locals = 0  # how many scopes declare a local '_ENV'
        self.fdepth = 0
        self.accesses: list[tuple[int, str, str | None]] = []  # (token, kind, field)
        self.return_keys: set[str] = set()
        self.returns_opaque = False

    # -- tokens
    def token(self) -> Token:
        i = self.i
        return Token(self.kinds[i], self.texts[i], self.offsets[i])

    def advance(self) -> None:
        self.i += 1
        self.t = self.texts[self.i]

    def expect(self, text: str) -> None:
        if self.t != text:
            raise ParseError(self.token(), f"'{text}' expected")
        self.i += 1
        self.t = self.texts[self.i]

    def expect_name(self) -> int:
        """Index of the current token, which must be a name; moves past it."""
        i = self.i
        if self.kinds[i] != NAME:
            raise ParseError(self.token(), "<name> expected")
        self.i = i + 1
        self.t = self.texts[i + 1]
        return i

    # -- scopes
    def open_scope(self) -> None:
        self.scopes.append(set())

    def close_scope(self) -> None:
        scope = self.scopes.pop()
        if "_ENV" in scope:
            self.env_locals -= 1
        visible = self.visible
        for name in scope:
            count = visible[name] - 1
            if count:
                visible[name] = count
            else:
                del visible[name]

    def declare(self, name: str) -> None:
        scope = self.scopes[-1]
        if name not in scope:
            scope.add(name)
            self.visible[name] = self.visible.get(name, 0) + 1
            if name == "_ENV":
                self.env_locals += 1

    def free(self, name: str) -> bool:
        """Whether a name refers to a global (not a local, not '_ENV')."""
        return self.env_locals == 0 and name not in self.visible and name != "_ENV"

    def record(self, i: int, kind: str, field: str | None) -> None:
        self.accesses.append((i, kind, field))

    # -- chunk
    def chunk(self) -> None:
        self.block()
        if self.t != "<eof>":
            raise ParseError(self.token(), "'<eof>' expected")

    def block(self) -> None:
        while True:
            t = self.t
            if t in _BLOCK_END:
                return
            if t == "return":
                self.retstat()
                return
            self.statement()

    def retstat(self) -> None:
        self.advance()
        t = self.t
        if t not in _BLOCK_END and t != ";":
            keys = self.expr()
            while self.t == ",":
                self.advance()
                self.expr()
            if self.fdepth == 0 and t != "nil":
                if keys is None or keys[1]:
                    self.returns_opaque = True
                else:
                    self.return_keys.update(keys[0])
        if self.t == ";":
            self.advance()
        if self.t not in _BLOCK_END:
            raise ParseError(self.token(), "'<eof>' expected")

    def statement(self) -> None:
        t = self.t
        if self.kinds[self.i] == NAME:
            self.exprstat()
        elif t == ";":
            self.advance()
        elif t == "::":
            self.advance()
            self.expect_name()
            self.expect("::")
        elif t == "if":
            self.advance()
            self.expr()
            self.expect("then")
            self.scoped_block()
            while self.t == "elseif":
                self.advance()
                self.expr()
                self.expect("then")
                self.scoped_block()
            if self.t == "else":
                self.advance()
                self.scoped_block()
            self.expect("end")
        elif t == "while":
            self.advance()
            self.expr()
            self.expect("do")
            self.scoped_block()
            self.expect("end")
        elif t == "do":
            self.advance()
            self.scoped_block()
            self.expect("end")
        elif t == "for":
            self.forstat()
        elif t == "repeat":
            self.advance()
            self.open_scope()
            self.block()
            self.expect("until")
            self.expr()  # sees the body's locals
            self.close_scope()
        elif t == "function":
            self.funcstat()
        elif t == "local":
            self.advance()
            if self.t == "function":
                self.advance()
                self.declare(self.texts[self.expect_name()])
                self.funcbody(method=False)
            else:
                self.localstat()
        elif t == "return":  # pragma: no cover - handled by block()
            self.retstat()
        elif t == "break":
            self.advance()
        elif t == "goto":
            self.advance()
            self.expect_name()
        else:
            self.exprstat()

    def scoped_block(self) -> None:
        self.open_scope()
        self.block()
        self.close_scope()

    def forstat(self) -> None:
        self.advance()
        texts = self.texts
        names = [texts[self.expect_name()]]
        if self.t == "=":
            self.advance()
            self.expr()
            self.expect(",")
            self.expr()
            if self.t == ",":
                self.advance()
                self.expr()
        else:
            while self.t == ",":
                self.advance()
                names.append(texts[self.expect_name()])
            self.expect("in")
            self.explist()
        self.expect("do")
        self.open_scope()
        for n in names:
            self.declare(n)
        self.block()
        self.close_scope()
        self.expect("end")

    def funcstat(self) -> None:
        self.advance()
        texts = self.texts
        head = self.expect_name()
        fields: list[str] = []
        method = False
        while self.t == ".":
            self.advance()
            fields.append(texts[self.expect_name()])
        if self.t == ":":
            self.advance()
            fields.append(texts[self.expect_name()])
            method = True
        if self.free(texts[head]):
            if not fields:
                self.record(head, "set", None)
            else:
                self.record(head, "get", fields[0] if len(fields) > 1 else None)
        self.funcbody(method=method)

    def localstat(self) -> None:
        texts = self.texts
        names: list[str] = []
        while True:
            names.append(texts[self.expect_name()])
            if self.t == "<":
                self.advance()
                self.expect_name()
                self.expect(">")
            if self.t != ",":
                break
            self.advance()
        if self.t == "=":
            self.advance()
            self.explist()
        for n in names:
            self.declare(n)

    def exprstat(self) -> None:
        target = self.suffixedexp()
        if self.t == "=" or self.t == ",":
            targets = [target]
            while self.t == ",":
                self.advance()
                targets.append(self.suffixedexp())
            for head, field, nsuffix, last in targets:
                if last == "call" or (nsuffix == 0 and head is None and last != "name"):
                    raise ParseError(self.token(), "syntax error")
                if head is None:
                    continue
                if nsuffix == 0:
                    self.record(head, "set", None)
                else:
                    self.record(head, "get", field if nsuffix > 1 else None)
            self.expect("=")
            self.explist()
            return
        head, field, _nsuffix, last = target
        if last != "call":
            raise ParseError(self.token(), "syntax error")
        if head is not None:
            self.record(head, "get", field)

    # -- expressions
    def explist(self) -> None:
        self.expr()
        while self.t == ",":
            self.advance()
            self.expr()

    def expr(self, limit: int = 0) -> _TABLE_KEYS | None:
        """Parse an expression; returns the keys when it is exactly a table constructor."""
        keys: _TABLE_KEYS | None = None
        i = self.i
        t = self.t
        kind = self.kinds[i]
        if kind == NAME:  # simpleexp() of a name, inline (a name is never unary nor simple)
            after = self.texts[i + 1]
            if after in _SUFFIX_START or self.kinds[i + 1] == STRING:
                head, field, _n, _last = self.suffixedexp()
                if head is not None:
                    self.accesses.append((head, "get", field))
            else:  # a name alone: suffixedexp() without suffixes, inline
                self.i = i + 1
                self.t = after
                if self.env_locals == 0 and t not in self.visible and t != "_ENV":
                    self.accesses.append((i, "get", None))
        elif t in _UNARY:
            self.advance()
            self.expr(_UNARY_PRIORITY)
        elif kind in _ATOM or t in _SIMPLE:  # simpleexp() of a literal, inline
            self.i = i + 1
            self.t = self.texts[i + 1]
        elif t == "{":
            keys = self.constructor()
        else:
            keys = self.simpleexp()
        while True:
            pri = _BINARY.get(self.t)
            if pri is None or pri[0] <= limit:
                return keys
            self.i += 1
            self.t = self.texts[self.i]
            self.expr(pri[1])
            keys = None

    def simpleexp(self) -> _TABLE_KEYS | None:
        t = self.t
        kind = self.kinds[self.i]
        if kind in _ATOM or t in _SIMPLE:
            self.advance()
            return None
        if t == "function":
            self.advance()
            self.funcbody(method=False)
            return None
        if t == "{":
            return self.constructor()
        head, field, _n, _last = self.suffixedexp()
        if head is not None:
            self.record(head, "get", field)
        return None

    def suffixedexp(self) -> _Suffixed:
        """``(global head token, first field read, number of suffixes, last suffix kind)``."""
        i = self.i
        texts, kinds = self.texts, self.kinds
        head: int | None = None
        if kinds[i] == NAME:
            self.i = i + 1
            self.t = texts[i + 1]
            if self.env_locals == 0 and texts[i] not in self.visible and texts[i] != "_ENV":
                head = i  # a global: self.free(), inline
            last = "name"
        elif self.t == "(":
            self.advance()
            self.expr()
            self.expect(")")
            last = "paren"
        else:
            raise ParseError(self.token(), "unexpected symbol")
        field: str | None = None
        nsuffix = 0
        while True:
            t = self.t
            if t == ".":
                self.i = j = self.i + 1
                self.t = texts[j]
                if kinds[j] != NAME:
                    raise ParseError(self.token(), "<name> expected")
                self.i = j + 1
                self.t = texts[j + 1]
                if nsuffix == 0:
                    field = texts[j]
                last = "field"
            elif t == "[":
                self.advance()
                j = self.i
                if nsuffix == 0 and kinds[j] == STRING and texts[j + 1] == "]":
                    field = string_value(texts[j])
                self.expr()
                self.expect("]")
                last = "index"
            elif t == ":":
                self.advance()
                name = self.expect_name()
                if nsuffix == 0:
                    field = texts[name]
                self.funcargs()
                last = "call"
            elif t == "(" or t == "{" or kinds[self.i] == STRING:
                self.funcargs()
                last = "call"
            else:
                break
            nsuffix += 1
        return head, field, nsuffix, last

    def funcargs(self) -> None:
        t = self.t
        if self.kinds[self.i] == STRING:
            self.advance()
        elif t == "{":
            self.constructor()
        elif t == "(":
            self.advance()
            if self.t != ")":
                self.explist()
            self.expect(")")
        else:
            raise ParseError(self.token(), "function arguments expected")

    def constructor(self) -> _TABLE_KEYS:
        self.expect("{")
        texts, kinds = self.texts, self.kinds
        keys: set[str] = set()
        dynamic = False
        while self.t != "}":
            i = self.i
            if kinds[i] == NAME and texts[i + 1] == "=":
                self.i = i + 2
                self.t = texts[i + 2]
                keys.add(texts[i])
                self.expr()
            elif self.t == "[":
                self.advance()
                start = self.i
                self.expr()
                single = self.i == start + 1
                self.expect("]")
                self.expect("=")
                self.expr()
                value = string_value(texts[start]) if kinds[start] == STRING and single else None
                if value is not None:
                    keys.add(value)
                else:
                    dynamic = True
            else:
                self.expr()
            if self.t == "," or self.t == ";":
                self.advance()
            else:
                break
        self.expect("}")
        return frozenset(keys), dynamic

    def funcbody(self, *, method: bool) -> None:
        self.fdepth += 1
        self.open_scope()
        if method:
            self.declare("self")
        self.expect("(")
        if self.t != ")":
            while True:
                if self.t == "...":
                    self.advance()
                    break
                self.declare(self.texts[self.expect_name()])
                if self.t != ",":
                    break
                self.advance()
        self.expect(")")
        self.block()
        self.expect("end")
        self.close_scope()
        self.fdepth -= 1


def scan_accesses(code: str) -> tuple[list[Access], frozenset[str], bool]:
    """:func:`scan` as plain tuples: ``(accesses in source order, return keys, opaque)``."""
    texts, _kinds, offsets = lexed = _lex(code)
    parser = _Parser(lexed)
    parser.chunk()
    recorded = parser.accesses
    if len(recorded) > 1:
        recorded.sort(key=_first)  # by token: offsets grow with it
    accesses = [(texts[i], offsets[i], kind, field) for i, kind, field in recorded]
    return accesses, frozenset(parser.return_keys), parser.returns_opaque


def _first(item: tuple[int, str, str | None]) -> int:
    return item[0]


def scan(code: str) -> ScanResult:
    """Global accesses and returned keys of a snippet that compiles.

    Raises ``LexError``/``ParseError`` on code it cannot parse and ``RecursionError`` on
    extreme nesting; callers fall back to the bytecode lister then.
    """
    accesses, keys, opaque = scan_accesses(code)
    return ScanResult(tuple(RawAccess(*a) for a in accesses), keys, opaque)


def error_token(code: str) -> Token | None:
    """The token where parsing stops, for a snippet that does not compile (best effort)."""
    try:
        lexed = _lex(code)
    except LexError:
        return None
    try:
        _Parser(lexed).chunk()
    except ParseError as exc:
        return exc.token
    except RecursionError:
        return None
    return None
