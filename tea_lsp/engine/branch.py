"""The branch runner: a top-level, picklable function over plain data.

A worker (process or thread) receives a :class:`BranchTask` — the workflow *text*, its path,
the branch's first node, the fan-in name, the state, the limits — re-reads the workflow (cached
by the text's hash, so a warm worker parses a file once), builds a fresh Lua VM for this branch
only, runs the branch's nodes until control reaches the fan-in, and returns a
:class:`BranchOutcome` (plain data again).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tea_lsp.engine.actions.registry import CancelSignal, default_registry
from tea_lsp.engine.nodes import (
    Failure,
    Flow,
    FlowEnv,
    NodeEmit,
    NodeError,
    RunCancelled,
)
from tea_lsp.engine.plan import Limits, dynamic_action
from tea_lsp.engine.state import State, json_clone
from tea_lsp.model.build import build_workflow
from tea_lsp.model.workflow import END, Workflow
from tea_lsp.syntax.text import LineIndex
from tea_lsp.syntax.yaml_tree import parse_yaml


@dataclass(frozen=True, slots=True)
class BranchTask:
    text: str
    path: str
    doc_index: int
    branch: str
    fan_in: str
    index: int  # position in the fan-out's declaration order
    state: State
    limits: Limits
    fan_out_deadline: float | None  # monotonic instant (same clock in every process on Linux)
    test_actions: bool
    dynamic: str | None = None  # a dynamic_parallel node: run its item work, not routing
    text_key: str = ""  # SHA-256 of the text; the text is "" when the worker has it cached


@dataclass(slots=True)
class BranchOutcome:
    branch: str
    index: int
    success: bool
    state: State | None
    error: str | None = None
    error_type: str | None = None
    timeout: bool = False
    timing_ms: float = 0.0
    steps: int = 0
    failure: Failure | None = None
    cancelled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


_CACHE_SIZE = 16
TEXTS_KNOWN = _CACHE_SIZE // 2  # texts the pool assumes a worker still has cached
_cache: OrderedDict[tuple[str, int], tuple[Workflow, LineIndex]] = OrderedDict()
_cache_lock = threading.Lock()


@functools.lru_cache(maxsize=32)
def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_workflow(text: str, doc_index: int, key_hint: str = "") -> tuple[Workflow, LineIndex]:
    """Parse and build the workflow in ``text`` (cached by the text's SHA-256).

    ``text`` may be ``""`` with ``key_hint`` its SHA-256 when the text is known to be cached.
    """
    key = (key_hint or text_key(text), doc_index)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    if not text and key_hint:
        raise ValueError("the workflow text is not cached in this worker")
    parsed = parse_yaml(text)
    wf = build_workflow(parsed.documents[doc_index].root)
    if wf is None:
        raise ValueError("the document is not a workflow")
    value = (wf, parsed.lines)
    with _cache_lock:
        _cache[key] = value
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return value


_python_cache: dict[tuple[str, int, str], bool] = {}


def workflow_has_python(
    text: str, doc_index: int, default_language: str, key_hint: str = ""
) -> bool:
    """Whether any node of the workflow runs Python code (its snippets precompiled, so children
    forked from a warm worker find them compiled)."""
    key = (key_hint or text_key(text), doc_index, default_language)
    hit = _python_cache.get(key)
    if hit is not None:
        return hit
    from tea_lsp.langs.detect import resolve_language
    from tea_lsp.langs.python.runtime import PythonError, precompile

    wf, _lines = load_workflow(text, doc_index, key_hint)
    found = False
    stack = list(wf.nodes)
    while stack:
        node = stack.pop()
        stack.extend((*node.steps, *node.body))
        is_python = node.code is not None and resolve_language(node, default_language) == "python"
        if is_python or node.expression is not None:
            found = True
            snippet = node.code if node.code is not None else node.expression
            assert snippet is not None
            with contextlib.suppress(PythonError):
                precompile(snippet.text, node.name, "exec" if is_python else "eval")
    if len(_python_cache) > 64:
        _python_cache.clear()
    _python_cache[key] = found
    return found


def workflow_dir(path: str) -> Path:
    if not path or path.startswith("<"):
        return Path.cwd()
    return Path(path).resolve().parent


def run_branch(
    task: BranchTask,
    emit: NodeEmit | None = None,
    cancel: CancelSignal | None = None,
    *,
    in_worker: bool = False,
) -> BranchOutcome:
    """Run one branch from ``task.branch`` until control reaches ``task.fan_in``.

    For one item of a ``dynamic_parallel`` node (``task.dynamic``), run that node's ``action``
    or its ``steps`` in order instead.
    """
    t0 = time.monotonic()
    deadline: float | None = None
    deadline_text = "its deadline"
    limits = task.limits
    if limits.branch_timeout is not None:
        deadline = t0 + limits.branch_timeout
        deadline_text = f"the branch timeout of {limits.branch_timeout:g} s"
    fod = task.fan_out_deadline
    if fod is not None and (deadline is None or fod < deadline):
        deadline = fod
        deadline_text = f"the fan-out timeout of {limits.fan_out_timeout or 0:g} s"

    def done(**kw: Any) -> BranchOutcome:
        return BranchOutcome(
            branch=task.branch,
            index=task.index,
            timing_ms=(time.monotonic() - t0) * 1000,
            **kw,
        )

    if task.fan_out_deadline is not None and t0 >= task.fan_out_deadline:
        return done(
            success=False,
            state=None,
            error=f"branch '{task.branch}': the fan-out timeout passed before the branch started",
            error_type="TimeoutError",
            timeout=True,
        )
    try:
        wf, lines = load_workflow(task.text, task.doc_index, task.text_key)
    except Exception as exc:  # the parent checked the text; this is a bug or a race
        return done(success=False, state=None, error=str(exc), error_type="InternalError")
    env = FlowEnv(
        workflow=wf,
        lines=lines,
        registry=default_registry(task.test_actions),
        workflow_dir=workflow_dir(task.path),
        limits=task.limits,
        branch=task.branch,
        deadline=deadline,
        deadline_text=deadline_text,
        cancel=cancel,
        emit=emit,
        in_worker=in_worker,
        dynamic_item=task.dynamic is not None,
    )
    flow = Flow(env)
    state: State = json_clone(task.state)
    current = task.branch
    try:
        if task.dynamic is not None:
            dp = wf.by_name.get(task.dynamic)
            if dp is None:
                return done(
                    success=False,
                    state=None,
                    error=f"branch '{task.branch}': no node '{task.dynamic}'",
                    error_type="InternalError",
                )
            env.item_names = (dp.item_var, dp.index_var)
            action = dynamic_action(dp)
            for sub in [action] if action is not None else dp.steps:
                flow.run_node(sub, state)
            current = task.fan_in
        while current not in (task.fan_in, END):
            node = wf.by_name.get(current)
            if node is None:
                return done(
                    success=False,
                    state=None,
                    error=f"branch '{task.branch}': no node '{current}'",
                    error_type="InternalError",
                    steps=flow.steps,
                )
            result = flow.run_node(node, state)
            current = flow.next_target(node, state, result)
    except NodeError as exc:
        f = exc.failure
        return done(
            success=False,
            state=None,
            error=f.message,
            error_type=f.error_type,
            timeout=f.timeout,
            steps=flow.steps,
            failure=f,
        )
    except RunCancelled:
        return done(
            success=False,
            state=None,
            error=f"branch '{task.branch}' was cancelled",
            error_type="Cancelled",
            steps=flow.steps,
            cancelled=True,
        )
    finally:
        flow.close()
    return done(success=True, state=state, steps=flow.steps)
