"""Executing nodes and choosing the next one: shared by the main flow and every branch.

A :class:`Flow` owns one Lua VM (created on first use) and runs nodes against a state dict.
Failures become :class:`NodeError` carrying a :class:`Failure`: plain, picklable data with the
diagnostic code and the file span (the failing Lua line mapped to its YAML line), so a branch
failing in a worker process reports the same diagnostic as the main flow would.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tea_lsp.diagnostics import Diagnostic, Related, Severity, Span
from tea_lsp.engine.actions.registry import (
    ActionCancelled,
    ActionContext,
    ActionError,
    ActionRegistry,
    ActionTimeout,
    CancelSignal,
)
from tea_lsp.engine.plan import Limits
from tea_lsp.engine.state import (
    ERROR_CODES,
    NON_FINITE,
    NonFiniteValue,
    State,
    json_clone,
    merge,
)
from tea_lsp.model.routing import routes
from tea_lsp.model.workflow import END, Node, Snippet, Workflow
from tea_lsp.safeio import non_finite
from tea_lsp.syntax.embedded import SnippetMap
from tea_lsp.syntax.text import LineIndex
from tea_lsp.syntax.yaml_tree import YMap, YNode, YScalar, YSeq, to_python

if TYPE_CHECKING:
    from tea_lsp.langs.lua import LuaVM


# (kind, node, monotonic time, ok, timing_ms, error, traceback)
# traceback: (1-based YAML line, 1-based column, function, source text) of each Python frame
TraceLine = tuple[int, int, str, str]
NodeEvent = tuple[str, str, float, bool, float, str | None, tuple[TraceLine, ...]]
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
    # Python traceback lines inside the snippet, outermost first: (message, span)
    related: tuple[tuple[str, tuple[int, int, int, int]], ...] = ()

    def diagnostic(self) -> Diagnostic:
        return Diagnostic(
            self.code,
            Severity.ERROR,
            self.message,
            Span(*self.span),
            related=tuple(Related(Span(*sp), m) for m, sp in self.related),
        )

    def traceback(self) -> tuple[TraceLine, ...]:
        """The Python traceback as ``(line, column, function, text)``, 1-based, in the file."""
        out: list[TraceLine] = []
        for message, sp in self.related:
            function, _, text = message.partition(": ")
            out.append((sp[0] + 1, sp[1] + 1, function.removeprefix("in "), text))
        return tuple(out)


class NodeError(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class RunCancelled(Exception):
    """The run (or the branch) was cancelled."""


def _span_tuple(span: Span) -> tuple[int, int, int, int]:
    return (span.start_line, span.start_col, span.end_line, span.end_col)


def failure(
    node: str,
    error_type: str,
    what: str,
    span: Span,
    *,
    timeout: bool = False,
    related: tuple[tuple[str, tuple[int, int, int, int]], ...] = (),
) -> NodeError:
    code = ERROR_CODES.get(error_type, "TEA601")
    return NodeError(
        Failure(
            node, error_type, f"node '{node}': {what}", code, _span_tuple(span), timeout, related
        )
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
        self.ran_python = False  # Python code ran here: this process is no longer pristine
        self._vm: LuaVM | None = None
        self._variables = json_clone(env.workflow.variables)
        # Templates also see the workflow's `settings` and top-level `data`, as in TEA.
        self._settings = json_clone(env.workflow.settings)
        data = env.workflow.root.get("data")
        self._data = to_python(data) if isinstance(data, YMap) else {}

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
        ctx: dict[str, Any] = {
            "state": state,
            "variables": self._variables,
            "settings": self._settings,
            "data": self._data,
        }
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

    def render(self, node: Node, value: YNode, ctx: Mapping[str, Any], path: str = "") -> Any:
        """A ``with:``/``output`` value: templates rendered, the rest as written.

        ``path`` (``with.url``) names the value in messages: a template that renders NaN or
        infinity fails the node (TEA610) instead of storing a value JSON cannot hold.
        """
        from tea_lsp.langs.jinja import TemplateError, render_value

        if isinstance(value, YScalar):
            if isinstance(value.value, str) and _is_template(value.value):
                try:
                    rendered = render_value(value.value, dict(ctx))
                except TemplateError as exc:
                    raise self._template_failure(node, value, exc) from None
                if (bad := non_finite(rendered, path)) is not None:
                    at = f" (at '{bad[0]}')" if bad[0] != path else ""
                    raise failure(
                        node.name,
                        "StateError",
                        f"the template of '{path}' rendered {bad[1]}{at}; {NON_FINITE} "
                        "(render a string or none instead)",
                        value.span,
                    )
                return json_clone(rendered)
            return json_clone(value.value)
        if isinstance(value, YSeq):
            return [
                self.render(node, item, ctx, f"{path}[{i}]") for i, item in enumerate(value.items)
            ]
        if isinstance(value, YMap):
            out: dict[str, Any] = {}
            for p in value.pairs:
                if p.key_text is not None:
                    out[p.key_text] = self.render(node, p.value, ctx, f"{path}.{p.key_text}")
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
            value = eval_expression(snippet.text, dict(ctx))
        except TemplateError as exc:
            raise self._template_failure(node, snippet.scalar, exc) from None
        stored = snippet.role == "expression"  # an expression run: its value becomes a state key
        root = (node.output_key or "result") if stored else snippet.role
        if (bad := non_finite(value, root)) is not None:
            at = f" (at '{bad[0]}')" if bad[0] != root else ""
            what = f"state key '{root}' would hold" if stored else f"'{root}' gave"
            raise failure(
                node.name,
                "StateError",
                f"{what} {bad[1]}{at}; {NON_FINITE} (use a string or null)",
                snippet.scalar.span,
            )
        return json_clone(value)

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
            emit(("node_started", node.name, t0, True, 0.0, None, ()))
        try:
            with self._template_deadline(t0):
                try:
                    result = self._execute(node, state)
                except NonFiniteValue as exc:
                    raise failure(node.name, "StateError", str(exc), node.name_span) from None
        except NodeError as exc:
            if emit is not None:
                t1 = time.monotonic()
                f = exc.failure
                emit(
                    (
                        "node_finished",
                        node.name,
                        t1,
                        False,
                        (t1 - t0) * 1000,
                        f.message,
                        f.traceback(),
                    )
                )
            raise
        if emit is not None:
            t1 = time.monotonic()
            emit(("node_finished", node.name, t1, True, (t1 - t0) * 1000, None, ()))
        return result

    def _template_deadline(self, start: float) -> contextlib.AbstractContextManager[None]:
        """Templates of a node share its time limit (``lua.timeout``) and the branch budget."""
        from tea_lsp.langs.jinja import template_deadline

        limit = self.env.limits.lua_timeout
        deadline = start + limit if limit else None
        text = f"the node's time limit of {limit:g} s" if limit else "its deadline"
        if self.env.deadline is not None and (deadline is None or self.env.deadline < deadline):
            deadline, text = self.env.deadline, self.env.deadline_text
        return template_deadline(deadline, text)

    def _execute(self, node: Node, state: State) -> Any:
        result: Any = None
        if node.type == "dynamic_parallel" and not (self.env.dynamic_item and node.parent is None):
            return None  # the runner fans its items out (see runner.py)
        if node.uses is not None:
            result = self._run_action(node, state)
        elif node.code is not None:
            if self.language(node) == "python":
                result = self._run_python(node, node.code, state)
            else:
                result = self._run_lua(node, node.code, state)
        elif node.expression is not None:
            value = self._run_expression(node, node.expression, state)
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
        if isinstance(updates, list):  # should langs/lua.py return sequences as lists
            updates = {"result": updates}
        elif isinstance(updates, dict) and _is_sequence_keys(updates):
            # A Lua sequence ({1, 2, 3}) is a value, not keys "1", "2", "3": it becomes result.
            updates = {"result": [updates[str(i + 1)] for i in range(len(updates))]}
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

    # ---- Python

    def language(self, node: Node) -> str:
        from tea_lsp.langs.detect import resolve_language

        return resolve_language(node, self.env.limits.default_language)

    def _python_timeout(self, node: Node) -> float | None:
        """The time a Python snippet may take: ``python.timeout``, within the branch budget."""
        limit = self.env.limits.python_timeout
        left = self._branch_time_left(node)
        if left is not None and (limit is None or left < limit):
            return left
        return limit

    def _namespace(self, node: Node, state: State) -> Any:
        from tea_lsp.langs.python.runtime import Namespace

        args: dict[str, Any] = {}
        if node.with_args is not None:
            rendered = self.render(node, node.with_args, self.context(state), "with")
            args = rendered if isinstance(rendered, dict) else {}
        extra: dict[str, Any] = {}
        if "parallel_results" in state:
            extra["parallel_results"] = state["parallel_results"]
        for name in self.env.item_names:
            extra[name] = state.get(name)
        return Namespace(
            state=state,
            variables=self._variables,
            actions=_PythonActions(self, node),
            args=args,
            extra=extra,
        )

    def _run_python(self, node: Node, code: Snippet, state: State) -> Any:
        from tea_lsp.langs.python.runtime import PythonError, run_code

        timeout = self._python_timeout(node)
        ns = self._namespace(node, state)
        self.ran_python = True
        before = dict(state)  # a failed node leaves its keys as they were (not nested values)
        try:
            updates = run_code(code.text, ns, name=node.name, timeout=timeout)
            self._check_json(node, code, updates, state)
        except PythonError as exc:
            state.clear()
            state.update(before)
            raise self._python_failure(node, code, exc, timeout) from None
        except NodeError:
            state.clear()
            state.update(before)
            raise
        if updates:
            merge(state, updates)
        return json_clone(updates) if updates is not None else None

    def _run_expression(self, node: Node, snippet: Snippet, state: State) -> Any:
        """``run: {type: expression}``: a Python expression; templates and non-Python: Jinja."""
        from tea_lsp.langs.python.runtime import PythonError, eval_expression

        text = snippet.text
        if _is_template(text) or not _parses_as_python(text):
            return self.expression(node, snippet, self.context(state))
        timeout = self._python_timeout(node)
        self.ran_python = True
        try:
            value = eval_expression(
                text, self._namespace(node, state), name=node.name, timeout=timeout
            )
        except PythonError as exc:
            raise self._python_failure(node, snippet, exc, timeout) from None
        self._check_json(node, snippet, {node.output_key or "result": value}, None)
        return json_clone(value)

    def _check_json(self, node: Node, code: Snippet, updates: Any, state: State | None) -> None:
        """Values crossing processes must be JSON-like; name the key otherwise (TEA610)."""
        where: str | None = None
        for origin, data in (("returned", updates), ("state", state)):
            if not isinstance(data, dict):
                continue
            for key, value in data.items():
                if (inf := non_finite(value, f"{key}")) is not None:
                    at = f" (at '{inf[0]}')" if inf[0] != key else ""
                    how = "was set in place to" if origin == "state" else "holds"
                    where = (
                        f"state key '{key}' {how} {inf[1]}{at}; {NON_FINITE} (use a string or None)"
                    )
                    break
                bad = non_json_path(value, f"{key}")
                if bad is not None:
                    path, kind = bad
                    where = (
                        f"state key '{key}' holds a '{kind}' value"
                        + (f" (at '{path}')" if path != key else "")
                        + "; state values must be JSON-like: null, booleans, numbers, strings, "
                        "lists and mappings with string keys"
                    )
                    if origin == "state":
                        where += " (the code changed 'state' in place)"
                    break
            if where is not None:
                break
        if where is not None:
            raise failure(node.name, "StateError", where, code.scalar.span)

    def _python_failure(
        self, node: Node, code: Snippet, exc: Exception, timeout: float | None
    ) -> NodeError:
        from tea_lsp.langs.python.runtime import PythonError

        assert isinstance(exc, PythonError)
        smap = SnippetMap.for_scalar(code.scalar, self.env.lines)
        text_lines = code.text.split("\n")

        def span_of(line: int | None) -> Span:
            if line is not None and 1 <= line <= len(text_lines):
                return smap.line_span(line - 1, text_lines[line - 1])
            if smap.exact:
                return smap.line_span(0, text_lines[0])
            return smap.whole_span

        related = tuple(
            (f"in {f.function}: {f.text}", _span_tuple(span_of(f.line))) for f in exc.frames
        )
        message = exc.message
        if (
            exc.error_type == "TimeoutError"
            and timeout is not None
            and self.env.branch is not None
            and timeout != self.env.limits.python_timeout
        ):
            message = f"python code ran past {self.env.deadline_text}"
        return failure(
            node.name,
            exc.error_type,
            message,
            span_of(exc.line),
            timeout=exc.error_type == "TimeoutError",
            related=related,
        )

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
            rendered = self.render(node, node.with_args, ctx, "with")
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
        if (bad := non_finite(value)) is not None:
            where, number = bad
            at = f" at '{where}'" if where else ""
            raise failure(
                node.name,
                "StateError",
                f"action '{spec.name}' returned {number}{at}; {NON_FINITE}",
                uses_span,
            )
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
                key = str(
                    self.render(node, out, self.context(state, value, with_result=True), "output")
                )
            merge(state, {key: value})
        elif isinstance(out, YMap):
            rendered = self.render(
                node, out, self.context(state, value, with_result=True), "output"
            )
            if isinstance(rendered, dict):
                merge(state, rendered)
        elif isinstance(value, dict):
            merge(state, value)
        elif value is not None:
            merge(state, {"result": value})

    def call_action(self, node: Node, name: str, args: dict[str, Any]) -> Any:
        """An action called from Python code (``actions["name"](...)``)."""
        spec = self.env.registry.get(name)
        if spec is None:
            raise ActionError(f"unknown action '{name}'")
        args = json_clone(args)
        problem = spec.validate(args)
        if problem is not None:
            raise ActionError(f"action '{name}': {problem}")
        actx = ActionContext(
            workflow_dir=self.env.workflow_dir,
            node=node.name,
            deadline=self.env.deadline,
            cancel=self.env.cancel,
            in_worker=self.env.in_worker,
            extra=self.env.action_extra,
        )
        return spec.func(args, actx)

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
        if node.goto:
            # A conditional goto whose rules all fail stops the run, as in TEA's engines.
            goto = node.ymap.key_node("goto")
            raise failure(
                node.name,
                "NoRoute",
                "no rule of its 'goto' matched, so the run cannot go on; add a last rule without "
                "'if' as the fallback",
                goto.span if goto is not None else node.name_span,
            )
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


class _PythonActions(Mapping[str, Callable[..., Any]]):
    """``actions`` in Python code: ``actions["json.parse"](state=state, text="[1]")``."""

    def __init__(self, flow: Flow, node: Node) -> None:
        self._flow = flow
        self._node = node

    def __getitem__(self, name: str) -> Callable[..., Any]:
        if name not in self._flow.env.registry:
            raise KeyError(f"unknown action '{name}'")

        def call(state: Any = None, **kwargs: Any) -> Any:
            del state  # upstream passes the state; our actions take only their arguments
            return self._flow.call_action(self._node, name, kwargs)

        return call

    def __iter__(self) -> Iterator[str]:
        return iter(self._flow.env.registry.names())

    def __len__(self) -> int:
        return len(self._flow.env.registry.names())


def _is_sequence_keys(updates: dict[str, Any]) -> bool:
    n = len(updates)
    return n > 0 and all(str(i + 1) in updates for i in range(n))


def _parses_as_python(text: str) -> bool:
    import ast

    try:
        ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


_JSON_SCALARS = (str, int, float, bool, type(None))


def non_json_path(value: Any, path: str, depth: int = 0) -> tuple[str, str] | None:
    """The path and type name of the first value that is not JSON-like, or ``None``."""
    if isinstance(value, _JSON_SCALARS):
        return None
    if depth > 200:
        return path, "deeply nested"
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, _JSON_SCALARS):
                return f"{path}", f"mapping with a {type(k).__name__} key"
            bad = non_json_path(v, f"{path}.{k}", depth + 1)
            if bad is not None:
                return bad
        return None
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            bad = non_json_path(v, f"{path}[{i}]", depth + 1)
            if bad is not None:
                return bad
        return None
    return path, type(value).__name__
