"""Pure planning: run options, effective settings, and what the runner refuses (TEA607).

Nothing here runs code. :func:`build_plan` turns a checked :class:`Workflow` into a
:class:`Plan`; a plan with ``refusals`` must not start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from tea_lsp.catalog import catalog
from tea_lsp.diagnostics import Diagnostic, Severity, Span
from tea_lsp.engine.actions.registry import ActionRegistry
from tea_lsp.langs.detect import resolve_language
from tea_lsp.model.routing import branch_nodes
from tea_lsp.model.workflow import END, START, FanOut, Node, Workflow
from tea_lsp.syntax.yaml_tree import YMap, YNode, YScalar, YSeq

Strategy = Literal["process", "thread", "dask"]
STRATEGIES: tuple[str, ...] = ("process", "thread", "dask")

DEFAULT_LUA_TIMEOUT = 30.0
DEFAULT_LUA_MEMORY = 64 * 2**20
DEFAULT_MAX_STEPS = 1000
DEFAULT_KILL_GRACE = 1.0
DEFAULT_PYTHON_TIMEOUT = 30.0
DEFAULT_WORKER_MEMORY = 2 * 2**30


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Caller-side options of :func:`tea_lsp.engine.run_workflow`.

    ``None`` means "use the workflow's ``settings`` (or the default)". ``kill_grace`` is how long
    past a branch's deadline the process strategy waits before killing its worker (a C call
    the Lua hook cannot interrupt). ``test_actions`` forces the ``test.*`` actions on or off
    (``None``: the ``TEA_LSP_TEST_ACTIONS`` environment variable decides).
    """

    strategy: Strategy | None = None
    max_steps: int = DEFAULT_MAX_STEPS
    max_parallel_branches: int | None = None
    lua_timeout: float | None = None
    lua_max_memory: int | None = None
    branch_timeout: float | None = None
    fan_out_timeout: float | None = None
    fail_fast: bool | None = None
    kill_grace: float = DEFAULT_KILL_GRACE
    test_actions: bool | None = None
    default_language: str | None = None  # unmarked code: "auto" | "python" | "lua"
    python_timeout: float | None = None
    worker_memory: int | None = None  # address space a worker may add while running user code
    dask_address: str | None = None  # the Dask scheduler (strategy dask); wins over settings


@dataclass(frozen=True, slots=True)
class Limits:
    """Effective limits of one run, after settings and options are combined."""

    strategy: Strategy
    max_steps: int
    max_parallel: int
    lua_timeout: float | None  # per Lua call in the main flow
    lua_max_memory: int | None  # per VM
    branch_timeout: float | None  # whole-branch budget (parallel.lua_timeout, else lua.timeout)
    fan_out_timeout: float | None  # whole fan-out (parallel.timeout)
    fail_fast: bool
    kill_grace: float
    default_language: str = "auto"
    python_timeout: float | None = DEFAULT_PYTHON_TIMEOUT  # per Python snippet
    worker_memory: int | None = DEFAULT_WORKER_MEMORY
    dask_address: str | None = None  # strategy dask: None starts a local cluster for the run


@dataclass(slots=True)
class FanOutPlan:
    index: int
    source: str
    fan_in: str
    branches: list[str]
    branch_nodes: dict[str, list[str]]


@dataclass(slots=True)
class Plan:
    workflow: Workflow
    limits: Limits
    entry: str | None
    fan_outs: dict[str, FanOutPlan] = field(default_factory=dict)  # by source node
    refusals: list[Diagnostic] = field(default_factory=list)

    def fan_out_at(self, node: Node) -> FanOutPlan | None:
        """The fan-out that starts after ``node`` (``goto`` overrides parallel edges)."""
        if node.goto is not None:
            return None
        return self.fan_outs.get(node.name)


def _refuse(plan: Plan | list[Diagnostic], span: Span, message: str) -> None:
    target = plan if isinstance(plan, list) else plan.refusals
    target.append(Diagnostic("TEA607", Severity.ERROR, message, span))


def _refuse_action(plan: Plan, node: str, action: str, span: Span) -> None:
    """Refuse an action the runner does not have: TEA505 when a TEA engine provides it."""
    entry = catalog().get(action)
    if entry is None or not entry.upstream:
        _refuse(
            plan,
            span,
            f"node '{node}': action '{action}' is not available in the tea-lsp runner",
        )
        return
    plan.refusals.append(
        Diagnostic(
            "TEA505",
            Severity.ERROR,
            f"node '{node}': action '{action}' is not available in the tea-lsp runner "
            f"({entry.providers_text()})",
            span,
        )
    )


