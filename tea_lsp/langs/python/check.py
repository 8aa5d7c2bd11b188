"""Static facts about a Python node's code, as TEA's Python engine would compile it. Never runs it.

The engine renders the code through Jinja, then compiles it: code containing ``return`` becomes
the body of a function, other code runs as a module whose non-underscore locals are the update.
Here ``{{ }}`` / ``{% %}`` / ``{# #}`` / ``${ }`` are masked column for column (an expression
becomes ``None``, a statement or comment becomes blanks) so positions stay those of the user's
text.
``type: expression`` values are compiled in ``eval`` mode.

Positions: lines 1-based in the snippet, columns 0-based in code points.
"""

from __future__ import annotations

import ast
import builtins
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

__all__ = [
    "ENGINE_NAMES",
    "EXPRESSION_NAMES",
    "KeyRead",
    "LostLocals",
    "NameUse",
    "PyFacts",
    "PySyntaxError",
    "ReturnValue",
    "mask_jinja",
    "python_facts",
    "python_syntax_error",
]

BUILTIN_NAMES: frozenset[str] = frozenset(dir(builtins)) | {"__builtins__"}

ENGINE_NAMES: frozenset[str] = frozenset(
    # exec globals of a ``run:`` block, plus the keyword arguments the graph passes a node
    (
        *("state", "variables", "json", "requests", "datetime", "actions"),
        *("config", "node", "graph", "parallel_results"),
    )
)
"""Names TEA's Python engine defines for ``run:`` code (``OpenAI`` too when the code says so)."""

EXPRESSION_NAMES: frozenset[str] = frozenset(
    ("state", "config", "node", "graph", "parallel_results")
)
"""Names defined for a ``run: {type: expression}`` value (``eval`` with ``state`` and kwargs)."""

# ``${name}`` is the engine's older placeholder: replaced by ``variables.name`` after rendering.
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|\$\{[^}\n]*\}", re.S)


def mask_jinja(text: str) -> str:
    """``{{ x }}`` / ``${x}`` → ``None`` + blanks, ``{% .. %}`` / ``{# .. #}`` → blanks; newlines
    kept, so every position stays where it was."""
    if "{" not in text:
        return text

    def repl(m: re.Match[str]) -> str:
        src = m.group(0)
        blank = re.sub(r"[^\n]", " ", src)
        if src.startswith(("{{", "${")):
            return "None" + blank[4:]
        return blank

    return _JINJA.sub(repl, text)


def has_jinja(text: str) -> bool:
    return "{{" in text or "{%" in text


@dataclass(frozen=True, slots=True)
class PySyntaxError:
    """A syntax error. ``line`` 1-based in the snippet, ``col`` 0-based (code points)."""

    line: int
    col: int
    end_col: int | None
    message: str


@dataclass(frozen=True, slots=True)
class NameUse:
    name: str
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class KeyRead:
    """``state["key"]`` or ``state.get("key")``: the span of the string literal."""

    key: str
    line: int
    col: int
    end_col: int


@dataclass(frozen=True, slots=True)
class ReturnValue:
    """A top-level ``return`` of a literal that is not a mapping."""

    what: str  # "a list", "a string", ...
    line: int
    col: int
    end_col: int


@dataclass(frozen=True, slots=True)
class LostLocals:
    """Code whose text contains ``return`` but that has no return statement: the engine wraps
    it in a function anyway, so the names it assigns are not merged into the state."""

    names: tuple[str, ...]
    line: int  # where the word "return" is
    col: int


@dataclass(frozen=True, slots=True)
class PyFacts:
    free_names: tuple[NameUse, ...]  # names read but bound nowhere in the code
    star_import: bool  # ``from x import *``: any name may exist
    state_rebound: bool  # the code assigns ``state`` itself
    key_reads: tuple[KeyRead, ...]
    bad_returns: tuple[ReturnValue, ...]
    returned_keys: frozenset[str]  # keys of returned dict literals / top-level names
    returns_opaque: bool  # some return whose keys cannot be read
    bound: frozenset[str]  # every name the code binds somewhere
    lost: LostLocals | None  # "return" in the text but no return statement


def _wrapped(code: str) -> bool:
    return "return" in code


def _source(code: str, mode: str) -> tuple[str, int, int]:
    """The text the engine compiles, and the (line, column) shift of the user's text in it."""
    if mode == "exec" and _wrapped(code):
        body = "\n".join("    " + line for line in code.split("\n"))
        return f"def __run__():\n{body}\n", 1, 4
    return code, 0, 0


