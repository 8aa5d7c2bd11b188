"""Running Python snippets with TEA's node contract (the runner calls this inside a worker).

The code sees ``state``, ``variables``, ``json``, ``actions`` (registered actions, called as
``actions["file.read"](state=state, path="x")``), the node's ``with:`` arguments and, at a
fan-in, ``parallel_results``. Every call gets a fresh namespace.

* Code with a ``return`` statement (outside nested functions) runs as a function body: a
  returned mapping is merged into the state, ``None`` changes nothing, any other value becomes
  ``state.result``.
* Code without ``return`` contributes the names it binds that do not start with ``_``
  (imported modules, functions and classes are left out).
* ``run: {type: expression}`` values are Python expressions (:func:`eval_expression`).

This is not a sandbox: the code runs with the rights of the user who runs the workflow, exactly
as under ``tea run``. Isolation and limits come from the process it runs in (see the engine).
Line numbers are the snippet's own: the function body is built from the parsed module, so no
line moves.
"""

from __future__ import annotations

import ast
import json
import signal
import threading
import traceback
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

FILENAME_PREFIX = "<tea-python:"
_FUNC = "__tea_node__"


@dataclass(frozen=True, slots=True)
class Frame:
    """One traceback line inside the snippet: 1-based ``line``, the function, the source text."""

    line: int
    function: str
    text: str


