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
NAME, KEYWORD, NUMBER, STRING, OP, EOF = "name", "kw", "num", "str", "op", "eof"  # = group names

_TOKEN = re.compile(
    r"""
    [ \t\r\n\f\v]*
    (?:
      (?P<lcomment>--\[(?P<lce>=*)\[.*?\](?P=lce)\])
    | (?P<comment>--[^\r\n]*)
    | (?P<str>\[(?P<lse>=*)\[.*?\](?P=lse)\]
             |"(?:[^"\\\r\n]|\\z\s*|\\(?:\r\n|\n\r|.|\n|\r))*"
             |'(?:[^'\\\r\n]|\\z\s*|\\(?:\r\n|\n\r|.|\n|\r))*')
    | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
    | (?P<num>0[xX](?:[0-9a-fA-F]*(?:\.[0-9a-fA-F]*)?)(?:[pP][+-]?[0-9]+)?
             |(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    | (?P<op>\.\.\.|\.\.|::|<<|>>|//|==|~=|<=|>=|[-+*/%^\#&~|<>=(){}\[\];:,.])
    | (?P<end>\Z)
    )
    """,
    re.S | re.X,
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


def tokenize(code: str) -> list[Token]:
    """Tokens of ``code`` (comments and blanks dropped), ending with an ``EOF`` token."""
    out: list[Token] = []
    append = out.append
    pos = 0
    for m in _TOKEN.finditer(code):
        if m.start() != pos:
            raise LexError(pos)
        pos = m.end()
        kind = m.lastgroup
        if kind == "name":
            text = m.group(kind)
            append(Token(KEYWORD if text in KEYWORDS else NAME, text, m.start(kind)))
        elif kind == "op" or kind == "str" or kind == "num":
            append(Token(kind, m.group(kind), m.start(kind)))
        elif kind == "end":
            break
    else:  # pragma: no cover - the end alternative always matches last
        raise LexError(pos)
    out.append(Token(EOF, "<eof>", len(code)))
    return out


def string_value(literal: str) -> str | None:
    """The value of a simple string literal (no escapes), or ``None``."""
    if len(literal) >= 2 and literal[0] in "\"'" and "\\" not in literal:
        return literal[1:-1]
    if literal.startswith("["):
        m = re.match(r"\[(=*)\[(.*)\]\1\]\Z", literal, re.S)
        if m is not None:
            body = m.group(2)
            # A long string skips a first newline.
            for nl in ("\r\n", "\n\r", "\n", "\r"):
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


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0
        self.tok = tokens[0]
        self.scopes: list[set[str]] = [set()]
        self.env_locals = 0  # how many scopes declare a local '_ENV'
        self.fdepth = 0
        self.accesses: list[RawAccess] = []
        self.return_keys: set[str] = set()
        self.returns_opaque = False

    # -- tokens
    def advance(self) -> Token:
        t = self.tok
        self.i += 1
        self.tok = self.toks[self.i] if self.i < len(self.toks) else self.toks[-1]
        return t

    def check(self, text: str) -> bool:
        t = self.tok
        return t.text == text and t.kind in (OP, KEYWORD)

    def accept(self, text: str) -> bool:
        if self.check(text):
            self.advance()
            return True
        return False

    def expect(self, text: str) -> Token:
        if not self.check(text):
            raise ParseError(self.tok, f"'{text}' expected")
        return self.advance()

    def expect_name(self) -> Token:
        if self.tok.kind != NAME:
            raise ParseError(self.tok, "<name> expected")
        return self.advance()

    def peek(self, k: int = 1) -> Token:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else self.toks[-1]

    # -- scopes
    def open_scope(self) -> None:
        self.scopes.append(set())

    def close_scope(self) -> None:
        if "_ENV" in self.scopes.pop():
            self.env_locals -= 1

    def declare(self, name: str) -> None:
        scope = self.scopes[-1]
        if name == "_ENV" and name not in scope:
            self.env_locals += 1
        scope.add(name)

    def is_local(self, name: str) -> bool:
        return any(name in s for s in reversed(self.scopes))

    def free(self, tok: Token) -> bool:
        """Whether a name token refers to a global (not a local, not '_ENV')."""
        return tok.text != "_ENV" and not self.is_local(tok.text) and self.env_locals == 0

    def record(self, tok: Token, kind: str, field: str | None) -> None:
        self.accesses.append(RawAccess(tok.text, tok.offset, kind, field))

    # -- chunk
    def chunk(self) -> None:
        self.block()
        if self.tok.kind != EOF:
            raise ParseError(self.tok, "'<eof>' expected")

    def block(self) -> None:
        while True:
            t = self.tok
            if t.kind == EOF or (t.kind == KEYWORD and t.text in _BLOCK_END):
                return
            if t.kind == KEYWORD and t.text == "return":
                self.retstat()
                return
            self.statement()

    def retstat(self) -> None:
        self.advance()
        t = self.tok
        if not (t.kind == EOF or (t.kind == KEYWORD and t.text in _BLOCK_END) or self.check(";")):
            keys = self.expr()
            first_is_nil = t.kind == KEYWORD and t.text == "nil"
            while self.accept(","):
                self.expr()
            if self.fdepth == 0 and not first_is_nil:
                if keys is None or keys[1]:
                    self.returns_opaque = True
                else:
                    self.return_keys.update(keys[0])
        self.accept(";")
        t = self.tok
        if not (t.kind == EOF or (t.kind == KEYWORD and t.text in _BLOCK_END)):
            raise ParseError(t, "'<eof>' expected")

    def statement(self) -> None:
        t = self.tok
        text = t.text
        if t.kind == OP:
            if text == ";":
                self.advance()
                return
            if text == "::":
                self.advance()
                self.expect_name()
                self.expect("::")
                return
        elif t.kind == KEYWORD:
            if text == "if":
                self.advance()
                self.expr()
                self.expect("then")
                self.scoped_block()
                while self.check("elseif"):
                    self.advance()
                    self.expr()
                    self.expect("then")
                    self.scoped_block()
                if self.accept("else"):
                    self.scoped_block()
                self.expect("end")
                return
            if text == "while":
                self.advance()
                self.expr()
                self.expect("do")
                self.scoped_block()
                self.expect("end")
                return
            if text == "do":
                self.advance()
                self.scoped_block()
                self.expect("end")
                return
            if text == "for":
                self.forstat()
                return
            if text == "repeat":
                self.advance()
                self.open_scope()
                self.block()
                self.expect("until")
                self.expr()  # sees the body's locals
                self.close_scope()
                return
            if text == "function":
                self.funcstat()
                return
            if text == "local":
                self.advance()
                if self.accept("function"):
                    name = self.expect_name()
                    self.declare(name.text)
                    self.funcbody(method=False)
                else:
                    self.localstat()
                return
            if text == "return":  # pragma: no cover - handled by block()
                self.retstat()
                return
            if text == "break":
                self.advance()
                return
            if text == "goto":
                self.advance()
                self.expect_name()
                return
        self.exprstat()

    def scoped_block(self) -> None:
        self.open_scope()
        self.block()
        self.close_scope()

    def forstat(self) -> None:
        self.advance()
        first = self.expect_name()
        names = [first.text]
        if self.accept("="):
            self.expr()
            self.expect(",")
            self.expr()
            if self.accept(","):
                self.expr()
        else:
            while self.accept(","):
                names.append(self.expect_name().text)
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
        head = self.expect_name()
        fields: list[str] = []
        method = False
        while self.check("."):
            self.advance()
            fields.append(self.expect_name().text)
        if self.accept(":"):
            fields.append(self.expect_name().text)
            method = True
        if self.free(head):
            if not fields:
                self.record(head, "set", None)
            else:
                self.record(head, "get", fields[0] if len(fields) > 1 else None)
        self.funcbody(method=method)

    def localstat(self) -> None:
        names: list[str] = []
        while True:
            names.append(self.expect_name().text)
            if self.accept("<"):
                self.expect_name()
                self.expect(">")
            if not self.accept(","):
                break
        if self.accept("="):
            self.explist()
        for n in names:
            self.declare(n)

    def exprstat(self) -> None:
        target = self.suffixedexp()
        if self.check("=") or self.check(","):
            targets = [target]
            while self.accept(","):
                targets.append(self.suffixedexp())
            for head, field, nsuffix, last in targets:
                if last == "call" or (nsuffix == 0 and head is None and last != "name"):
                    raise ParseError(self.tok, "syntax error")
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
            raise ParseError(self.tok, "syntax error")
        if head is not None:
            self.record(head, "get", field)

    # -- expressions
    def explist(self) -> None:
        self.expr()
        while self.accept(","):
            self.expr()

    def expr(self, limit: int = 0) -> _TABLE_KEYS | None:
        """Parse an expression; returns the keys when it is exactly a table constructor."""
        t = self.tok
        keys: _TABLE_KEYS | None = None
        if t.text in _UNARY and t.kind in (OP, KEYWORD):
            self.advance()
            self.expr(_UNARY_PRIORITY)
        else:
            keys = self.simpleexp()
        while True:
            t = self.tok
            pri = _BINARY.get(t.text) if t.kind in (OP, KEYWORD) else None
            if pri is None or pri[0] <= limit:
                return keys
            self.advance()
            self.expr(pri[1])
            keys = None

    def simpleexp(self) -> _TABLE_KEYS | None:
        t = self.tok
        kind = t.kind
        if kind in (NUMBER, STRING):
            self.advance()
            return None
        if kind == KEYWORD:
            if t.text in ("nil", "true", "false"):
                self.advance()
                return None
            if t.text == "function":
                self.advance()
                self.funcbody(method=False)
                return None
        elif kind == OP:
            if t.text == "...":
                self.advance()
                return None
            if t.text == "{":
                return self.constructor()
        head, field, _n, _last = self.suffixedexp()
        if head is not None:
            self.record(head, "get", field)
        return None

    def suffixedexp(self) -> tuple[Token | None, str | None, int, str]:
        """``(global head token, first field read, number of suffixes, last suffix kind)``."""
        t = self.tok
        head: Token | None = None
        if t.kind == NAME:
            self.advance()
            if self.free(t):
                head = t
        elif t.kind == OP and t.text == "(":
            self.advance()
            self.expr()
            self.expect(")")
        else:
            raise ParseError(t, "unexpected symbol")
        field: str | None = None
        nsuffix = 0
        last = "name" if t.kind == NAME else "paren"
        while True:
            t = self.tok
            text = t.text
            if t.kind == OP:
                if text == ".":
                    self.advance()
                    name = self.expect_name()
                    if nsuffix == 0:
                        field = name.text
                    last = "field"
                elif text == "[":
                    self.advance()
                    if nsuffix == 0 and self.tok.kind == STRING and self.peek().text == "]":
                        field = string_value(self.tok.text)
                    self.expr()
                    self.expect("]")
                    last = "index"
                elif text == ":":
                    self.advance()
                    name = self.expect_name()
                    if nsuffix == 0:
                        field = name.text
                    self.funcargs()
                    last = "call"
                elif text in ("(", "{"):
                    self.funcargs()
                    last = "call"
                else:
                    break
            elif t.kind == STRING:
                self.funcargs()
                last = "call"
            else:
                break
            nsuffix += 1
        return head, field, nsuffix, last

    def funcargs(self) -> None:
        t = self.tok
        if t.kind == STRING:
            self.advance()
        elif t.text == "{":
            self.constructor()
        elif t.text == "(":
            self.advance()
            if not self.check(")"):
                self.explist()
            self.expect(")")
        else:
            raise ParseError(t, "function arguments expected")

    def constructor(self) -> _TABLE_KEYS:
        self.expect("{")
        keys: set[str] = set()
        dynamic = False
        while not self.check("}"):
            t = self.tok
            if t.kind == NAME and self.peek().text == "=" and self.peek().kind == OP:
                self.advance()
                self.advance()
                keys.add(t.text)
                self.expr()
            elif t.kind == OP and t.text == "[":
                self.advance()
                key, start = self.tok, self.i
                self.expr()
                single = self.i == start + 1
                self.expect("]")
                self.expect("=")
                self.expr()
                value = string_value(key.text) if key.kind == STRING and single else None
                if value is not None:
                    keys.add(value)
                else:
                    dynamic = True
            else:
                self.expr()
            if not (self.accept(",") or self.accept(";")):
                break
        self.expect("}")
        return frozenset(keys), dynamic

    def funcbody(self, *, method: bool) -> None:
        self.fdepth += 1
        self.open_scope()
        if method:
            self.declare("self")
        self.expect("(")
        if not self.check(")"):
            while True:
                if self.accept("..."):
                    break
                self.declare(self.expect_name().text)
                if not self.accept(","):
                    break
        self.expect(")")
        self.block()
        self.expect("end")
        self.close_scope()
        self.fdepth -= 1


def scan(code: str) -> ScanResult:
    """Global accesses and returned keys of a snippet that compiles.

    Raises ``LexError``/``ParseError`` on code it cannot parse and ``RecursionError`` on
    extreme nesting; callers fall back to the bytecode lister then.
    """
    parser = _Parser(tokenize(code))
    parser.chunk()
    accesses = sorted(parser.accesses, key=lambda a: a.offset)
    return ScanResult(tuple(accesses), frozenset(parser.return_keys), parser.returns_opaque)


def error_token(code: str) -> Token | None:
    """The token where parsing stops, for a snippet that does not compile (best effort)."""
    try:
        tokens = tokenize(code)
    except LexError:
        return None
    try:
        _Parser(tokens).chunk()
    except ParseError as exc:
        return exc.token
    except RecursionError:
        return None
    return None