class _Columns:
    """Byte offsets (what ``ast`` reports) → code points, per line of the compiled text."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")

    def col(self, line: int, byte_col: int) -> int:
        if not 0 < line <= len(self.lines):
            return byte_col
        text = self.lines[line - 1]
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", "replace"))


def _parse(code: str, mode: str) -> tuple[ast.AST | None, PySyntaxError | None, int, int]:
    masked = mask_jinja(code)
    src, dl, dc = _source(masked, mode)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(src, "<node>", mode=mode)
            compile(cast(ast.Module, tree), "<node>", mode, dont_inherit=True)
    except SyntaxError as exc:
        return None, _syntax_error(exc, dl, dc, code), dl, dc
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return None, PySyntaxError(1, 0, None, str(exc) or type(exc).__name__), dl, dc
    return tree, None, dl, dc


def _syntax_error(exc: SyntaxError, dl: int, dc: int, code: str) -> PySyntaxError:
    nlines = code.count("\n") + 1
    line = (exc.lineno or 1) - dl
    col = (exc.offset or 1) - 1 - dc
    end_col: int | None = None
    if exc.end_lineno == exc.lineno and exc.end_offset and exc.offset:
        end_col = exc.end_offset - 1 - dc
    if line < 1:
        line, col, end_col = 1, 0, None
    elif line > nlines:
        line, col, end_col = nlines, len(code.split("\n")[-1]), None
    col = max(col, 0)
    if end_col is not None and end_col <= col:
        end_col = None
    message = exc.msg or "invalid syntax"
    if dl:  # line numbers inside the message refer to the compiled text
        message = re.sub(
            r"\b(at|on) line (\d+)", lambda m: f"{m.group(1)} line {int(m.group(2)) - dl}", message
        )
    return PySyntaxError(line, col, end_col, message)


def python_syntax_error(code: str, mode: str = "exec") -> PySyntaxError | None:
    """The first syntax error of ``code`` as the engine compiles it, or ``None``."""
    return _analysis(code, mode)[0]


def python_facts(code: str, mode: str = "exec") -> PyFacts | None:
    """What the code reads and returns, or ``None`` when it does not compile."""
    return _analysis(code, mode)[1]


@lru_cache(maxsize=4096)
def _analysis(code: str, mode: str) -> tuple[PySyntaxError | None, PyFacts | None]:
    """One parse per snippet, shared by the language decision and the checks."""
    tree, err, dl, dc = _parse(code, mode)
    if tree is None or err is not None:
        return err, None
    return None, _facts(tree, code, mode, dl, dc)


_LITERAL_KIND: tuple[tuple[type[ast.AST], str], ...] = (
    (ast.List, "a list"),
    (ast.ListComp, "a list"),
    (ast.Tuple, "a tuple"),
    (ast.Set, "a set"),
    (ast.SetComp, "a set"),
    (ast.JoinedStr, "a string"),
)


def _literal_kind(value: ast.expr) -> str | None:
    if isinstance(value, ast.Constant):
        v = value.value
        if v is None or v is Ellipsis:
            return None
        if isinstance(v, bool):
            return "a boolean"
        if isinstance(v, str | bytes):
            return "a string"
        if isinstance(v, int | float | complex):
            return "a number"
        return None
    for cls, what in _LITERAL_KIND:
        if isinstance(value, cls):
            return what
    return None


def _walk(tree: ast.AST) -> tuple[set[str], bool, list[ast.Name], list[ast.Constant]]:
    """One pass: names bound anywhere, a star import, names read, ``state`` keys read."""
    bound: set[str] = set()
    star = False
    loads: list[ast.Name] = []
    keys: list[ast.Constant] = []
    for n in ast.walk(tree):
        cls = type(n)
        if cls is ast.Name:
            assert isinstance(n, ast.Name)
            if type(n.ctx) is ast.Load:
                loads.append(n)
            else:
                bound.add(n.id)
        elif cls is ast.Subscript or cls is ast.Call:
            key = _state_key(n)
            if key is not None:
                keys.append(key)
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(n.name)
        elif cls is ast.arg:
            assert isinstance(n, ast.arg)
            bound.add(n.arg)
        elif isinstance(n, ast.Import):
            bound.update((a.asname or a.name).split(".")[0] for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            for a in n.names:
                if a.name == "*":
                    star = True
                else:
                    bound.add(a.asname or a.name)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            bound.add(n.name)
        elif isinstance(n, ast.Global | ast.Nonlocal):
            bound.update(n.names)
        elif isinstance(n, ast.MatchAs | ast.MatchStar) and n.name:
            bound.add(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            bound.add(n.rest)
    return bound, star, loads, keys


def _top_level(body: list[ast.stmt]) -> list[ast.AST]:
    """Nodes of ``body`` outside nested functions, lambdas and classes."""
    nested = (
        *(ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef),
        *(ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp),  # their own scopes
    )
    out: list[ast.AST] = []
    stack: list[ast.AST] = [n for n in reversed(body) if not isinstance(n, nested)]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(c for c in ast.iter_child_nodes(n) if not isinstance(c, nested))
    return out


def _dict_keys(value: ast.Dict) -> tuple[set[str], bool]:
    keys: set[str] = set()
    opaque = False
    for k in value.keys:
        if isinstance(k, ast.Constant) and isinstance(k.value, str):
            keys.add(k.value)
        else:
            opaque = True  # ``**other`` or a computed key
    return keys, opaque


def _facts(tree: ast.AST, code: str, mode: str, dl: int, dc: int) -> PyFacts:
    cols = _Columns(_source(mask_jinja(code), mode)[0])

    def pos(n: ast.expr) -> tuple[int, int, int]:
        line = n.lineno
        start = cols.col(line, n.col_offset)
        end = cols.col(line, n.end_col_offset or n.col_offset) if n.end_lineno == line else start
        return line - dl, start - dc, max(end - dc, start - dc + 1)

    bound, star, loads, keys_read = _walk(tree)
    free: list[NameUse] = []
    for n in loads:
        if n.id not in bound:
            line, col, _ = pos(n)
            free.append(NameUse(n.id, line, col))
    reads: list[KeyRead] = []
    for key in keys_read:
        line, col, end = pos(key)
        assert isinstance(key.value, str)
        reads.append(KeyRead(key.value, line, col, end))
    free.sort(key=lambda u: (u.line, u.col))
    reads.sort(key=lambda r: (r.line, r.col))

    bad: list[ReturnValue] = []
    lost: LostLocals | None = None
    keys: set[str] = set()
    opaque = False
    if isinstance(tree, ast.Module):
        body = tree.body
        if dl:  # wrapped: the user's code is the function's body
            first = body[0]
            assert isinstance(first, ast.FunctionDef)
            body = first.body
        top = _top_level(body)
        returns = [n for n in top if isinstance(n, ast.Return)]
        for r in returns:
            if r.value is None:
                continue
            if isinstance(r.value, ast.Dict):
                k, o = _dict_keys(r.value)
                keys |= k
                opaque |= o
                continue
            what = _literal_kind(r.value)
            if what is not None:
                line, col, end = pos(r.value)
                bad.append(ReturnValue(what, line, col, end))
                keys.add("result")
            elif not (isinstance(r.value, ast.Constant) and r.value.value is None):
                opaque = True
        public = [
            node.id
            for node in top
            if isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Store)
            and not node.id.startswith("_")
        ]
        if not dl:  # no return: the module's non-underscore names are the update
            keys.update(public)
        elif not returns and public:
            # The word "return" (a comment, a string, "returned") without a return statement:
            # the engine still runs the code as a function, which returns None.
            m = re.search("return", mask_jinja(code))
            if m is not None:
                line = code.count("\n", 0, m.start()) + 1
                col = m.start() - (code.rfind("\n", 0, m.start()) + 1)
                lost = LostLocals(tuple(dict.fromkeys(public)), line, col)
                keys.add("result")
    return PyFacts(
        tuple(free),
        star,
        "state" in bound,
        tuple(reads),
        tuple(bad),
        frozenset(keys),
        opaque,
        frozenset(bound),
        lost,
    )


def _state_key(n: ast.AST) -> ast.Constant | None:
    """The string literal of ``state["k"]`` (a read) or ``state.get("k")`` (no default)."""
    if (
        isinstance(n, ast.Subscript)
        and isinstance(n.ctx, ast.Load)
        and isinstance(n.value, ast.Name)
        and n.value.id == "state"
        and isinstance(n.slice, ast.Constant)
        and isinstance(n.slice.value, str)
    ):
        return n.slice
    if (
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "get"
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "state"
        and len(n.args) == 1
        and not n.keywords
        and isinstance(n.args[0], ast.Constant)
        and isinstance(n.args[0].value, str)
    ):
        return n.args[0]
    return None
