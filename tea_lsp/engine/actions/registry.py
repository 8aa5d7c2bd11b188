"""The action registry: every ``uses:`` name, its function and the JSON schema of its ``with:``.

The registry is rebuilt identically in every process (the actions the catalogue lists as run by
tea-lsp, with the catalogue's schemas, bound to the built-in functions; the test-only ones when
``TEA_LSP_TEST_ACTIONS=1``; then the entry-point group ``tea_lsp.actions``), so a branch running
in a worker process finds the same definitions, by name, as the main flow and the checker.

An entry point of the group ``tea_lsp.actions`` may load to an :class:`ActionSpec`, an iterable
of them, or a callable ``register(registry)`` that calls :meth:`ActionRegistry.register`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import jsonschema

from tea_lsp.catalog import TEST_ACTIONS_ENV as TEST_ACTIONS_ENV
from tea_lsp.catalog import ArgumentSchema, catalog
from tea_lsp.catalog import test_actions_enabled as _test_actions_enabled
from tea_lsp.catalog.plugins import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP


class ActionError(Exception):
    """An action failed; ``message`` is shown to the user (``error_type`` ``ActionError``)."""

    error_type = "ActionError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ActionTimeout(ActionError):
    """An action ran into its node's deadline (``error_type`` ``TimeoutError``)."""

    error_type = "TimeoutError"


class ActionCancelled(ActionError):
    """The run was cancelled while the action waited."""

    error_type = "Cancelled"


class CancelSignal(Protocol):
    """What cancellation looks like to a node: a ``threading.Event`` or a ``CancelToken``."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


@dataclass(slots=True)
class ActionContext:
    """What an action may know about where it runs.

    ``deadline`` is a ``time.monotonic()`` instant (``None``: no limit); long actions should wait
    with :meth:`sleep` or bound their own timeouts by :meth:`remaining`.
    """

    workflow_dir: Path
    node: str
    deadline: float | None = None
    cancel: CancelSignal | None = None
    in_worker: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def check(self) -> None:
        """Raise when the run was cancelled or the deadline has passed."""
        if self.cancel is not None and self.cancel.is_set():
            raise ActionCancelled("the run was cancelled")
        left = self.remaining()
        if left is not None and left <= 0:
            raise ActionTimeout("the deadline passed before the action finished")

    def sleep(self, seconds: float) -> None:
        """Sleep, waking up early (with an error) on cancellation or at the deadline."""
        self.check()
        left = self.remaining()
        if left is not None and seconds > left:
            self._wait(left)
            raise ActionTimeout(f"sleeping {seconds:g} s would pass the deadline")
        self._wait(seconds)
        self.check()

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.cancel is not None:
            if self.cancel.wait(seconds):
                raise ActionCancelled("the run was cancelled")
        else:
            time.sleep(seconds)

    def resolve_path(self, raw: str) -> Path:
        """``raw`` relative to the workflow's folder; paths escaping the folder are refused."""
        if not raw:
            raise ActionError("'path' must not be empty")
        candidate = Path(raw)
        if candidate.is_absolute():
            raise ActionError(f"path '{raw}' is absolute; use a path relative to the workflow")
        base = self.workflow_dir.resolve()
        full = (base / candidate).resolve()
        if full != base and not full.is_relative_to(base):
            raise ActionError(f"path '{raw}' escapes the workflow's folder")
        return full


ActionFunc = Callable[[dict[str, Any], ActionContext], Any]


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One action: ``func(args, ctx)`` and the JSON schema (an object schema) of its ``with:``.

    The return value follows the Lua node contract: a mapping is merged into the state, ``None``
    changes nothing, anything else is stored as ``result`` — unless the node names an ``output``
    key, which then receives the value as is.
    """

    name: str
    func: ActionFunc
    schema: Mapping[str, Any]
    summary: str = ""

    @property
    def arguments(self) -> ArgumentSchema:
        return ArgumentSchema(self.name, self.schema)

    @property
    def properties(self) -> Mapping[str, Any]:
        return self.arguments.properties

    @property
    def required(self) -> list[str]:
        return self.arguments.required

    @property
    def open_arguments(self) -> bool:
        """True when the schema accepts arguments it does not list."""
        return self.arguments.open_arguments

    def validate(self, args: Mapping[str, Any]) -> str | None:
        """``None`` when ``args`` fit the schema, else a message naming the first problem."""
        validator = jsonschema.Draft202012Validator(dict(self.schema))
        errors = sorted(validator.iter_errors(dict(args)), key=lambda e: list(e.path))
        if not errors:
            return None
        err = errors[0]
        where = ".".join(str(p) for p in err.path)
        return f"argument '{where}': {err.message}" if where else err.message


@dataclass(slots=True)
class ActionRegistry:
    """Actions by name. Build it with :func:`default_registry`; extend it with :meth:`register`."""

    _specs: dict[str, ActionSpec] = field(default_factory=dict)
    load_errors: list[str] = field(default_factory=list)

    def register(self, spec: ActionSpec) -> None:
        self._specs[spec.name] = spec

    def get(self, name: str) -> ActionSpec | None:
        return self._specs.get(name)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ActionSpec]:
        return iter(self._specs.values())

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Register user actions; a broken entry point is recorded in ``load_errors``."""
        try:
            eps = list(metadata.entry_points(group=group))
        except Exception as exc:  # a broken installation must not stop the checker
            self.load_errors.append(f"cannot list entry points '{group}': {exc}")
            return
        for ep in eps:
            try:
                self._add_loaded(ep.load())
            except Exception as exc:  # user code: report, never crash
                self.load_errors.append(f"action entry point '{ep.name}': {exc}")

    def _add_loaded(self, obj: Any) -> None:
        if isinstance(obj, ActionSpec):
            self.register(obj)
        elif callable(obj):
            obj(self)
        elif isinstance(obj, Iterable):
            for item in obj:
                if not isinstance(item, ActionSpec):
                    raise TypeError(f"expected ActionSpec, got {type(item).__name__}")
                self.register(item)
        else:
            raise TypeError(f"expected ActionSpec or register(registry), got {type(obj).__name__}")


def test_actions_enabled() -> bool:
    return _test_actions_enabled()


def default_registry(test_actions: bool | None = None) -> ActionRegistry:
    """The registry every part of tea-lsp uses (cached per process).

    ``test_actions``: include ``test.*`` actions; ``None`` reads ``TEA_LSP_TEST_ACTIONS``.
    """
    return _build(test_actions_enabled() if test_actions is None else test_actions)


@cache
def _build(test_actions: bool) -> ActionRegistry:
    from tea_lsp.engine.actions import builtin

    reg = ActionRegistry()
    funcs = {s.name: s for s in (*builtin.BUILTINS, *builtin.TEST_ACTIONS)}
    for entry in catalog():
        spec = funcs.pop(entry.name, None)
        if spec is None or not entry.runnable or (entry.test_only and not test_actions):
            continue
        schema = entry.schema if entry.schema is not None else spec.schema
        reg.register(replace(spec, schema=schema, summary=entry.summary or spec.summary))
    test_names = {s.name for s in builtin.TEST_ACTIONS}
    for spec in funcs.values():  # a built-in the catalogue does not list yet
        if test_actions or spec.name not in test_names:
            reg.register(spec)
    reg.load_entry_points()
    return reg
