"""The main flow, run inside a worker process kept for the run.

The runner (the CLI's or the language server's process) never runs user code: it leases a
worker, sends it a :class:`MainTask`, and the worker runs the main flow's nodes in one
:class:`~tea_lsp.engine.nodes.Flow` (so Lua globals persist from node to node) and routes.
At a fan-out the worker asks the runner to run the branches (``("fan_out", task_id,
FanOutRequest)``) and waits for ``("fan_in", results)`` — the runner dispatches them to the
process pool, or back to this worker as threads (``("run_threads", ...)``) for the ``thread``
strategy. Every node sends its events, so the runner knows which node runs and can kill the
worker when one runs past its time; cancellation is a kill too.

Messages worker → runner: ``("node", id, NodeEvent)``, ``("fan_out", id, FanOutRequest)``,
``("exec", id, ExecEvent)`` and ``("threads_done", id, FanOutReport)`` (thread fan-outs),
``("main_done", id, MainOutcome)``. Runner → worker: ``("fan_in", results)``,
``("run_threads", FanOutJob without callbacks)``, ``("stop",)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from tea_lsp.engine.actions.registry import default_registry
from tea_lsp.engine.branch import load_workflow, workflow_dir
from tea_lsp.engine.nodes import Failure, Flow, FlowEnv, NodeError, RunCancelled, failure
from tea_lsp.engine.plan import Limits, dynamic_fail_fast, dynamic_max_parallel
from tea_lsp.engine.state import State, json_clone
from tea_lsp.model.workflow import END, Node


class Channel(Protocol):
    def send(self, obj: Any) -> None: ...
    def recv(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class MainTask:
    text: str
    path: str
    doc_index: int
    entry: str
    state: State
    limits: Limits
    test_actions: bool
    fan_outs: dict[str, tuple[str, tuple[str, ...]]]  # source node → (fan-in, branches)
    text_key: str = ""  # as in BranchTask


@dataclass(frozen=True, slots=True)
class FanOutRequest:
    source: str
    fan_in: str
    branches: list[str]  # labels: first node names, or "<node>[<i>]" for dynamic items
    states: list[State]
    dynamic: str | None
    max_parallel: int
    fail_fast: bool


@dataclass(slots=True)
class MainOutcome:
    status: str  # "ok" | "failed" | "stopped" (the runner stopped it during a fan-out)
    state: State | None
    error: str | None = None
    failure: Failure | None = None
    steps: int = 0
    reusable: bool = True  # no thread was abandoned: the worker may be reused


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    return f"a '{type(value).__name__}'"


def _dynamic_request(flow: Flow, node: Node, state: State, limits: Limits) -> FanOutRequest:
    """One branch per item of a ``dynamic_parallel`` node's ``items``."""
    assert node.items is not None and node.dp_fan_in is not None
    items = flow.expression(node, node.items, flow.context(state))
    if not isinstance(items, list):
        shown = json.dumps(items, ensure_ascii=False)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise failure(
            node.name,
            "TemplateError",
            f"'items' must evaluate to a list, got {_json_kind(items)} '{shown}'",
            node.items.scalar.span,
        )
    snapshot = json_clone(state)
    states: list[State] = []
    for k, item in enumerate(items):
        st = dict(snapshot)
        st[node.item_var] = item
        st[node.index_var] = k
        states.append(st)
    return FanOutRequest(
        source=node.name,
        fan_in=node.dp_fan_in.name,
        branches=[f"{node.name}[{k}]" for k in range(len(items))],
        states=states,
        dynamic=node.name,
        max_parallel=dynamic_max_parallel(node, limits),
        fail_fast=dynamic_fail_fast(node, limits),
    )


class _Stopped(Exception):
    """The runner stopped the run while the worker waited for a fan-in."""


def _wait_fan_in(conn: Channel, task_id: int, state: dict[str, bool]) -> list[dict[str, Any]]:
    """Wait for the branches' results; run thread fan-outs the runner hands back meanwhile."""
    from tea_lsp.engine.executors import FanOutJob, ThreadExecutor

    while True:
        msg = conn.recv()
        kind = msg[0]
        if kind == "fan_in":
            results: list[dict[str, Any]] = msg[1]
            return results
        if kind == "run_threads":
            spec: FanOutJob = msg[1]

            def forward(ev: Any) -> None:
                conn.send(("exec", task_id, ev))

            spec.on_event = forward
            report = ThreadExecutor().run_fan_out(spec)
            if any(o.timeout for o in report.outcomes):
                state["reusable"] = False  # an abandoned thread may still be running
            conn.send(("threads_done", task_id, report))
            continue
        raise _Stopped()


def run_main(task: MainTask, conn: Channel, task_id: int) -> MainOutcome:
    """Run the main flow from ``task.entry`` until it ends; called inside a worker."""
    wf, lines = load_workflow(task.text, task.doc_index, task.text_key)
    limits = task.limits
    env = FlowEnv(
        workflow=wf,
        lines=lines,
        registry=default_registry(task.test_actions),
        workflow_dir=workflow_dir(task.path),
        limits=limits,
        emit=lambda ev: conn.send(("node", task_id, ev)),
        in_worker=True,
    )
    flow = Flow(env)
    flags = {"reusable": True}
    state = task.state
    current = task.entry
    try:
        while current != END:
            node = wf.by_name[current]
            result = flow.run_node(node, state)
            request: FanOutRequest | None = None
            if node.type == "dynamic_parallel" and node.dp_fan_in is not None:
                request = _dynamic_request(flow, node, state, limits)
            elif node.goto is None and node.name in task.fan_outs:
                fan_in, branches = task.fan_outs[node.name]
                snapshot = json_clone(state)
                request = FanOutRequest(
                    source=node.name,
                    fan_in=fan_in,
                    branches=list(branches),
                    states=[snapshot] * len(branches),
                    dynamic=None,
                    max_parallel=limits.max_parallel,
                    fail_fast=limits.fail_fast,
                )
            if request is not None:
                conn.send(("fan_out", task_id, request))
                state["parallel_results"] = _wait_fan_in(conn, task_id, flags)
                current = request.fan_in
                continue
            current = flow.next_target(node, state, result)
    except NodeError as exc:
        return MainOutcome(
            "failed",
            state,  # as it was before the failing node: updates merge only on success
            exc.failure.message,
            exc.failure,
            flow.steps,
            flags["reusable"],
        )
    except (_Stopped, RunCancelled):
        return MainOutcome("stopped", None, None, None, flow.steps, False)
    finally:
        flow.close()
    return MainOutcome("ok", state, None, None, flow.steps, flags["reusable"])
