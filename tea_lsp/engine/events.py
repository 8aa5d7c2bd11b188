"""The typed event stream of a run.

``run_workflow(..., events=callback)`` calls ``callback(event)`` from the thread that called
``run_workflow``, in order. ``t_ms`` is the time since the run started. ``branch`` is the
branch's first node name for events inside a parallel branch, else ``None``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import IO, Any, ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    type: ClassVar[str] = "event"
    t_ms: float

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["t_ms"] = round(self.t_ms, 3)
        return {"event": self.type, **data}


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    type: ClassVar[str] = "run_started"
    path: str
    workflow: str | None
    strategy: str


@dataclass(frozen=True, slots=True)
class NodeStarted(Event):
    type: ClassVar[str] = "node_started"
    node: str
    branch: str | None = None


@dataclass(frozen=True, slots=True)
class NodeFinished(Event):
    type: ClassVar[str] = "node_finished"
    node: str
    branch: str | None = None
    ok: bool = True
    timing_ms: float = 0.0
    error: str | None = None
    # A failed Python node: its traceback lines in the file, outermost first
    # ({"line", "column", "function", "text"}, 1-based); empty otherwise.
    traceback: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = Event.to_json(self)
        if not self.traceback:
            data.pop("traceback", None)
        else:
            data["traceback"] = [dict(t) for t in self.traceback]
        return data


@dataclass(frozen=True, slots=True)
class FanOutStarted(Event):
    type: ClassVar[str] = "fan_out_started"
    source: str
    fan_in: str
    branches: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class BranchStarted(Event):
    type: ClassVar[str] = "branch_started"
    branch: str
    fan_in: str
    index: int
    worker: int | None = None  # pid of the worker process (process strategy)


@dataclass(frozen=True, slots=True)
class BranchFinished(Event):
    type: ClassVar[str] = "branch_finished"
    branch: str
    fan_in: str
    index: int
    success: bool
    timing_ms: float
    error_type: str | None = None
    error: str | None = None
    timeout: bool = False


@dataclass(frozen=True, slots=True)
class FanOutFinished(Event):
    type: ClassVar[str] = "fan_out_finished"
    source: str
    fan_in: str
    succeeded: int
    failed: int
    timing_ms: float


@dataclass(frozen=True, slots=True)
class RunFinished(Event):
    type: ClassVar[str] = "run_finished"
    ok: bool
    status: str
    steps: int
    timing_ms: float
    error: str | None = None


EventCallback = Callable[[Event], None]


class NdjsonWriter:
    """An event callback writing one JSON object per line."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def __call__(self, event: Event) -> None:
        self._stream.write(json.dumps(event.to_json(), ensure_ascii=False, default=str) + "\n")
        self._stream.flush()
