"""The ``TEA###`` registry: every diagnostic code, its slug, family, default severity and docs.

Codes are stable and never reused. Families:
``TEA0xx`` syntax, ``TEA1xx`` schema, ``TEA2xx`` graph, ``TEA3xx`` Lua, ``TEA4xx`` Jinja,
``TEA5xx`` actions, ``TEA6xx`` runtime, ``TEA9xx`` internal.
"""

from __future__ import annotations

from dataclasses import dataclass

from tea_lsp.diagnostics import Severity

DOCS_URL = "https://tea-lsp.readthedocs.io/en/latest/rules/{code}.html"


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    slug: str
    family: str
    severity: Severity
    summary: str
    what: str
    why: str
    example: str

    @property
    def url(self) -> str:
        return DOCS_URL.format(code=self.code)

    def explain(self) -> str:
        """Markdown docs, used by ``tea-lsp explain`` and hover."""
        return (
            f"# {self.code} {self.slug}\n\n{self.summary}\n\n"
            f"Family: {self.family}. Default severity: {self.severity.label}.\n\n"
            f"## What it does\n{self.what}\n\n## Why\n{self.why}\n\n"
            f"## Example\n```yaml\n{self.example.rstrip()}\n```\n"
        )


E, W, H = Severity.ERROR, Severity.WARNING, Severity.HINT