def _setting(settings: dict[str, Any], section: str, *keys: str) -> Any:
    sec = settings.get(section)
    if not isinstance(sec, dict):
        return None
    for k in keys:
        if k in sec:
            return sec[k]
    return None


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def _settings_span(wf: Workflow, section: str, key: str) -> Span:
    node: YNode | None = wf.root.get("settings")
    for part in (section, key):
        if not isinstance(node, YMap):
            break
        nxt = node.get(part)
        if nxt is None:
            break
        node = nxt
    return (node or wf.root).span


def entry_node(wf: Workflow) -> str | None:
    """The first node: a ``type: entry`` edge, a ``__start__`` edge, else the first node."""
    for e in wf.edges:
        if e.type == "entry" and e.source is None and e.targets:
            return e.targets[0].name
    return wf.entry()


def compute_limits(
    wf: Workflow, options: RunOptions, refusals: list[Diagnostic] | None = None
) -> Limits:
    """The effective limits; unusable settings are appended to ``refusals`` (TEA607)."""
    from tea_lsp.langs.lua import parse_memory

    st = wf.settings
    strategy_raw = options.strategy or _setting(st, "parallel", "strategy") or "process"
    if strategy_raw not in STRATEGIES:
        if refusals is not None:
            _refuse(
                refusals,
                _settings_span(wf, "parallel", "strategy"),
                f"parallel strategy '{strategy_raw}' is not supported; expected 'process', "
                "'thread' or 'dask'",
            )
        strategy_raw = "process"
    strategy: Strategy = strategy_raw if strategy_raw in ("thread", "dask") else "process"
    dask_address = _dask_address(st, options)
    if strategy == "dask" and refusals is not None and not _dask_installed():
        span = _settings_span(wf, "parallel", "strategy")
        _refuse(
            refusals,
            span if options.strategy is None else wf.root.span,
            "parallel strategy 'dask' needs Dask: install it with "
            "\"pip install 'tea-lsp[dask]'\" (dask[distributed])",
        )

    max_parallel = options.max_parallel_branches
    if max_parallel is None:
        raw = _setting(st, "parallel", "max_parallel_branches", "max_workers")
        if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1:
            max_parallel = raw
    if max_parallel is None:
        max_parallel = os.cpu_count() or 1

    lua_timeout = options.lua_timeout
    if lua_timeout is None:
        lua_timeout = _seconds(_setting(st, "lua", "timeout")) or DEFAULT_LUA_TIMEOUT

    memory = options.lua_max_memory
    if memory is None:
        raw_mem = _setting(st, "lua", "max_memory")
        memory = DEFAULT_LUA_MEMORY
        if raw_mem is not None:
            try:
                memory = parse_memory(raw_mem)
            except (ValueError, TypeError) as exc:
                if refusals is not None:
                    _refuse(
                        refusals,
                        _settings_span(wf, "lua", "max_memory"),
                        f"cannot read lua.max_memory '{raw_mem}': {exc}",
                    )

    branch_timeout = options.branch_timeout
    if branch_timeout is None:
        branch_timeout = _seconds(_setting(st, "parallel", "lua_timeout")) or lua_timeout
    fan_out_timeout = options.fan_out_timeout
    if fan_out_timeout is None:
        fan_out_timeout = _seconds(_setting(st, "parallel", "timeout"))
    fail_fast = options.fail_fast
    if fail_fast is None:
        fail_fast = _setting(st, "parallel", "fail_fast") is True
    python_timeout = options.python_timeout
    if python_timeout is None:
        python_timeout = _seconds(_setting(st, "python", "timeout")) or DEFAULT_PYTHON_TIMEOUT
    return Limits(
        strategy=strategy,
        max_steps=max(1, options.max_steps),
        max_parallel=max(1, max_parallel),
        lua_timeout=lua_timeout,
        lua_max_memory=memory,
        branch_timeout=branch_timeout,
        fan_out_timeout=fan_out_timeout,
        fail_fast=fail_fast,
        kill_grace=max(0.0, options.kill_grace),
        default_language=options.default_language or "auto",
        python_timeout=python_timeout,
        worker_memory=(
            options.worker_memory if options.worker_memory is not None else DEFAULT_WORKER_MEMORY
        ),
        dask_address=dask_address,
    )


