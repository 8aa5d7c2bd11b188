"""Static half of the Lua support: compile a snippet without running it, list its globals.

:func:`compile_check` compiles a snippet as text in a private compile-only runtime (one per
thread, recycled) and reports the syntax error with its line, column and token;
:func:`snippet_facts` lists the globals a snippet reads and writes and the keys it returns (a
scanner, with the compiled bytecode as a fallback). :func:`sandbox_globals` asks a real
sandbox VM which names exist, so the checker and the runner agree.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

import lupa.lua54 as _lupa

from tea_lsp.langs import lua_bytecode, lua_scan
from tea_lsp.langs.lua.runtime import LuaVM, _deny_attributes

__all__ = [
    "GlobalAccess",
    "LuaFacts",
    "LuaSyntaxError",
    "compile_check",
    "global_accesses",
    "global_accesses_bytecode",
    "sandbox_globals",
    "snippet_facts",
]


@dataclass(frozen=True, slots=True)
class LuaSyntaxError:
    """A compile error. ``line`` is 1-based in the snippet; ``col`` is 0-based (or unknown)."""

    line: int
    col: int | None
    message: str
    token: str | None


@dataclass(frozen=True, slots=True)
class GlobalAccess:
    """A read or write of a global name (``state`` included, since it is not declared).

    ``field`` is the field read right after the name (``state.count``, ``state["count"]``,
    ``os.time``, ``obj:method``); it is ``None`` when the name is used alone or when its first
    field is assigned (``state.count = 1``).
    """

    name: str
    line: int
    col: int | None
    kind: Literal["get", "set"]
    field: str | None


@dataclass(frozen=True, slots=True)
class LuaFacts:
    """What the checker knows about one compiling snippet."""

    accesses: tuple[GlobalAccess, ...]
    return_keys: frozenset[str]  # keys of literal tables the chunk returns
    returns_opaque: bool  # some return value is not a literal table (keys unknown)
    method: Literal["scan", "bytecode"]


class _CompileVM(threading.local):
    """A private compile-only runtime per thread: it never executes snippet code.

    It keeps the stock ``string.dump`` (removed from the sandbox) for the bytecode lister.
    """

    RECYCLE_AFTER = 2000

    def __init__(self) -> None:
        self.rt: Any = None
        self.load: Any = None
        self.dump: Any = None
        self.uses = 0

    def get(self) -> tuple[Any, Any]:
        if self.rt is None or self.uses >= self.RECYCLE_AFTER:
            self.rt = _lupa.LuaRuntime(
                encoding=None,  # bytes in and out: dumps are binary
                register_eval=False,
                register_builtins=False,
                attribute_filter=_deny_attributes,
            )
            self.load, self.dump = self.rt.execute("return load, string.dump")
            self.uses = 0
        self.uses += 1
        return self.load, self.dump


_COMPILER = _CompileVM()
_SNIPPET = "snippet"
_GOTO_LINE = re.compile(r"for <goto> at line (\d+)")
_NEAR = re.compile(r"^(.*?)(?: near (<eof>|'(.*)'))?\Z", re.S)


def _load(code: str) -> tuple[Any, str | None]:
    """``(function, None)`` or ``(None, message)``; the function's ``string.dump`` is in
    ``_COMPILER.dump`` until the next call (both from the same runtime)."""
    load, _dump = _COMPILER.get()
    try:
        result = load(code.encode("utf-8", "surrogatepass"), b"=" + _SNIPPET.encode(), b"t")
    except _lupa.LuaMemoryError:
        return None, "the snippet needs too much memory to compile"
    except _lupa.LuaError as exc:  # pragma: no cover - load reports errors as values
        return None, str(exc)
    fn, err = result if isinstance(result, tuple) else (result, None)
    if fn is None:
        if isinstance(err, bytes):
            return None, err.decode("utf-8", "replace")
        return None, str(err) if err is not None else "cannot compile"
    return fn, None


def _load_in_fresh_vm(code: str) -> bool:
    """Compile in a brand-new runtime (the alternative to the shared compile-only VM; the
    benchmark measures both)."""
    rt = _lupa.LuaRuntime(register_eval=False, register_builtins=False)
    result = rt.execute("return load")(code, "=" + _SNIPPET, "t")
    return (result[0] if isinstance(result, tuple) else result) is not None


@functools.lru_cache(maxsize=4096)
def compile_check(code: str) -> LuaSyntaxError | None:
    """Compile ``code`` as text (never run it); the syntax error, or ``None``."""
    fn, err = _load(code)
    if fn is not None:
        return None
    assert err is not None
    first = err.split("\nstack traceback:", 1)[0]
    m = re.match(re.escape(_SNIPPET) + r":(\d+): (.*)\Z", first, re.S)
    if m is None:
        text = first.strip()
        if "stack overflow" in text:
            text = "the code is nested too deeply (C stack overflow)"
        return LuaSyntaxError(1, None, text, None)
    line, message = int(m.group(1)), m.group(2)
    near = _NEAR.match(message)
    token: str | None = None
    if near is not None and near.group(2) is not None:
        token = "<eof>" if near.group(2) == "<eof>" else near.group(3)
    lines = code.split("\n")
    goto = _GOTO_LINE.search(message)
    if goto is not None and token is None:  # reported at the block's end: point at the goto
        line = int(goto.group(1))
        col = _find_token(lines[line - 1], "goto") if 0 < line <= len(lines) else None
        return LuaSyntaxError(line, col, message, token)
    col = _token_column(code, lines, line, token, message)
    if token == "<eof>" or (col is None and line > _end_position(lines)[0]):
        line, col = _end_position(lines)
    return LuaSyntaxError(line, col, message, token)


def _end_position(lines: list[str]) -> tuple[int, int]:
    """1-based line and 0-based column just after the snippet's last non-blank character."""
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip():
            return i + 1, len(lines[i].rstrip())
    return 1, 0