class PythonError(Exception):
    """The snippet failed. ``line``: 1-based in the snippet (``None``: unknown).

    ``error_type`` is ``PythonError``, ``TimeoutError`` or ``MemoryError``; ``frames`` the
    traceback lines that are inside the snippet, outermost first.
    """

    def __init__(
        self,
        message: str,
        line: int | None = None,
        *,
        error_type: str = "PythonError",
        frames: tuple[Frame, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.error_type = error_type
        self.frames = frames


class _Deadline(BaseException):
    """Raised inside the snippet by the timer (a BaseException: ``except Exception`` misses it)."""


def _has_return(tree: ast.Module) -> bool:
    """A ``return`` outside nested functions and classes (TEA wraps such code in a function)."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


@dataclass(slots=True)
class _Compiled:
    code: types.CodeType
    function: bool  # the snippet returns: call __tea_node__()


_cache: dict[tuple[str, str, str], _Compiled] = {}


def _filename(name: str) -> str:
    return f"{FILENAME_PREFIX}{name}>"


def _syntax_error(exc: SyntaxError) -> PythonError:
    line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno >= 1 else None
    return PythonError(f"SyntaxError: {exc.msg}", line)


def _compile(code: str, name: str, mode: str) -> _Compiled:
    key = (code, name, mode)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    filename = _filename(name)
    try:
        if mode == "eval":
            compiled = _Compiled(compile(code.strip(), filename, "eval"), False)
        else:
            tree = ast.parse(code, filename, "exec")
            function = _has_return(tree)
            if function:
                fn = ast.FunctionDef(
                    name=_FUNC,
                    args=ast.arguments(
                        posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]
                    ),
                    body=tree.body or [ast.Pass()],
                    decorator_list=[],
                    returns=None,
                )
                ast.copy_location(fn, tree.body[0] if tree.body else ast.Pass(lineno=1))
                tree = ast.Module(body=[fn], type_ignores=[])
                ast.fix_missing_locations(tree)
            compiled = _Compiled(compile(tree, filename, "exec"), function)
    except SyntaxError as exc:
        raise _syntax_error(exc) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise PythonError(f"{type(exc).__name__}: cannot compile the code: {exc}") from None
    if len(_cache) > 512:
        _cache.clear()
    _cache[key] = compiled
    return compiled


def precompile(code: str, name: str, mode: str) -> None:
    """Compile a snippet ahead (``mode``: ``exec`` or ``eval``); raises :class:`PythonError`."""
    _compile(code, name, mode)


def _frames(exc: BaseException, filename: str, code: str) -> tuple[Frame, ...]:
    lines = code.split("\n")
    out: list[Frame] = []
    for fs in traceback.extract_tb(exc.__traceback__):
        if fs.filename != filename or fs.lineno is None:
            continue
        text = lines[fs.lineno - 1].strip() if 0 < fs.lineno <= len(lines) else ""
        function = "<node>" if fs.name in (_FUNC, "<module>") else fs.name
        out.append(Frame(fs.lineno, function, text))
    return tuple(out)


class _Timer:
    """A SIGALRM deadline for the snippet (main thread only; elsewhere the outside kill acts)."""

    def __init__(self, timeout: float | None) -> None:
        self.active = (
            timeout is not None
            and timeout > 0
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )
        self.timeout = timeout
        self._old: Any = None

    def __enter__(self) -> _Timer:
        if self.active and self.timeout is not None:

            def fire(signum: int, frame: Any) -> None:
                raise _Deadline()

            self._old = signal.signal(signal.SIGALRM, fire)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old or signal.SIG_DFL)


@dataclass(slots=True)
class Namespace:
    """What a snippet sees besides builtins."""

    state: dict[str, Any]
    variables: Mapping[str, Any]
    actions: Mapping[str, Callable[..., Any]]
    args: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> dict[str, Any]:
        ns: dict[str, Any] = {
            "__name__": "__tea_node__",
            "__builtins__": __builtins__,
            "state": self.state,
            "variables": self.variables,
        }
        ns.update(self.extra)
        ns.update(self.args)
        ns["json"] = json
        ns["actions"] = self.actions
        return ns


def _run(
    compiled: _Compiled, ns: dict[str, Any], name: str, code: str, timeout: float | None
) -> Any:
    filename = _filename(name)
    try:
        with _Timer(timeout) as timer:
            if compiled.function:
                exec(compiled.code, ns)
                return ns[_FUNC]()
            exec(compiled.code, ns)
            return None
    except _Deadline as exc:
        frames = _frames(exc, filename, code)
        line = frames[-1].line if frames else None
        limit = f"{timer.timeout:g} s" if timer.timeout is not None else "its"
        raise PythonError(
            f"python code exceeded the time limit of {limit}",
            line,
            error_type="TimeoutError",
            frames=frames,
        ) from None
    except MemoryError as exc:
        frames = _frames(exc, filename, code)
        raise PythonError(
            "python code ran out of memory (the worker's memory limit)",
            frames[-1].line if frames else None,
            error_type="MemoryError",
            frames=frames,
        ) from None
    except RecursionError as exc:
        frames = _frames(exc, filename, code)
        raise PythonError(
            f"RecursionError: {exc}", frames[-1].line if frames else None, frames=frames[-8:]
        ) from None
    except (Exception, SystemExit, KeyboardInterrupt, GeneratorExit) as exc:
        frames = _frames(exc, filename, code)
        text = str(exc)
        message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        raise PythonError(message, frames[-1].line if frames else None, frames=frames) from None


def _is_data(value: Any) -> bool:
    return not isinstance(value, types.ModuleType | types.FunctionType | type | types.MethodType)


def run_code(
    code: str, namespace: Namespace, *, name: str = "node", timeout: float | None = None
) -> Any:
    """Run a snippet; return its result by the contract above (a dict of updates, or a value).

    Returns ``None`` when nothing changes, a ``dict`` to merge, or ``("result", value)`` wrapped
    as ``{"result": value}`` for any other returned value. Raises :class:`PythonError`.
    """
    compiled = _compile(code, name, "exec")
    ns = namespace.build()
    before = set(ns)
    value = _run(compiled, ns, name, code, timeout)
    if compiled.function:
        if value is None or isinstance(value, dict):
            return value
        return {"result": value}
    updates = {
        k: v
        for k, v in ns.items()
        if k not in before and not k.startswith("_") and _is_data(v) and k != _FUNC
    }
    return updates or None


def eval_expression(
    expr: str, namespace: Namespace, *, name: str = "node", timeout: float | None = None
) -> Any:
    """Evaluate ``run: {type: expression}``'s value as a Python expression."""
    compiled = _compile(expr, name, "eval")
    ns = namespace.build()
    filename = _filename(name)
    try:
        with _Timer(timeout):
            return eval(compiled.code, ns)
    except _Deadline as exc:
        raise PythonError(
            f"python expression exceeded the time limit of {timeout:g} s",
            1,
            error_type="TimeoutError",
            frames=_frames(exc, filename, expr),
        ) from None
    except MemoryError:
        raise PythonError(
            "python expression ran out of memory", 1, error_type="MemoryError"
        ) from None
    except Exception as exc:
        text = str(exc)
        message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        frames = _frames(exc, filename, expr)
        raise PythonError(message, frames[-1].line if frames else 1, frames=frames) from None
