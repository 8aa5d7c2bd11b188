"""Executing nodes and choosing the next one: shared by the main flow and every branch.

A :class:`Flow` owns one Lua VM (created on first use) and runs nodes against a state dict.
Failures become :class:`NodeError` carrying a :class:`Failure`: plain, picklable data with the
diagnostic code and the file span (the failing Lua line mapped to its YAML line), so a branch
failing in a worker process reports the same diagnostic as the main flow would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tea_lsp.diagnostics import Diagnostic, Severity, Span
from tea_lsp.engine.actions.registry import (
    ActionCancelled,
    ActionContext,
    ActionError,
    ActionRegistry,
    ActionTimeout,
    CancelSignal,
)
from tea_lsp.engine.plan import Limits
from tea_lsp.engine.state import ERROR_CODES, State, json_clone, merge
from tea_lsp.model.routing import routes
from tea_lsp.model.workflow import END, Node, Snippet, Workflow
from tea_lsp.safeio import non_finite
from tea_lsp.syntax.embedded import SnippetMap
from tea_lsp.syntax.text import LineIndex
from tea_lsp.syntax.yaml_tree import YMap, YNode, YScalar, YSeq

if TYPE_CHECKING:
    from tea_lsp.langs.lua import LuaVM


# (kind, node, monotonic time, ok, timing_ms, error)
NodeEvent = tuple[str, str, float, bool, float, str | None]
NodeEmit = Callable[[NodeEvent], None]


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a node failed, as plain data (crosses process boundaries)."""

    node: str
    error_type: str
    message: str  # "node 'x': <what happened>"
    code: str
    span: tuple[int, int, int, int]
    timeout: bool = False

    def diagnostic(self) -> Diagnostic:
        return Diagnostic(self.code, Severity.ERROR, self.message, Span(*self.span))