def _dask_address(st: dict[str, Any], options: RunOptions) -> str | None:
    """The Dask scheduler: the caller's (CLI), else ``parallel.dask.address``, else Dask's own
    ``DASK_SCHEDULER_ADDRESS``; ``None``: a local cluster started for the run."""
    if options.dask_address:
        return options.dask_address
    sec = _setting(st, "parallel", "dask")
    if isinstance(sec, dict) and isinstance(sec.get("address"), str) and sec["address"]:
        return str(sec["address"])
    return os.environ.get("DASK_SCHEDULER_ADDRESS") or None


def _dask_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("distributed") is not None


def _key_span(ymap: YMap, key: str) -> Span:
    k = ymap.key_node(key)
    return k.span if k is not None else ymap.span


def _check_node(plan: Plan, node: Node, registry: ActionRegistry, in_branch: bool) -> None:
    name = node.name
    if node.code is not None:
        language = resolve_language(node, plan.limits.default_language)
        if language not in ("lua", "python"):
            lang = node.ymap.get("language")
            span = lang.span if lang is not None else node.code.scalar.span
            _refuse(
                plan,
                span,
                f"node '{name}': {language} code is not run by the tea-lsp runner; only Lua "
                "and Python nodes run",
            )
    if node.type == "dynamic_parallel":
        _check_dynamic(plan, node, registry, in_branch)
    if node.has_interrupt:
        _refuse(
            plan,
            _key_span(node.ymap, "interrupt"),
            f"node '{name}': 'interrupt' pauses a run for a human; the tea-lsp runner does not "
            "pause",
        )
    if in_branch and node.has_retry:
        _refuse(
            plan,
            _key_span(node.ymap, "retry"),
            f"node '{name}': 'retry' cannot run inside a parallel branch",
        )
    run = node.ymap.get("run") or node.ymap.get("script")
    if isinstance(run, YMap) and node.code is None and node.expression is None:
        _refuse(plan, run.span, f"node '{name}': 'run' has no code to run")
    if node.uses is not None and (node.code is not None or node.expression is not None):
        _refuse(
            plan,
            _key_span(node.ymap, "uses" if "uses" in node.ymap else "action"),
            f"node '{name}': give either 'uses' or 'run', not both",
        )
    if node.uses is not None and node.uses not in registry:
        _refuse_action(plan, name, node.uses, node.uses_span or node.name_span)
    out = node.ymap.get("output") or node.ymap.get("output_key")
    if isinstance(out, YSeq):
        _refuse(plan, out.span, f"node '{name}': 'output' must be a key name or a mapping")
    sub_in_branch = in_branch or node.type == "dynamic_parallel"  # its steps run in branches
    for sub in (*node.steps, *node.body):
        _check_node(plan, sub, registry, sub_in_branch)


def _check_dynamic(plan: Plan, node: Node, registry: ActionRegistry, in_branch: bool) -> None:
    """What a ``dynamic_parallel`` node needs to run (TEA607 otherwise)."""
    name = node.name
    wf = plan.workflow
    if "subgraph" in node.ymap:
        _refuse(
            plan,
            _key_span(node.ymap, "subgraph"),
            f"node '{name}': a dynamic_parallel 'subgraph' is not run by the tea-lsp runner; "
            "give the work as 'steps' or an 'action'",
        )
    if node.parent is not None or in_branch:
        _refuse(
            plan,
            _key_span(node.ymap, "type"),
            f"node '{name}': a dynamic_parallel node inside another node or a parallel branch "
            "is a nested fan-out, which the tea-lsp runner does not run",
        )
    if node.items is None:
        _refuse(plan, _key_span(node.ymap, "type"), f"node '{name}': 'items' is missing")
    fan_in = node.dp_fan_in
    if fan_in is None:
        _refuse(
            plan,
            _key_span(node.ymap, "type"),
            f"node '{name}': a dynamic_parallel node needs a 'fan_in' node to join its items",
        )
    elif fan_in.name in (START, END) or fan_in.name not in wf.by_name:
        _refuse(plan, fan_in.span, f"node '{name}': fan-in '{fan_in.name}' is not a node")
    action = dynamic_action(node)
    if action is None and not node.steps and "subgraph" not in node.ymap:
        _refuse(
            plan,
            _key_span(node.ymap, "type"),
            f"node '{name}': a dynamic_parallel node needs 'steps' or an 'action' to run per item",
        )
    if action is not None and action is not node:
        if action.uses is None:
            _refuse(plan, action.ymap.span, f"node '{name}': 'action' names no action ('uses')")
        elif action.uses not in registry:
            _refuse_action(plan, name, action.uses, action.uses_span or node.name_span)


