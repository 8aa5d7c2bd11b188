"""Static analysis of templates for the checker, with exact positions inside the template.

The parse is Jinja's own (the runner's environment), so the checker and the runner agree on
what is valid. Positions: 1-based line, 0-based code-point column within the template.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Set
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import jinja2
from jinja2 import nodes
from jinja2.lexer import Token, TokenStream, describe_token
from jinja2.parser import Parser

from tea_lsp.langs.jinja.env import (
    AT_OFFSET,
    GLOBAL_NAMES,
    environment,
    has_markup,
    normalize_message,
)
from tea_lsp.util import did_you_mean, suggest

_MAX_TOKENS = 50_000  # parsing costs ~20 µs a token: checking one template stays under ~1 s

ProblemKind = Literal["syntax", "filter", "name", "state_key", "variable", "limit"]


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """One problem found by :func:`check_template`.

    ``line`` is 1-based within the template; ``col``/``end_col`` are 0-based code-point
    columns on that line (``None`` when only the line is known). ``name`` is the offending
    filter, test, variable or state key. Kind ``limit``: the template is too large to check
    (it may still render).
    """

    kind: ProblemKind
    message: str
    line: int
    col: int | None
    end_col: int | None
    name: str | None = None
    suggestion: str | None = None  # the did-you-mean of an unknown filter, test or name


# --------------------------------------------------------------------------- analysis

_WS = re.compile(r"\s*")
_OPENERS = ("variable_begin", "block_begin", "comment_begin", "raw_begin")
_BLOCK_TAGS = frozenset(
    {"for", "if", "macro", "call", "filter", "with", "block", "autoescape", "raw"}
)
_DICT_METHODS = frozenset(dir(dict))
_READ_BASES = frozenset({"state", "variables"})


class _TooManyTokens(Exception):
    pass


class _Recorder:
    """Feeds the parser and remembers where every token is in the source."""

    def __init__(self, source: str, max_tokens: int | None = None) -> None:
        self.source = source
        self.max_tokens = max_tokens if max_tokens is not None else _MAX_TOKENS
        self.cursor = 0
        self.last = (0, 0)
        self.last_opener: int | None = None
        self.tokens: list[tuple[Token, int, int]] = []
        self.index: dict[int, int] = {}
        self.lexer_error: int | None = None

    def _raw(self, env: jinja2.Environment, state: str | None) -> Iterator[tuple[int, str, str]]:
        it = env.lexer.tokeniter(self.source, None, None, state)
        while True:
            try:
                item = next(it)
            except StopIteration:
                return
            except jinja2.TemplateSyntaxError as exc:
                self.lexer_error = self._lexer_error_offset(exc)
                raise
            _, ttype, value = item
            if value:
                start = self.source.find(value, self.cursor)
                if start < 0:
                    start = self.cursor
                end = start + len(value)
                self.cursor = end
            else:
                start = end = self.cursor
            self.last = (start, end)
            if ttype in _OPENERS:
                self.last_opener = start
            yield item

    def _lexer_error_offset(self, exc: jinja2.TemplateSyntaxError) -> int:
        message = exc.message or ""
        m = AT_OFFSET.search(message)
        if m:
            return min(int(m.group(1)), len(self.source))
        if message.startswith("Missing end of") and self.last_opener is not None:
            return self.last_opener
        return _WS.match(self.source, self.cursor).end()  # type: ignore[union-attr]

    def stream(self, env: jinja2.Environment, state: str | None) -> Iterator[Token]:
        wrapped = env.lexer.wrap(self._raw(env, state))
        while True:
            try:
                tok = next(wrapped)
            except StopIteration:
                return
            except jinja2.TemplateSyntaxError:
                if self.lexer_error is None:  # a bad identifier or string escape
                    self.lexer_error = self.last[0]
                raise
            if len(self.tokens) >= self.max_tokens:
                raise _TooManyTokens
            self.index[id(tok)] = len(self.tokens)
            self.tokens.append((tok, *self.last))
            yield tok

    def unclosed_opener(self) -> int | None:
        """Offset of the ``{{``/``{%`` left open at the end of the template, if any."""
        toks = self.tokens
        open_tag: int | None = None
        blocks: list[int] = []
        for i, (tok, start, _) in enumerate(toks):
            if tok.type in ("variable_begin", "block_begin"):
                open_tag = start
            elif tok.type in ("variable_end", "block_end"):
                open_tag = None
            if tok.type != "block_begin" or i + 1 >= len(toks):
                continue
            nxt = toks[i + 1][0]
            if nxt.type != "name":
                continue
            tag = str(nxt.value)
            if tag in _BLOCK_TAGS:
                blocks.append(start)
            elif tag == "set":
                j = i + 2
                while j < len(toks) and toks[j][0].type not in ("block_end", "assign"):
                    j += 1
                if j >= len(toks) or toks[j][0].type != "assign":
                    blocks.append(start)  # {% set x %}...{% endset %}
            elif tag.startswith("end") and blocks:
                blocks.pop()
        if open_tag is not None:
            return open_tag
        return blocks[-1] if blocks else None


class _PosParser(Parser):
    """Jinja's parser, remembering the token of every ``Name`` node."""

    def __init__(self, env: jinja2.Environment, rec: _Recorder, state: str | None) -> None:
        super().__init__(env, "", state=state)
        self.rec = rec
        self.name_tokens: dict[int, int] = {}
        self.stream = TokenStream(rec.stream(env, state), None, None)

    def parse_primary(self, with_namespace: bool = False) -> nodes.Expr:
        tok = self.stream.current
        node = super().parse_primary(with_namespace)
        if isinstance(node, nodes.Name | nodes.NSRef) and tok.type == "name":
            idx = self.rec.index.get(id(tok))
            if idx is not None:
                self.name_tokens[id(node)] = idx
        return node


@dataclass(frozen=True, slots=True)
class _Occurrence:
    name: str
    line: int
    col: int
    end_col: int


@dataclass(frozen=True, slots=True)
class _Analysis:
    syntax: TemplateProblem | None = None
    limit: TemplateProblem | None = None
    filters: tuple[TemplateProblem, ...] = ()
    free_names: tuple[_Occurrence, ...] = ()
    local_names: frozenset[str] = frozenset()
    reads: tuple[tuple[_Occurrence, bool], ...] = ()  # (key occurrence, guarded)
    var_reads: tuple[tuple[_Occurrence, bool], ...] = ()  # variables.<key> reads


@dataclass(slots=True)
class _Walk:
    parser: _PosParser
    free: list[tuple[str, int]] = field(default_factory=list)  # (name, token index)
    locals_: set[str] = field(default_factory=set)
    reads: list[tuple[str, int, bool]] = field(default_factory=list)  # (key, token idx, guarded)
    var_reads: list[tuple[str, int, bool]] = field(default_factory=list)
    guards: set[int] = field(default_factory=set)  # ids of reads that are guarded


def _target_names(target: nodes.Node) -> set[str]:
    if isinstance(target, nodes.Name):
        return {target.name}
    if isinstance(target, nodes.Tuple | nodes.List):
        out: set[str] = set()
        for item in target.items:
            out |= _target_names(item)
        return out
    return set()


def _assigned(body: list[nodes.Node]) -> set[str]:
    """Names assigned in one scope (``set``, ``macro``, imports), ``if`` bodies included."""
    names: set[str] = set()
    stack = list(body)
    while stack:
        n = stack.pop()
        if isinstance(n, nodes.Assign | nodes.AssignBlock):
            names |= _target_names(n.target)
        elif isinstance(n, nodes.Macro):
            names.add(n.name)
        elif isinstance(n, nodes.Import):
            names.add(n.target)
        elif isinstance(n, nodes.FromImport):
            for item in n.names:
                names.add(item if isinstance(item, str) else item[1])
        elif isinstance(n, nodes.If):
            stack.extend(n.body)
            stack.extend(n.elif_)
            stack.extend(n.else_)
        elif isinstance(n, nodes.FilterBlock):
            stack.extend(n.body)
    return names


_GUARDS = frozenset({"default", "d", "defined", "undefined", "none"})  # filters and tests


def _chain(node: nodes.Node) -> list[nodes.Node]:
    """``state.a.b``: the reads ``state.a.b`` and ``state.a`` (outermost first)."""
    out: list[nodes.Node] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        out.append(node)
        node = node.node
    return out


def _truth_tested(test: nodes.Node) -> list[nodes.Node]:
    """Reads whose truth a test checks: ``x``, ``not x``, ``x and y``, ``x or y``."""
    if isinstance(test, nodes.Not):
        return _truth_tested(test.node)
    if isinstance(test, nodes.And | nodes.Or):
        return _truth_tested(test.left) + _truth_tested(test.right)
    return _chain(test)


def _mark_guards(w: _Walk, node: nodes.Node) -> None:
    """A read under ``| default``, ``is defined`` or tested by ``if`` may be missing."""
    if isinstance(node, nodes.Filter | nodes.Test) and node.name in _GUARDS:
        if node.node is not None:
            w.guards.update(id(n) for n in _chain(node.node))
    elif isinstance(node, nodes.If | nodes.CondExpr):
        w.guards.update(id(n) for n in _truth_tested(node.test))


def _walk(w: _Walk, node: nodes.Node, bound: frozenset[str], parent: nodes.Node | None) -> None:
    _mark_guards(w, node)
    if isinstance(node, nodes.Name):
        if node.ctx == "load" and node.name not in bound:
            idx = w.parser.name_tokens.get(id(node))
            if idx is not None:
                w.free.append((node.name, idx))
        return
    if isinstance(node, nodes.NSRef):
        if node.name not in bound:
            idx = w.parser.name_tokens.get(id(node))
            if idx is not None:
                w.free.append((node.name, idx))
        return
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        _state_read(w, node, bound, parent)
    if isinstance(node, nodes.For):
        _walk(w, node.iter, bound, node)
        targets = _target_names(node.target)
        w.locals_ |= targets
        inner = bound | targets | {"loop"}
        if node.test is not None:
            _walk(w, node.test, frozenset(inner), node)
        _walk_scope(w, node.body, frozenset(inner))
        _walk_scope(w, node.else_, bound, new_scope=False)
        return
    if isinstance(node, nodes.Macro | nodes.CallBlock):
        if isinstance(node, nodes.CallBlock):
            _walk(w, node.call, bound, node)
        for d in node.defaults:
            _walk(w, d, bound, node)
        args = {a.name for a in node.args} | {"varargs", "kwargs", "caller"}
        w.locals_ |= args
        _walk_scope(w, node.body, bound | args)
        return
    if isinstance(node, nodes.With):
        for v in node.values:
            _walk(w, v, bound, node)
        targets = set().union(*(_target_names(t) for t in node.targets))
        w.locals_ |= targets
        _walk_scope(w, node.body, bound | targets)
        return
    if isinstance(node, nodes.Block | nodes.Scope | nodes.ScopedEvalContextModifier):
        _walk_scope(w, node.body, bound)
        return
    if isinstance(node, nodes.Assign | nodes.AssignBlock):
        if isinstance(node.target, nodes.NSRef):
            _walk(w, node.target, bound, node)
        if isinstance(node, nodes.Assign):
            _walk(w, node.node, bound, node)
        else:
            if node.filter is not None:
                _walk(w, node.filter, bound, node)
            _walk_scope(w, node.body, bound, new_scope=False)
        return
    for child in node.iter_child_nodes():
        _walk(w, child, bound, node)


def _walk_scope(
    w: _Walk, body: list[nodes.Node], bound: frozenset[str], new_scope: bool = True
) -> None:
    if new_scope:
        assigned = _assigned(body)
        w.locals_ |= assigned
        bound = bound | assigned
    for stmt in body:
        _walk(w, stmt, bound, None)


def _state_read(
    w: _Walk, node: nodes.Getattr | nodes.Getitem, bound: frozenset[str], parent: nodes.Node | None
) -> None:
    base = node.node
    if not isinstance(base, nodes.Name) or base.name not in _READ_BASES or base.name in bound:
        return
    idx = w.parser.name_tokens.get(id(base))
    if idx is None or idx + 2 >= len(w.parser.rec.tokens):
        return
    if isinstance(node, nodes.Getattr):
        key = node.attr
        if isinstance(parent, nodes.Call) and parent.node is node and key in _DICT_METHODS:
            return  # state.get('x'), state.keys(): a method call, not a key read
        sep, expected = "dot", "name"
    else:
        arg = node.arg
        if not isinstance(arg, nodes.Const) or not isinstance(arg.value, str):
            return
        key = arg.value
        sep, expected = "lbracket", "string"
    toks = w.parser.rec.tokens
    if toks[idx + 1][0].type != sep or toks[idx + 2][0].type != expected:
        return
    target = w.reads if base.name == "state" else w.var_reads
    target.append((key, idx + 2, id(node) in w.guards))


@lru_cache(maxsize=8)
def _line_starts(source: str) -> list[int]:
    return [0, *(m.end() for m in re.finditer("\n", source))]


def _occurrence(source: str, name: str, start: int, end: int) -> _Occurrence:
    starts = _line_starts(source)
    start = max(0, min(start, len(source)))
    index = bisect_right(starts, start) - 1
    eol = starts[index + 1] - 1 if index + 1 < len(starts) else len(source)
    col = start - starts[index]
    width = max(1, min(end, eol) - start)
    return _Occurrence(name, index + 1, col, col + width)


def _normalize_source(text: str) -> str:
    # What Jinja's lexer scans: every line break becomes "\n".
    return re.sub(r"\r\n|\r", "\n", text)


CACHED_TEXT = 64 * 1024  # larger texts are analysed (or compiled) again instead of kept


def analyze(text: str, expression: bool) -> _Analysis:
    """The parse of one template (cached for small texts)."""
    if len(text) > CACHED_TEXT:
        return _analyze_text(text, expression)
    return _analyze_cached(text, expression)


@lru_cache(maxsize=4096)
def _analyze_cached(text: str, expression: bool) -> _Analysis:
    return _analyze_text(text, expression)


# The most common template, ``{{ name }}`` or ``{{ name.key.more }}`` amid text without braces:
# read without Jinja's lexer and parser (which cost ~100 µs a template), with the same result.
# (At most 8 keys: far from the token limit and from the nesting a parse reports.)
_SIMPLE_TEMPLATE = re.compile(
    r"[^{}]*\{\{ *([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*){0,8}) *\}\}[^{}]*\Z"
)
_NOT_PLAIN_NAMES = frozenset({"true", "false", "none", "True", "False", "None", "not"})


def _simple_analysis(source: str) -> _Analysis | None:
    """:func:`_analyze_text` of a ``{{ name.key }}`` template, or ``None`` for any other."""
    m = _SIMPLE_TEMPLATE.match(source)
    if m is None or m.group(1) in _NOT_PLAIN_NAMES:
        return None
    name = m.group(1)
    free = (_occurrence(source, name, m.start(1), m.end(1)),)
    if name not in _READ_BASES or not m.group(2):
        return _Analysis(free_names=free)
    key = m.group(2).split(".", 2)[1]
    start = m.start(2) + 1
    read = ((_occurrence(source, key, start, start + len(key)), False),)
    if name == "state":
        return _Analysis(free_names=free, reads=read)
    return _Analysis(free_names=free, var_reads=read)


def _analyze_text(text: str, expression: bool) -> _Analysis:
    source = _normalize_source(text)
    if not expression:
        simple = _simple_analysis(source)
        if simple is not None:
            return simple
    return _parse_source(source, expression)


def _parse_source(source: str, expression: bool) -> _Analysis:
    """The analysis from Jinja's own lexer and parser (``source``: line breaks normalized)."""
    env = environment()
    rec = _Recorder(source)
    parser: _PosParser | None = None
    try:
        parser = _PosParser(env, rec, "variable" if expression else None)
        body: list[nodes.Node]
        if expression:
            expr = parser.parse_expression()
            if not parser.stream.eos:
                cur = parser.stream.current
                parser.fail(f"unexpected {describe_token(cur)!r} after the expression")
            body = [expr]
        else:
            body = parser.parse().body
    except jinja2.TemplateSyntaxError as exc:
        return _Analysis(syntax=_syntax_error(source, exc, rec, parser, expression))
    except RecursionError:
        return _Analysis(syntax=_deep(source, rec))
    except _TooManyTokens:
        message = f"template is too large to check: more than {rec.max_tokens} tokens"
        return _Analysis(limit=TemplateProblem("limit", message, 1, 0, 2))
    try:
        walk = _Walk(parser)
        _walk_scope(walk, body, frozenset())
    except RecursionError:
        return _Analysis(syntax=_deep(source, rec))
    return _Analysis(
        filters=tuple(_unknown_filters(source, rec, body)),
        free_names=tuple(_occurrence(source, name, *rec.tokens[i][1:]) for name, i in walk.free),
        local_names=frozenset(walk.locals_),
        reads=tuple(
            (_occurrence(source, key, *rec.tokens[i][1:]), guarded)
            for key, i, guarded in walk.reads
        ),
        var_reads=tuple(
            (_occurrence(source, key, *rec.tokens[i][1:]), guarded)
            for key, i, guarded in walk.var_reads
        ),
    )


def _deep(source: str, rec: _Recorder) -> TemplateProblem:
    first = rec.tokens[0][1] if rec.tokens else 0
    occ = _occurrence(source, "", first, first + 2)
    return TemplateProblem(
        "syntax", "template is nested too deeply to check", occ.line, occ.col, occ.end_col
    )


def _syntax_error(
    source: str,
    exc: jinja2.TemplateSyntaxError,
    rec: _Recorder,
    parser: _PosParser | None,
    expression: bool,
) -> TemplateProblem:
    detail = normalize_message(exc.message or str(exc)).replace(
        "'end of template'", "end of template"
    )
    if expression:
        detail = detail.replace("end of template", "end of expression")
    message = "template syntax error: " + detail
    start: int | None = None
    end: int | None = None
    if rec.lexer_error is not None:
        start = rec.lexer_error
        end = start + (2 if source.startswith(("{#", "{%", "{{"), start) else 1)
    elif parser is not None:
        cur = parser.stream.current
        idx = rec.index.get(id(cur))
        if cur.type == "eof":
            start = rec.unclosed_opener()
            if start is not None:
                end = start + 2
            elif rec.tokens:  # the expression stops short: point at its last token
                _, start, end = rec.tokens[-1]
        elif idx is not None and cur.lineno == exc.lineno:
            _, start, end = rec.tokens[idx]
    if start is None:
        # Only the line is known: its first tag opener, else its first non-blank character.
        lines = source.split("\n")
        lineno = min(max(exc.lineno or 1, 1), len(lines))
        text = lines[lineno - 1]
        found = [p for p in (text.find("{{"), text.find("{%")) if p >= 0]
        col = min(found) if found else len(text) - len(text.lstrip())
        width = 2 if found else max(1, len(text.strip()))
        return TemplateProblem("syntax", message, lineno, col, col + width)
    occ = _occurrence(source, "", start, end if end is not None else start + 1)
    return TemplateProblem("syntax", message, occ.line, occ.col, occ.end_col)


def _unknown_filters(
    source: str, rec: _Recorder, body: list[nodes.Node]
) -> Iterator[TemplateProblem]:
    env = environment()
    used_filters: set[str] = set()
    used_tests: set[str] = set()
    for top in body:
        if isinstance(top, nodes.Filter):
            used_filters.add(top.name)
        if isinstance(top, nodes.Test):
            used_tests.add(top.name)
        used_filters.update(f.name for f in top.find_all(nodes.Filter))
        used_tests.update(t.name for t in top.find_all(nodes.Test))
    bad_filters = {f for f in used_filters if f not in env.filters}
    bad_tests = {t for t in used_tests if t not in env.tests}
    if not bad_filters and not bad_tests:
        return
    toks = rec.tokens
    for i, (tok, start, _) in enumerate(toks):
        kind: str | None = None
        if tok.type != "name" or i == 0:
            continue
        prev = toks[i - 1][0]
        if prev.type == "pipe":
            kind = "filter"
        elif prev.type == "name" and prev.value == "filter" and i >= 2:
            kind = "filter" if toks[i - 2][0].type == "block_begin" else None
        elif prev.type == "name" and prev.value == "is":
            kind = "test"
        elif prev.type == "name" and prev.value == "not" and i >= 2:
            before = toks[i - 2][0]
            kind = "test" if before.type == "name" and before.value == "is" else None
        if kind is None:
            continue
        # Dotted names (`a | ns.f`) are one filter name in Jinja.
        name, end, j = str(tok.value), toks[i][2], i + 1
        while j + 1 < len(toks) and toks[j][0].type == "dot" and toks[j + 1][0].type == "name":
            name += "." + str(toks[j + 1][0].value)
            end = toks[j + 1][2]
            j += 2
        bad = bad_filters if kind == "filter" else bad_tests
        if name not in bad:
            continue
        known = env.filters if kind == "filter" else env.tests
        occ = _occurrence(source, name, start, end)
        best = suggest(name, sorted(known))
        hint = f"; did you mean '{best}'?" if best else ""
        yield TemplateProblem(
            "filter",
            f"unknown {kind} '{name}' in template{hint}",
            occ.line,
            occ.col,
            occ.end_col,
            name,
            best,
        )


def _did_you_mean(name: str, candidates: Any) -> str:
    return did_you_mean(name, sorted(candidates))


_CONTEXT_HINTS = {
    "result": "'result' is only defined in 'output' and in conditions",
    "parallel_results": "'parallel_results' is only defined in a fan-in node",
}
_SHORTHAND = re.compile(r"\s*(!?)\s*([^\W\d]\w*)\s*")
_LITERALS = frozenset({"true", "false", "none", "True", "False", "None"})


def condition_shorthand(text: str) -> tuple[bool, str, int] | None:
    """TEA's condition shorthand: ``(negated, key, offset of key)`` for ``flag`` / ``!flag``.

    ``flag`` means ``state.flag`` and ``!flag`` means ``not state.flag``; Jinja's literals
    (``true``, ``none``, ...) keep their meaning.
    """
    m = _SHORTHAND.fullmatch(text)
    if m is None or m.group(2) in _LITERALS or not m.group(2).isidentifier():
        return None
    return m.group(1) == "!", m.group(2), m.start(2)


@dataclass(frozen=True, slots=True)
class KeyScope:
    """What the checker knows of the keys a template may read (see :func:`check_template`).

    ``state``: the state keys set when the template runs (``None``: unknown, no check);
    ``why``: the end of the message for a key not in it; ``variables``: the file's
    ``variables`` keys (``None``: unknown, no check).
    """

    state: Set[str] | None = None
    why: str = "is not declared in state_schema and no node provides it"
    variables: frozenset[str] | None = None


def check_template(
    text: str,
    *,
    expression: bool,
    known_names: frozenset[str],
    state_keys: Set[str] | None = None,
    condition: bool = False,
    keys: KeyScope | None = None,
    state_key_hints: bool = True,
) -> list[TemplateProblem]:
    """Problems of one template: syntax, unknown filters/tests, undefined names, keys.

    ``expression``: the text is a bare expression (a condition) unless it contains ``{{`` or
    ``{%``, in which case it is a template whatever ``expression`` says. ``condition``: the
    text is a condition, where ``flag`` / ``!flag`` read the state key ``flag``.
    ``known_names``: the context names (``state``, ``variables``, ...); Jinja's globals are
    always known. ``keys`` (or ``state_keys``, the same as ``KeyScope(state_keys)``): reads
    of state keys outside ``keys.state`` are ``state_key`` problems and of variables outside
    ``keys.variables`` ``variable`` problems (keys guarded by ``is defined`` or ``| default``
    in the template are not). ``state_key_hints=False``: the message of a ``state_key``
    problem has no did-you-mean (for a caller that words its own). Never raises on any input.
    """
    if keys is None:
        keys = KeyScope(state_keys)
    shorthand = condition_shorthand(text) if condition else None
    if shorthand is not None:
        _, key, offset = shorthand
        occ = _occurrence(_normalize_source(text), key, offset, offset + len(key))
        result = _Analysis(reads=((occ, False),))
    else:
        result = analyze(text, expression and not has_markup(text))
    if result.syntax is not None:
        return [result.syntax]
    if result.limit is not None:
        return [result.limit]
    problems = list(result.filters)
    known = known_names | GLOBAL_NAMES
    seen: set[tuple[str, int, int]] = set()
    state_known = keys.state
    for occ in result.free_names:
        if occ.name in known or (occ.name, occ.line, occ.col) in seen:
            continue
        seen.add((occ.name, occ.line, occ.col))
        best: str | None = None
        if occ.name in _CONTEXT_HINTS:
            hint = "; " + _CONTEXT_HINTS[occ.name]
        elif state_known is not None and occ.name in state_known and "state" in known_names:
            best = f"state.{occ.name}"
            hint = f"; did you mean '{best}'?"
        else:
            best = suggest(occ.name, sorted(known | result.local_names), cutoff=0.7)
            hint = f"; did you mean '{best}'?" if best else ""
        problems.append(
            TemplateProblem(
                "name",
                f"undefined name '{occ.name}' in template{hint}",
                occ.line,
                occ.col,
                occ.end_col,
                occ.name,
                best,
            )
        )
    if state_known is not None and "state" in known_names:
        problems.extend(
            _key_problems(result.reads, state_known, "state key", keys.why, state_key_hints)
        )
    if keys.variables is not None and "variables" in known_names:
        problems.extend(
            _key_problems(
                result.var_reads, keys.variables, "variable", "is not defined in 'variables'"
            )
        )
    problems.sort(key=lambda p: (p.line, p.col or 0, p.kind))
    return problems


_NEEDS: dict[tuple[str, bool, bool, frozenset[str]], tuple[frozenset[str], frozenset[str]] | None]
_NEEDS = {}
_NEEDS_MAX = 4096


def needed_keys(
    text: str, *, expression: bool, known_names: frozenset[str], condition: bool = False
) -> tuple[frozenset[str], frozenset[str]] | None:
    """When :func:`check_template` of these arguments finds nothing but key reads:
    ``(state keys, variables keys)`` it reads unguarded, so that it reports no problem exactly
    when ``keys.state`` (if known and ``state`` is a known name) holds the first and
    ``keys.variables`` (likewise) the second. ``None`` when it may have some other problem
    (syntax, filter, undefined name) or is larger than ``CACHED_TEXT`` (not kept: check it
    fully). Kept per text and known names.
    """
    if len(text) > CACHED_TEXT:
        return None
    key = (text, expression, condition, known_names)
    found = _NEEDS.get(key, False)
    if found is not False:
        return found  # type: ignore[return-value]
    needs = _needed_keys(text, expression, known_names, condition)
    if len(_NEEDS) >= _NEEDS_MAX:
        _NEEDS.clear()
    _NEEDS[key] = needs
    return needs


_NO_NAMES: frozenset[str] = frozenset()
_NO_KEYS = (_NO_NAMES, _NO_NAMES)


def _needed_keys(
    text: str, expression: bool, known_names: frozenset[str], condition: bool
) -> tuple[frozenset[str], frozenset[str]] | None:
    shorthand = condition_shorthand(text) if condition else None
    if shorthand is not None:
        return frozenset((shorthand[1],)), frozenset()
    as_expression = expression and not has_markup(text)
    if not as_expression:  # the fast path of _simple_analysis, without positions
        m = _SIMPLE_TEMPLATE.match(text)  # line breaks need no normalizing for this match
        if m is not None:
            name = m.group(1)
            if name not in _NOT_PLAIN_NAMES:
                if name not in known_names and name not in GLOBAL_NAMES:
                    return None
                if name not in _READ_BASES or not m.group(2):
                    return _NO_KEYS
                key = frozenset((m.group(2).split(".", 2)[1],))
                return (key, _NO_NAMES) if name == "state" else (_NO_NAMES, key)
    result = analyze(text, as_expression)
    if result.syntax is not None or result.limit is not None or result.filters:
        return None
    if result.free_names:
        known = known_names | GLOBAL_NAMES
        if any(occ.name not in known for occ in result.free_names):
            return None
    return _unguarded(result.reads), _unguarded(result.var_reads)


def _unguarded(reads: tuple[tuple[_Occurrence, bool], ...]) -> frozenset[str]:
    """The keys :func:`_key_problems` reports when they are not provided."""
    optional = {occ.name for occ, guarded in reads if guarded}
    return frozenset(occ.name for occ, _ in reads if occ.name not in optional)


def _key_problems(
    reads: tuple[tuple[_Occurrence, bool], ...],
    provided: Set[str],
    what: str,
    why: str,
    hints: bool = True,
) -> Iterator[TemplateProblem]:
    # A key guarded once (`is defined`, `| default`) is optional in the whole template.
    optional = {occ.name for occ, guarded in reads if guarded}
    for occ, _ in reads:
        if occ.name in provided or occ.name in optional:
            continue
        if what == "state key" and occ.name == "parallel_results":
            message = "state key 'parallel_results' is only set in a fan-in node"
        elif what == "state key":
            hint = _did_you_mean(occ.name, provided) if hints else ""
            message = f"state key '{occ.name}' {why}{hint}"
        else:
            message = f"'variables.{occ.name}' {why}{_did_you_mean(occ.name, provided)}"
        yield TemplateProblem(
            "state_key" if what == "state key" else "variable",
            message,
            occ.line,
            occ.col,
            occ.end_col,
            occ.name,
        )


def state_reads(text: str, *, expression: bool) -> list[tuple[str, int, int | None]]:
    """``(key, line, col)`` of every ``state.<key>`` / ``state['key']`` read (1-based line).

    Reads inside ``is defined`` tests and ``| default`` filters are included; method calls
    such as ``state.get('x')`` are not. Empty when the template does not parse.
    """
    result = analyze(text, expression and not has_markup(text))
    return [(occ.name, occ.line, occ.col) for occ, _ in result.reads]
