"""A run, read back from its event records (``--events`` NDJSON, or the events in memory).

Pure: a list of JSON objects in, plain data out. Unknown event types and missing fields are
ignored (a truncated file gives a partial record), never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MAIN = "main"


@dataclass(slots=True)
class NodeRun:
    """One execution of a node: in the main flow (``branch`` None) or inside a branch."""

    node: str
    branch: str | None
    start_ms: float
    end_ms: float | None = None
    ok: bool | None = None  # None: started, never finished
    timing_ms: float | None = None
    error: str | None = None


@dataclass(slots=True)
class BranchRun:
    branch: str
    fan_in: str
    index: int
    start_ms: float
    worker: int | None = None
    end_ms: float | None = None
    success: bool | None = None
    timeout: bool = False
    error_type: str | None = None
    error: str | None = None
    timing_ms: float | None = None
    source: str | None = None  # the fan-out's source node

    @property
    def outcome(self) -> str:
        if self.timeout:
            return "timeout"
        if self.success is None:
            return "not_run" if self.end_ms is None else "failed"
        return "ok" if self.success else "failed"


@dataclass(slots=True)
class RunRecord:
    path: str | None = None
    workflow: str | None = None
    strategy: str | None = None
    nodes: list[NodeRun] = field(default_factory=list)
    branches: list[BranchRun] = field(default_factory=list)
    fan_outs: list[dict[str, Any]] = field(default_factory=list)
    finished: dict[str, Any] | None = None
    end_ms: float = 0.0

    @property
    def ok(self) -> bool | None:
        return None if self.finished is None else bool(self.finished.get("ok"))

    @property
    def status(self) -> str:
        if self.finished is None:
            return "unfinished"
        return str(self.finished.get("status", "unknown"))

    def branch(self, name: str) -> BranchRun | None:
        for b in self.branches:
            if b.branch == name:
                return b
        return None

    def workers(self) -> dict[int, list[BranchRun]]:
        out: dict[int, list[BranchRun]] = {}
        for b in self.branches:
            if b.worker is not None:
                out.setdefault(b.worker, []).append(b)
        return out


def _num(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_events(events: Iterable[dict[str, Any]]) -> RunRecord:
    rec = RunRecord()
    open_nodes: dict[tuple[str, str | None], NodeRun] = {}
    sources: dict[str, str] = {}  # branch name -> fan-out source
    for ev in events:
        if not isinstance(ev, dict):
            continue
        kind = ev.get("event")
        t = _num(ev.get("t_ms"))
        rec.end_ms = max(rec.end_ms, t)
        if kind == "run_started":
            rec.path = _str(ev.get("path"))
            rec.workflow = _str(ev.get("workflow"))
            rec.strategy = _str(ev.get("strategy"))
        elif kind == "node_started":
            name = _str(ev.get("node"))
            if name is None:
                continue
            run = NodeRun(name, _str(ev.get("branch")), t)
            rec.nodes.append(run)
            open_nodes[(name, run.branch)] = run
        elif kind == "node_finished":
            name = _str(ev.get("node"))
            if name is None:
                continue
            branch = _str(ev.get("branch"))
            found = open_nodes.pop((name, branch), None)
            if found is None:  # no start recorded: place it by its own timing
                found = NodeRun(name, branch, t - _num(ev.get("timing_ms")))
                rec.nodes.append(found)
            found.end_ms = t
            found.ok = bool(ev.get("ok", True))
            found.timing_ms = _num(ev.get("timing_ms"), t - found.start_ms)
            found.error = _str(ev.get("error"))
        elif kind == "fan_out_started":
            rec.fan_outs.append(dict(ev))
            for b in ev.get("branches") or ():
                if isinstance(b, str):
                    sources[b] = str(ev.get("source"))
        elif kind == "branch_started":
            name = _str(ev.get("branch"))
            if name is None:
                continue
            worker = ev.get("worker")
            rec.branches.append(
                BranchRun(
                    name,
                    str(ev.get("fan_in")),
                    int(_num(ev.get("index"))),
                    t,
                    worker if isinstance(worker, int) and not isinstance(worker, bool) else None,
                    source=sources.get(name),
                )
            )
        elif kind == "branch_finished":
            name = _str(ev.get("branch"))
            if name is None:
                continue
            br = rec.branch(name)
            if br is None:  # never started (e.g. the fan-out's timeout passed first)
                br = BranchRun(name, str(ev.get("fan_in")), int(_num(ev.get("index"))), t)
                br.source = sources.get(name)
                rec.branches.append(br)
            br.end_ms = t
            br.success = bool(ev.get("success"))
            br.timeout = bool(ev.get("timeout"))
            br.error_type = _str(ev.get("error_type"))
            br.error = _str(ev.get("error"))
            br.timing_ms = _num(ev.get("timing_ms"), t - br.start_ms)
        elif kind == "run_finished":
            rec.finished = dict(ev)
    return rec


class EventsError(Exception):
    pass


def parse_ndjson(text: str, where: str) -> list[dict[str, Any]]:
    """The event objects of an NDJSON text; a line that is not a JSON object is an error."""
    out: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EventsError(
                f"{where}:{n}:{exc.colno}: not a JSON event: {exc.msg.lower()}"
            ) from None
        if not isinstance(value, dict) or not isinstance(value.get("event"), str):
            raise EventsError(f"{where}:{n}:1: expected an event object with an 'event' field")
        out.append(value)
    return out