_ALL: tuple[Code, ...] = (
    # ---- syntax
    Code(
        "TEA001",
        "yaml-syntax",
        "syntax",
        E,
        "The file is not valid YAML.",
        "Reports YAML syntax errors at the line where the parser stopped.",
        "Nothing else can be checked or run until the file parses.",
        "nodes:\n  - name: a\n    run: [unclosed\n",
    ),
    Code(
        "TEA002",
        "duplicate-key",
        "syntax",
        E,
        "A mapping has the same key twice.",
        "Reports the second occurrence of a key in one mapping.",
        "YAML loaders keep only the last value silently, so the first one is lost.",
        "nodes:\n  - name: a\n    run: return {}\n    run: return {x = 1}\n",
    ),
    Code(
        "TEA003",
        "unreadable-file",
        "syntax",
        E,
        "The file cannot be read as UTF-8 text.",
        "Reports files that are binary, not UTF-8, or cannot be opened.",
        "A workflow must be UTF-8 YAML text.",
        "# a file containing NUL bytes or invalid UTF-8\n",
    ),
    Code(
        "TEA004",
        "not-a-workflow",
        "syntax",
        E,
        "The document is not a mapping.",
        "Reports a YAML document whose root is not a mapping with `nodes`.",
        "A workflow is a mapping with at least a `nodes` list.",
        "- just\n- a list\n",
    ),
    # ---- schema
    Code(
        "TEA101",
        "unknown-key",
        "schema",
        E,
        "A key that the workflow format does not know.",
        "Reports keys that are not part of the TEA workflow format, on the key itself, "
        "with the closest valid key.",
        "Unknown keys are almost always typos; upstream runtimes ignore them silently.",
        "nodes:\n  - name: a\n    rnu: return {}   # did you mean 'run'?\n",
    ),
    Code(
        "TEA102",
        "wrong-type",
        "schema",
        E,
        "A value has the wrong type.",
        "Reports values whose YAML type is not the one the format expects.",
        "A wrong type makes the runtime fail or silently ignore the value.",
        "nodes: a_string_instead_of_a_list\n",
    ),
    Code(
        "TEA103",
        "invalid-value",
        "schema",
        E,
        "A value is outside the allowed set or range.",
        "Reports enum, pattern and range violations and empty lists that need items, listing "
        "what was expected.",
        "The runtime would reject or misread the value.",
        "edges:\n  - {from: a, to: b, type: paralel}\n",
    ),
    Code(
        "TEA104",
        "missing-key",
        "schema",
        E,
        "A required key is missing.",
        "Reports a mapping missing a required key, on the mapping's parent key.",
        "The runtime cannot work without it (a node needs a `name`).",
        "nodes:\n  - run: return {}\n",
    ),
    Code(
        "TEA105",
        "schema-violation",
        "schema",
        E,
        "The value breaks another schema rule.",
        "Reports schema rules not covered by a more specific code (empty or blank names).",
        "The runtime would reject or misread the value.",
        'nodes:\n  - name: ""\n',
    ),
    Code(
        "TEA106",
        "missing-workflow-name",
        "schema",
        H,
        "The workflow has no `name`.",
        "Hints that the top-level `name` is missing.",
        "The Rust TEA runtime requires a workflow name.",
        "nodes:\n  - name: a\n",
    ),
    # ---- graph
    Code(
        "TEA201",
        "unknown-node",
        "graph",
        E,
        "A reference names a node that does not exist.",
        "Reports node names in `goto`, `from`, `to`, `fan_in`, `parallel` and `targets` that "
        "are not defined, with the closest defined name, and `__start__`/`__end__` where they "
        "cannot stand (`__start__` only in `from`, `__end__` only as a target).",
        "The runtime fails when control reaches the reference.",
        "nodes:\n  - name: start\n    goto: finsh\n  - name: finish\n",
    ),
    Code(
        "TEA202",
        "duplicate-node",
        "graph",
        E,
        "Two nodes share a name.",
        "Reports the second node with a name already used.",
        "References become ambiguous; one node silently replaces the other.",
        "nodes:\n  - name: a\n  - name: a\n",
    ),
    Code(
        "TEA203",
        "reserved-node-name",
        "graph",
        E,
        "A node uses a reserved name.",
        "Reports nodes named `__start__` or `__end__`.",
        "These names denote the virtual entry and exit of the graph.",
        "nodes:\n  - name: __end__\n",
    ),
    Code(
        "TEA204",
        "unreachable-node",
        "graph",
        W,
        "A node can never run.",
        "Reports nodes that no route from the entry reaches.",
        "Dead nodes are usually a broken `goto` or a missing edge.",
        "nodes:\n  - name: a\n    goto: __end__\n  - name: never\n",
    ),
    Code(
        "TEA205",
        "sequential-parallel-edge",
        "graph",
        W,
        "A single-target `parallel: true` edge runs sequentially upstream.",
        "Reports edges of the form `{to: x, parallel: true}` with a single target.",
        "Upstream Python runs this spelling sequentially, which is not what its author meant; "
        "use `type: parallel`, a list `to: [a, b]` or `parallel: [a, b]`.",
        "edges:\n  - {from: setup, to: a, parallel: true, fan_in: join}\n",
    ),
    Code(
        "TEA206",
        "branch-misses-fan-in",
        "graph",
        E,
        "A parallel branch never reaches its fan-in.",
        "Reports branches whose routes cannot reach the fan-in node of their fan-out.",
        "The fan-in would wait forever or run without the branch.",
        "edges:\n  - {from: s, to: [a, b], parallel: true, fan_in: join}\n"
        "  - {from: a, to: __end__}\n",
    ),
    Code(
        "TEA207",
        "conflicting-fan-ins",
        "graph",
        E,
        "Branches of one fan-out name different fan-in nodes.",
        "Reports a fan-out whose branches disagree on where they join.",
        "A fan-out has exactly one join point.",
        "edges:\n  - {from: s, to: a, type: parallel, fan_in: j1}\n"
        "  - {from: s, to: b, type: parallel, fan_in: j2}\n",
    ),
    Code(
        "TEA208",
        "no-common-successor",
        "graph",
        E,
        "A `parallel: [..]` list has no unique common successor.",
        "Reports spelling-D fan-outs whose branches do not all lead to one node.",
        "The fan-in of spelling D is the common successor of its branches.",
        "edges:\n  - {from: s, parallel: [a, b]}\n  - {from: a, to: x}\n  - {from: b, to: y}\n",
    ),
    Code(
        "TEA209",
        "goto-overrides-edges",
        "graph",
        W,
        "A node has both `goto` and outgoing edges; the edges are ignored.",
        "Reports nodes routed by `goto` that are also the source of edges.",
        "`goto` takes precedence, so the edges never apply.",
        "nodes:\n  - name: a\n    goto: b\nedges:\n  - {from: a, to: c}\n",
    ),
    Code(
        "TEA210",
        "orphan-fan-in",
        "graph",
        W,
        "A `fan_in: true` node joins no fan-out.",
        "Reports nodes marked as fan-in that no parallel fan-out names.",
        "The node will run as a plain node without `parallel_results`.",
        "nodes:\n  - name: join\n    fan_in: true\n",
    ),
    Code(
        "TEA211",
        "while-loop-limits",
        "graph",
        E,
        "A `while_loop` node is incomplete.",
        "Reports while loops without `condition`, `body` or `max_iterations`, or with "
        "`max_iterations` outside 1..1000.",
        "An unbounded or empty loop is rejected by the runtimes.",
        "nodes:\n  - name: loop\n    type: while_loop\n    max_iterations: 5000\n",
    ),
    Code(
        "TEA212",
        "unsupported-in-branch",
        "graph",
        E,
        "A node inside a parallel branch uses a feature that cannot run in a branch.",
        "Reports `interrupt` and node-level `retry` on nodes that run inside a parallel branch.",
        "Branches run in isolated worker processes that cannot pause or replay a node.",
        "nodes:\n  - name: s\n  - name: a\n    interrupt: before\n    goto: j\n  - name: b\n"
        "  - name: j\n    fan_in: true\n"
        "edges:\n  - {from: s, to: [a, b], parallel: true, fan_in: j}\n",
    ),
    Code(
        "TEA213",
        "missing-fan-in",
        "graph",
        E,
        "A parallel fan-out names no fan-in node.",
        "Reports parallel edges of spelling A or C without `fan_in`.",
        "Branch results are joined at the fan-in node; without one they are lost.",
        "edges:\n  - {from: s, to: [a, b], parallel: true}\n",
    ),
    Code(
        "TEA214",
        "branch-runs-into-sibling",
        "graph",
        W,
        "A parallel branch continues into another branch of the same fan-out.",
        "Reports a branch node whose route leads to the first node of a sibling branch, most "
        "often by implicit chaining to the next node in the list.",
        "The sibling's nodes then run twice, once in each branch's VM, and the first branch's "
        "result is the sibling's. Route the branch to the fan-in instead.",
        "nodes:\n  - name: setup\n    run: return {}\n  - name: a\n    run: return {}\n"
        "  - name: b\n    run: return {}\n  - name: join\n    run: return {}\nedges:\n"
        "  - {from: setup, to: [a, b], parallel: true, fan_in: join}\n"
        "  - {from: b, to: join}\n",
    ),
    # ---- lua
    Code(
        "TEA301",
        "lua-syntax",
        "lua",
        E,
        "The Lua code does not compile.",
        "Compiles each Lua snippet in a throwaway sandboxed Lua 5.4 VM and reports the error "
        "at its line and token in the YAML file.",
        "The node would fail as soon as it runs.",
        "nodes:\n  - name: a\n    run: |\n      return { x = 1 \n",
    ),
    Code(
        "TEA302",
        "undefined-global",
        "lua",
        E,
        "The Lua code reads a global that is never defined.",
        "Reports reads of globals that the sandbox does not provide and that no earlier node "
        "of the same VM assigns.",
        "Reading an undefined global yields nil, usually a typo such as `stat.count`.",
        "nodes:\n  - name: a\n    run: return { n = stat.count }\n",
    ),
    Code(
        "TEA303",
        "sandbox-removed",
        "lua",
        E,
        "The Lua code uses a library removed by the sandbox.",
        "Reports uses of `io`, `os`, `debug`, `package`, `require`, `dofile`, `loadfile`, "
        "`string.dump` and `collectgarbage`.",
        "The sandbox removes them; the call fails at run time.",
        "nodes:\n  - name: a\n    run: return { t = os.time() }\n",
    ),
    Code(
        "TEA304",
        "global-in-branch",
        "lua",
        W,
        "A parallel branch assigns a global.",
        "Reports global assignments in nodes that run inside a parallel branch.",
        "Each branch has its own Lua VM: the global is invisible to other branches and to the "
        "fan-in. Return the value in the result table instead.",
        "nodes:\n  - name: setup\n    run: return {}\n  - name: branch_a\n    run: |\n"
        "      total = 1\n      return {}\n  - name: branch_b\n    run: return {}\n"
        "  - name: join\n    run: return {}\nedges:\n"
        "  - {from: setup, to: [branch_a, branch_b], parallel: true, fan_in: join}\n"
        "  - {from: branch_a, to: join}\n  - {from: branch_b, to: join}\n",
    ),
    Code(
        "TEA305",
        "unknown-state-key",
        "lua",
        W,
        "The code reads a state key nothing provides.",
        "With a `state_schema`, reports `state.<key>` reads that no declaration, initial state "
        "or node output provides.",
        "The read yields nil, usually a misspelt key.",
        "state_schema: {count: int}\nnodes:\n  - name: a\n    run: return {n = state.cuont}\n",
    ),
    Code(
        "TEA306",
        "parallel-results-outside-fan-in",
        "lua",
        E,
        "`parallel_results` is read in a node that is not a fan-in.",
        "Reports reads of `state.parallel_results` outside fan-in nodes.",
        "Only fan-in nodes receive `parallel_results`.",
        "nodes:\n  - name: a\n    run: 'return {n = #state.parallel_results}'\n",
    ),
    Code(
        "TEA307",
        "looks-like-python",
        "lua",
        H,
        "Code that fails as Lua looks like Python.",
        "Hints to add `language: python` when an unmarked `run:` does not compile as Lua but "
        "parses as Python.",
        "Upstream's Python runtime runs unmarked code as Python; tea-lsp reads it as Lua.",
        "nodes:\n  - name: a\n    run: |\n      return {'x': state['y']}\n",
    ),
    Code(
        "TEA308",
        "snippet-too-large",
        "lua",
        E,
        "An embedded snippet is too large to check.",
        "Reports snippets above the checker's size bound instead of compiling them.",
        "Checking is bounded so the editor never hangs.",
        "# a run: block of several megabytes\n",
    ),
    # ---- jinja
    Code(
        "TEA401",
        "jinja-syntax",
        "jinja",
        E,
        "A template does not parse.",
        "Parses each template with the sandboxed Jinja environment of the runner.",
        "The template would fail when rendered.",
        "nodes:\n  - name: a\n    uses: json.parse\n    with: {text: '{{ state.x '}\n",
    ),
    Code(
        "TEA402",
        "unknown-filter",
        "jinja",
        E,
        "A template uses a filter that does not exist.",
        "Reports filters that are neither Jinja built-ins nor tea-lsp's (`tojson`, `fromjson`).",
        "Unknown filters fail at render time.",
        "with: {text: '{{ state.x | tojsn }}'}\n",
    ),
    Code(
        "TEA403",
        "undefined-template-name",
        "jinja",
        E,
        "A template reads an undefined name.",
        "Reports names other than `state`, `variables`, `result` where defined, "
        "`parallel_results` at a fan-in and `item`/`index` in dynamic parallel.",
        "Undefined names render as empty strings or fail.",
        "with: {text: '{{ stat.x }}'}\n",
    ),
    Code(
        "TEA404",
        "unknown-template-state-key",
        "jinja",
        W,
        "A template reads a state key nothing provides.",
        "With a `state_schema`, reports `state.<key>` reads in templates that nothing provides.",
        "The read yields an undefined value, usually a misspelt key.",
        "state_schema: {count: int}\n...\nwith: {n: '{{ state.cuont }}'}\n",
    ),
    # ---- actions
    Code(
        "TEA501",
        "unknown-action",
        "actions",
        E,
        "`uses:` names an action that is not registered.",
        "Reports action names missing from the action registry, with the closest name.",
        "The runner cannot execute an unknown action.",
        "nodes:\n  - name: a\n    uses: json.prase\n",
    ),
    Code(
        "TEA502",
        "unknown-action-argument",
        "actions",
        E,
        "`with:` passes an unknown argument.",
        "Reports `with:` keys that the action's schema does not accept.",
        "The argument would be ignored or rejected.",
        "nodes:\n  - name: a\n    uses: time.sleep\n    with: {secs: 1}\n",
    ),
    Code(
        "TEA503",
        "missing-action-argument",
        "actions",
        E,
        "`with:` lacks a required argument.",
        "Reports required action arguments that `with:` does not give.",
        "The action fails without it.",
        "nodes:\n  - name: a\n    uses: json.parse\n",
    ),
    Code(
        "TEA504",
        "wrong-action-argument-type",
        "actions",
        E,
        "A literal `with:` argument has the wrong type.",
        "Reports literal (non-template) argument values whose type the action's schema rejects.",
        "The action fails at run time.",
        "nodes:\n  - name: a\n    uses: time.sleep\n    with: {seconds: soon}\n",
    ),
    # ---- runtime
    Code(
        "TEA601",
        "lua-runtime-error",
        "runtime",
        E,
        "Lua code raised an error while running.",
        "Reports Lua runtime errors at the YAML line of the failing Lua line.",
        "The node failed; the run stopped or the branch failed.",
        "run: return {x = nil + 1}\n",
    ),
    Code(
        "TEA602",
        "timeout",
        "runtime",
        E,
        "Lua code or a branch ran past its timeout.",
        "Reports VMs and branches stopped by `lua.timeout`, `parallel.lua_timeout` or "
        "`parallel.timeout`.",
        "Endless loops are stopped rather than hanging the run.",
        "run: while true do end\n",
    ),
    Code(
        "TEA603",
        "memory-limit",
        "runtime",
        E,
        "A Lua VM exceeded its memory cap.",
        "Reports VMs stopped by `lua.max_memory`.",
        "The cap protects the machine from runaway allocation.",
        "run: local t = {} for i = 1, 1e9 do t[i] = i end\n",
    ),
    Code(
        "TEA604",
        "worker-crash",
        "runtime",
        E,
        "The worker process running a branch died.",
        "Reports branches whose worker process exited unexpectedly.",
        "The branch's result is lost; the pool is restarted.",
        "# a native crash inside an action\n",
    ),
    Code(
        "TEA605",
        "action-error",
        "runtime",
        E,
        "An action failed.",
        "Reports errors raised by `uses:` actions.",
        "The node failed.",
        "uses: file.read\nwith: {path: missing.txt}\n",
    ),
    Code(
        "TEA606",
        "max-steps",
        "runtime",
        E,
        "The run exceeded its maximum number of steps.",
        "Reports runs stopped by the runaway-loop guard.",
        "A `goto` cycle without an exit would otherwise run forever.",
        "nodes:\n  - name: a\n    goto: a\n",
    ),
    Code(
        "TEA607",
        "unsupported-feature",
        "runtime",
        E,
        "The workflow uses a feature the tea-lsp runner does not execute.",
        "Reports, before the run starts, features the runner refuses (non-Lua code, "
        "`config.interrupt_before`, ...).",
        "The runner never half-runs a workflow.",
        "nodes:\n  - name: a\n    language: python\n    run: x = 1\n",
    ),
    Code(
        "TEA608",
        "template-error",
        "runtime",
        E,
        "A template failed while rendering.",
        "Reports template render errors at run time.",
        "The node failed.",
        "with: {text: '{{ state.x.y.z }}'}\n",
    ),
    Code(
        "TEA609",
        "python-runtime-error",
        "runtime",
        E,
        "Python code raised an exception while running.",
        "Reports Python exceptions at the YAML line of the failing Python line; the traceback "
        "lines inside the snippet are related locations.",
        "The node failed; the run stopped or the branch failed.",
        "run: |\n  x = 1 / 0\n",
    ),
    Code(
        "TEA610",
        "state-not-json",
        "runtime",
        E,
        "A node put a value into the state that is not JSON-like.",
        "Reports Python values (sets, bytes, objects, ...) stored in the state, naming the key.",
        "The state crosses process boundaries and is printed as JSON; other values cannot.",
        "run: |\n  return {'tags': {'a', 'b'}}\n",
    ),
    Code(
        "TEA611",
        "no-route",
        "runtime",
        E,
        "No rule of a conditional `goto` matched.",
        "Reports a run that reached a node whose `goto` rules all failed (TEA's engines stop "
        "there too).",
        "Add a last rule without `if:` as the fallback.",
        "goto:\n  - if: state.ok\n    to: done\n",
    ),
    Code(
        "TEA630",
        "dask-cluster",
        "runtime",
        E,
        "The Dask cluster cannot run this workflow's branches.",
        "Reports, before the main flow starts, a scheduler that cannot be reached, no worker "
        "within the time limit, or workers with another tea-lsp or lupa version or without an "
        "action the workflow uses (strategy `dask`).",
        "Every machine of the cluster must run the same tea-lsp and action plugins.",
        "settings:\n  parallel: {strategy: dask, dask: {address: 'tcp://10.0.0.5:8786'}}\n",
    ),
    # ---- internal
    Code(
        "TEA900",
        "internal-error",
        "internal",
        E,
        "tea-lsp hit an internal error.",
        "Reports a crash inside one check, so the other checks still run.",
        "A bug in tea-lsp should never hide the other diagnostics.",
        "# please report the file that caused it\n",
    ),
)

REGISTRY: dict[str, Code] = {c.code: c for c in _ALL}
BY_SLUG: dict[str, Code] = {c.slug: c for c in _ALL}


def get(code: str) -> Code:
    return REGISTRY[code]


def lookup(name: str) -> Code | None:
    """Find a code by ``TEA###`` (any case) or by slug."""
    key = name.strip()
    return REGISTRY.get(key.upper()) or BY_SLUG.get(key.lower())