class NodeError(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class RunCancelled(Exception):
    """The run (or the branch) was cancelled."""


def _span_tuple(span: Span) -> tuple[int, int, int, int]:
    return (span.start_line, span.start_col, span.end_line, span.end_col)


def failure(
    node: str, error_type: str, what: str, span: Span, *, timeout: bool = False
) -> NodeError:
    code = ERROR_CODES.get(error_type, "TEA601")
    return NodeError(
        Failure(node, error_type, f"node '{node}': {what}", code, _span_tuple(span), timeout)
    )


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


@dataclass(slots=True)
class FlowEnv:
    """Everything a flow needs besides its state."""

    workflow: Workflow
    lines: LineIndex
    registry: ActionRegistry
    workflow_dir: Path
    limits: Limits
    branch: str | None = None  # None: the main flow
    deadline: float | None = None  # monotonic; a branch's budget (and its fan-out's)
    deadline_text: str = "its deadline"  # "the branch timeout of 0.5 s", for messages
    cancel: CancelSignal | None = None
    emit: NodeEmit | None = None
    in_worker: bool = False
    dynamic_item: bool = False  # a branch running one item of a dynamic_parallel node
    item_names: tuple[str, ...] = ()  # its item_var / index_var: template names too
    action_extra: dict[str, Any] = field(default_factory=dict)


class Flow:
    """Runs nodes of one flow (the main flow, or one branch) in one Lua VM."""

    def __init__(self, env: FlowEnv) -> None:
        self.env = env
        self.steps = 0
        self._vm: LuaVM | None = None
        self._variables = json_clone(env.workflow.variables)

    # ---- lifecycle

    def vm(self) -> LuaVM:
        if self._vm is None:
            from tea_lsp.langs.lua import LuaVM

            timeout = self.env.limits.lua_timeout if self.env.branch is None else self._remaining()
            self._vm = LuaVM(
                max_memory=self.env.limits.lua_max_memory,
                timeout=timeout,
                variables=self._variables,
            )
        return self._vm

    def close(self) -> None:
        if self._vm is not None:
            vm, self._vm = self._vm, None
            vm.close()

    def _remaining(self) -> float | None:
        if self.env.deadline is None:
            return None
        return self.env.deadline - time.monotonic()

    def _check_cancel(self) -> None:
        if self.env.cancel is not None and self.env.cancel.is_set():
            raise RunCancelled()

    # ---- templates

    def context(
        self, state: State, result: Any = None, *, with_result: bool = False
    ) -> dict[str, Any]:
        ctx: dict[str, Any] = {"state": state, "variables": self._variables}
        if with_result:
            ctx["result"] = result
        if "parallel_results" in state:
            ctx["parallel_results"] = state["parallel_results"]
        for name in self.env.item_names:
            ctx[name] = state.get(name)
        return ctx

    def _template_failure(self, node: Node, scalar: YScalar, exc: Exception) -> NodeError:
        message = getattr(exc, "message", None) or str(exc)
        line = getattr(exc, "line", None)
        span = scalar.span
        if isinstance(line, int) and line >= 1:
            smap = SnippetMap.for_scalar(scalar, self.env.lines)
            text_lines = scalar.text.split("\n")
            if line - 1 < len(text_lines):
                span = smap.line_span(line - 1, text_lines[line - 1])
        return failure(node.name, "TemplateError", f"template error: {message}", span)

    def render(self, node: Node, value: YNode, ctx: Mapping[str, Any]) -> Any:
        """A ``with:``/``output`` value: templates rendered, the rest as written."""
        from tea_lsp.langs.jinja import TemplateError, render_value

        if isinstance(value, YScalar):
            if isinstance(value.value, str) and _is_template(value.value):
                try:
                    return json_clone(render_value(value.value, dict(ctx)))
                except TemplateError as exc:
                    raise self._template_failure(node, value, exc) from None
            return json_clone(value.value)
        if isinstance(value, YSeq):
            return [self.render(node, item, ctx) for item in value.items]
        if isinstance(value, YMap):
            out: dict[str, Any] = {}
            for p in value.pairs:
                if p.key_text is not None:
                    out[p.key_text] = self.render(node, p.value, ctx)
            return out
        return None

    def condition(self, node: Node, snippet: Snippet, ctx: Mapping[str, Any]) -> bool:
        from tea_lsp.langs.jinja import TemplateError, eval_condition

        try:
            return bool(eval_condition(snippet.text, dict(ctx)))
        except TemplateError as exc:
            raise self._template_failure(node, snippet.scalar, exc) from None

    def expression(self, node: Node, snippet: Snippet, ctx: Mapping[str, Any]) -> Any:
        from tea_lsp.langs.jinja import TemplateError, eval_expression

        try:
            return json_clone(eval_expression(snippet.text, dict(ctx)))
        except TemplateError as exc:
            raise self._template_failure(node, snippet.scalar, exc) from None

    # ---- nodes

    def run_node(self, node: Node, state: State) -> Any:
        """Run one node (and its sub-nodes) against ``state``; returns the node's result."""
        self._check_cancel()
        if self.steps >= self.env.limits.max_steps:
            raise failure(
                node.name,
                "MaxSteps",
                f"the run reached its limit of {self.env.limits.max_steps} steps; a cycle may "
                "never end (raise --max-steps to allow longer runs)",
                node.name_span,
            )
        self.steps += 1
        emit = self.env.emit
        t0 = time.monotonic()
        if emit is not None:
            emit(("node_started", node.name, t0, True, 0.0, None))
        try:
            result = self._execute(node, state)
        except NodeError as exc:
            if emit is not None:
                t1 = time.monotonic()
                emit(("node_finished", node.name, t1, False, (t1 - t0) * 1000, exc.failure.message))
            raise
        if emit is not None:
            t1 = time.monotonic()
            emit(("node_finished", node.name, t1, True, (t1 - t0) * 1000, None))
        return result

    def _execute(self, node: Node, state: State) -> Any:
        result: Any = None
        if node.type == "dynamic_parallel" and not (self.env.dynamic_item and node.parent is None):
            return None  # the runner fans its items out (see runner.py)
        if node.uses is not None:
            result = self._run_action(node, state)
        elif node.code is not None:
            result = self._run_lua(node, node.code, state)
        elif node.expression is not None:
            value = self.expression(node, node.expression, self.context(state))
            merge(state, {node.output_key or "result": value})
            result = value
        for sub in node.steps:
            self.run_node(sub, state)
        if node.type == "while_loop":
            self._run_loop(node, state)
        return result

    def _run_loop(self, node: Node, state: State) -> None:
        limit = node.max_iterations or 1000
        for _ in range(limit):
            if node.condition is None or not self.condition(
                node, node.condition, self.context(state)
            ):
                return
            for sub in node.body:
                self.run_node(sub, state)

    def _run_lua(self, node: Node, code: Snippet, state: State) -> Any:
        from tea_lsp.langs.lua import LuaError

        timeout = self._branch_time_left(node)
        try:
            vm = self.vm()
            updates = vm.run_node(code.text, state, chunkname=node.name, timeout=timeout)
        except LuaError as exc:
            raise self._lua_failure(node, code, exc) from None
        if (bad := non_finite(updates)) is not None:
            where, number = bad
            raise failure(
                node.name,
                "LuaError",
                f"lua code returned {number} at '{where}'; JSON numbers cannot be NaN or "
                "infinite (return a string or nil instead)",
                code.scalar.span,
            )
        if updates:
            merge(state, updates)
        return json_clone(updates) if updates is not None else None

    def _branch_time_left(self, node: Node) -> float | None:
        """Seconds left in the branch's budget (``None``: no limit, or the main flow).

        Raises the branch's timeout when the budget ran out before ``node`` started.
        """
        if self.env.branch is None:
            return None
        left = self._remaining()
        if left is not None and left <= 0:
            raise failure(
                node.name,
                "TimeoutError",
                "the branch ran out of time before this node started",
                node.name_span,
                timeout=True,
            )
        return left

    def _lua_failure(self, node: Node, code: Snippet, exc: Exception) -> NodeError:
        error_type = str(getattr(exc, "error_type", "LuaError"))
        message = str(getattr(exc, "message", exc))
        line = getattr(exc, "line", None)
        smap = SnippetMap.for_scalar(code.scalar, self.env.lines)
        span = smap.whole_span
        if isinstance(line, int) and line >= 1:
            text_lines = code.text.split("\n")
            if line - 1 < len(text_lines):
                span = smap.line_span(line - 1, text_lines[line - 1])
        elif smap.exact:
            span = smap.line_span(0, code.text.split("\n")[0])
        if error_type not in ("LuaError", "TimeoutError", "MemoryError"):
            error_type = "LuaError"
        if error_type == "TimeoutError" and self.env.branch is not None:
            message = f"lua code ran past {self.env.deadline_text}"
        return failure(node.name, error_type, message, span, timeout=error_type == "TimeoutError")

    def _run_action(self, node: Node, state: State) -> Any:
        assert node.uses is not None
        uses_span = node.uses_span or node.name_span
        spec = self.env.registry.get(node.uses)
        if spec is None:
            raise failure(node.name, "ActionError", f"unknown action '{node.uses}'", uses_span)
        ctx = self.context(state)
        args: dict[str, Any] = {}
        if node.with_args is not None:
            rendered = self.render(node, node.with_args, ctx)
            args = rendered if isinstance(rendered, dict) else {}
        problem = spec.validate(args)
        if problem is not None:
            span = node.with_args.span if node.with_args is not None else uses_span
            raise failure(node.name, "ActionError", f"action '{spec.name}': {problem}", span)
        self._branch_time_left(node)
        actx = ActionContext(
            workflow_dir=self.env.workflow_dir,
            node=node.name,
            deadline=self.env.deadline,
            cancel=self.env.cancel,
            in_worker=self.env.in_worker,
            extra={"settings": self.env.workflow.settings, **self.env.action_extra},
        )
        try:
            value = spec.func(args, actx)
        except ActionCancelled:
            raise RunCancelled() from None
        except ActionTimeout as exc:
            raise failure(
                node.name,
                "TimeoutError",
                f"action '{spec.name}': {exc.message}",
                uses_span,
                timeout=True,
            ) from None
        except ActionError as exc:
            raise failure(
                node.name, "ActionError", f"action '{spec.name}': {exc.message}", uses_span
            ) from None
        except Exception as exc:  # user action code: report, never crash the run
            raise failure(
                node.name,
                "ActionError",
                f"action '{spec.name}' raised {type(exc).__name__}: {exc}",
                uses_span,
            ) from None
        value = json_clone(value)
        self._store_output(node, state, value)
        return value

    def _store_output(self, node: Node, state: State, value: Any) -> None:
        out = node.ymap.get("output")
        if out is None:
            out = node.ymap.get("output_key")
        if isinstance(out, YScalar) and isinstance(out.value, str) and out.value:
            key = out.value
            if _is_template(key):
                key = str(self.render(node, out, self.context(state, value, with_result=True)))
            merge(state, {key: value})
        elif isinstance(out, YMap):
            rendered = self.render(node, out, self.context(state, value, with_result=True))
            if isinstance(rendered, dict):
                merge(state, rendered)
        elif isinstance(value, dict):
            merge(state, value)
        elif value is not None:
            merge(state, {"result": value})

    # ---- routing

    def next_target(self, node: Node, state: State, result: Any) -> str:
        """Where control goes after ``node``: the first route whose condition holds.

        No matching route ends the flow (``__end__``).
        """
        ctx: dict[str, Any] | None = None
        for route in routes(self.env.workflow, node.name):
            edge = route.edge
            if edge is not None and not self._edge_literal_ok(edge.ymap):
                continue
            if route.condition is None:
                return route.target
            if ctx is None:
                ctx = self.context(state, result, with_result=True)
            if edge is not None and edge.condition is not None and edge.when is not None:
                # `condition` and a `when` expression: both must hold.
                if self.condition(node, edge.condition, ctx) and self.condition(
                    node, edge.when, ctx
                ):
                    return route.target
                continue
            if edge is not None and edge.condition is not None and "when" in edge.ymap:
                # `condition` + literal `when: true|false`: the condition's truth must match.
                if self.condition(node, edge.condition, ctx) == bool(edge.when_value):
                    return route.target
                continue
            if self.condition(node, route.condition, ctx):
                return route.target
        return END

    @staticmethod
    def _edge_literal_ok(ymap: YMap) -> bool:
        """Literal ``condition: false`` (or ``when: false`` alone) edges are never taken."""
        cond = ymap.get("condition")
        for key in ("condition", "when"):
            v = ymap.get(key)
            if key == "when" and cond is not None:
                continue  # `when` qualifies the condition (see next_target)
            if not isinstance(v, YScalar) or isinstance(v.value, str) or v.value is None:
                continue
            if not v.value:
                return False
        return True