def _token_column(
    code: str, lines: list[str], line: int, token: str | None, message: str
) -> int | None:
    if line < 1 or line > len(lines):
        return None
    text = lines[line - 1]
    if token is None:
        if "\0" in text and message.startswith("unexpected symbol"):
            return text.index("\0")
        return None
    if token == "<eof>":
        return None
    # Where our own parser stops, when it agrees with Lua on the line and the token.
    stop = lua_scan.error_token(code)
    if stop is not None:
        sline, scol = lua_scan.Lines(code).position(stop.offset)
        same = stop.text == token or token.startswith(stop.text[:1])
        if sline == line and same:
            return scol
    found = _find_token(text, token)
    if found is None and token[:1] in "\"'[":
        found = _find_token(text, token[:1])
    return found


def _find_token(text: str, token: str) -> int | None:
    """First occurrence of ``token`` on a line, as a whole word when it is a name."""
    if not token:
        return None
    if re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", token):
        m = re.search(r"(?<![A-Za-z_0-9])" + re.escape(token) + r"(?![A-Za-z_0-9])", text)
        return m.start() if m else None
    idx = text.find(token)
    return idx if idx >= 0 else None


@functools.lru_cache(maxsize=4096)
def snippet_facts(code: str) -> LuaFacts | None:
    """Globals, state fields and returned keys of a snippet; ``None`` if it does not compile."""
    if compile_check(code) is not None:
        return None
    try:
        raw, return_keys, opaque = lua_scan.scan_accesses(code)
    except (lua_scan.LexError, lua_scan.ParseError, RecursionError):
        return _facts_from_bytecode(code)
    return LuaFacts(_placed(code, raw), return_keys, opaque, "scan")


_FEW = 8  # up to this many accesses, counting line breaks beats indexing every line


def _placed(code: str, raw: list[lua_scan.Access]) -> tuple[GlobalAccess, ...]:
    """The scanner's accesses with 1-based lines and 0-based columns."""
    if not raw:
        return ()
    out = []
    if len(raw) <= _FEW and "\r" not in code:  # only "\n" breaks a line
        count, rfind = code.count, code.rfind
        for name, offset, kind, field in raw:
            line = count("\n", 0, offset) + 1
            col = offset - rfind("\n", 0, offset) - 1
            out.append(GlobalAccess(name, line, col, "set" if kind == "set" else "get", field))
    else:
        lines = lua_scan.Lines(code)
        for name, offset, kind, field in raw:
            line, col = lines.position(offset)
            out.append(GlobalAccess(name, line, col, "set" if kind == "set" else "get", field))
    return tuple(out)


def global_accesses(code: str) -> list[GlobalAccess]:
    """Every read and write of a global name, in source order (empty if it does not compile)."""
    facts = snippet_facts(code)
    return list(facts.accesses) if facts is not None else []


def global_accesses_bytecode(code: str) -> list[GlobalAccess]:
    """The same list read from the compiled chunk's bytecode (columns found on the line)."""
    facts = _facts_from_bytecode(code)
    return list(facts.accesses) if facts is not None else []


def _facts_from_bytecode(code: str) -> LuaFacts | None:
    fn, _err = _load(code)
    if fn is None:
        return None
    dump = _COMPILER.dump  # same runtime as fn (get() may recycle it on the next call)
    try:
        raw = lua_bytecode.dump_accesses(bytes(dump(fn, False)))
    except (lua_bytecode.DumpError, _lupa.LuaError, UnicodeError):
        return LuaFacts((), frozenset(), True, "bytecode")
    return LuaFacts(_place_columns(code, raw), frozenset(), True, "bytecode")


def _place_columns(code: str, raw: list[lua_bytecode.DumpAccess]) -> tuple[GlobalAccess, ...]:
    """Give bytecode accesses the column of a matching name token on their line."""
    try:
        tokens = lua_scan.tokenize(code)
    except lua_scan.LexError:
        tokens = []
    lines = lua_scan.Lines(code)
    candidates: dict[tuple[int, str], list[tuple[int, bool]]] = {}
    for i, tok in enumerate(tokens):
        if tok.kind != lua_scan.NAME:
            continue
        prev = tokens[i - 1].text if i > 0 else ""
        if prev in (".", ":", "::", "goto"):
            continue
        nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
        line, col = lines.position(tok.offset)
        candidates.setdefault((line, tok.text), []).append((col, nxt in ("=", ",")))
    out: list[GlobalAccess] = []
    for a in raw:
        cols = candidates.get((a.line, a.name), [])
        pick: int | None = None
        wanted = a.kind == "set"
        for j, (col, assigned) in enumerate(cols):
            if assigned == wanted:
                pick = col
                del cols[j]
                break
        if pick is None and cols:
            pick = cols.pop(0)[0]
        kind: Literal["get", "set"] = "set" if a.kind == "set" else "get"
        out.append(GlobalAccess(a.name, a.line, pick, kind, a.field))
    out.sort(key=lambda g: (g.line, g.col if g.col is not None else -1))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def sandbox_globals() -> frozenset[str]:
    """Names the sandbox provides, read from a real sandbox VM (``variables`` included)."""
    vm = LuaVM(max_memory=None, timeout=None)
    try:
        return frozenset(vm.global_names())
    finally:
        vm.close()