def dynamic_action(node: Node) -> Node | None:
    """The action a ``dynamic_parallel`` node runs per item, as a node; ``None``: its steps.

    ``action: name`` (with the node's own ``with:``/``output``) runs the node itself;
    ``action: {uses, with, output}`` runs a node built from that mapping.
    """
    if node.uses is not None:
        return node
    spec = node.ymap.get("action")
    if not isinstance(spec, YMap):
        return None
    uses = spec.get("uses") or spec.get("action")
    name = uses.value if isinstance(uses, YScalar) and isinstance(uses.value, str) else None
    with_args = spec.get("with")
    return Node(
        name=node.name,
        name_span=node.name_span,
        ymap=spec,
        index=0,
        parent=node,
        uses=name,
        uses_span=uses.span if uses is not None else _key_span(node.ymap, "action"),
        with_args=with_args if isinstance(with_args, YMap) else None,
    )


def dynamic_max_parallel(node: Node, limits: Limits) -> int:
    """Concurrent items of a ``dynamic_parallel`` node: ``max_concurrency``, else the limit."""
    raw = node.ymap.get("max_concurrency")
    if isinstance(raw, YScalar):
        v = raw.value
        if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
            return v
    return limits.max_parallel


def dynamic_fail_fast(node: Node, limits: Limits) -> bool:
    """``fail_fast`` of a ``dynamic_parallel`` node, else the run's."""
    raw = node.ymap.get("fail_fast")
    if isinstance(raw, YScalar) and isinstance(raw.value, bool):
        return raw.value
    return limits.fail_fast


def _check_edges(plan: Plan) -> None:
    wf = plan.workflow
    for e in wf.edges:
        cond = e.ymap.get("condition")
        if isinstance(cond, YMap):
            _refuse(
                plan,
                cond.span,
                "an edge 'condition' mapping is not run by the tea-lsp runner; write the "
                "condition as an expression string",
            )
        if "targets" in e.ymap:
            _refuse(
                plan,
                _key_span(e.ymap, "targets"),
                "edge 'targets' is not run by the tea-lsp runner; use one edge per target "
                "with a 'condition'",
            )
    config = wf.root.get("config")
    if isinstance(config, YMap):
        for key in ("interrupt_before", "interrupt_after"):
            value = config.get(key)
            listed = isinstance(value, YSeq) and bool(value.items)
            flagged = isinstance(value, YScalar) and value.value not in (None, False, "")
            if listed or flagged:
                _refuse(
                    plan,
                    _key_span(config, key),
                    f"'config.{key}' pauses a run for a human; the tea-lsp runner does not pause",
                )


def _plan_fan_out(plan: Plan, index: int, fo: FanOut) -> None:
    wf = plan.workflow
    if fo.fan_in is None or fo.fan_in.name not in wf.by_name:
        _refuse(plan, fo.source.span, f"fan-out at '{fo.source.name}' has no fan-in node")
        return
    fp = FanOutPlan(index, fo.source.name, fo.fan_in.name, [b.name for b in fo.branches], {})
    for b in fp.branches:
        if b in (START, END) or b not in wf.by_name:
            _refuse(plan, fo.source.span, f"fan-out at '{fo.source.name}': no node '{b}'")
            continue
        nodes = branch_nodes(wf, fo, b)
        fp.branch_nodes[b] = nodes
        for n in nodes:
            inner = wf.by_name[n]
            if inner.goto is None and wf.fan_out_from(n) is not None:
                _refuse(
                    plan,
                    inner.name_span,
                    f"node '{n}' starts a fan-out inside branch '{b}'; nested fan-outs are not "
                    "run by the tea-lsp runner",
                )
    if fo.source.name in plan.fan_outs:
        _refuse(
            plan,
            fo.source.span,
            f"node '{fo.source.name}' starts two fan-outs; merge them into one",
        )
        return
    plan.fan_outs[fo.source.name] = fp


def build_plan(wf: Workflow, registry: ActionRegistry, options: RunOptions) -> Plan:
    refusals: list[Diagnostic] = []
    limits = compute_limits(wf, options, refusals)
    plan = Plan(workflow=wf, limits=limits, entry=entry_node(wf), refusals=refusals)
    for k, fo in enumerate(wf.fan_outs):
        _plan_fan_out(plan, k, fo)
    in_branch = {n for fp in plan.fan_outs.values() for ns in fp.branch_nodes.values() for n in ns}
    for node in wf.nodes:
        _check_node(plan, node, registry, node.name in in_branch)
    _check_edges(plan)
    if plan.entry is None:
        _refuse(plan, wf.root.span, "the workflow has no node to run")
    plan.refusals.sort(key=Diagnostic.sort_key)
    return plan
