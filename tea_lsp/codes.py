"""The ``TEA###`` registry: every diagnostic code, its slug, family, default severity and docs.

Codes are stable and never reused. Families:
``TEA0xx`` syntax, ``TEA1xx`` schema, ``TEA2xx`` graph, ``TEA3xx`` Lua, ``TEA4xx`` Jinja,
``TEA5xx`` actions, ``TEA6xx`` runtime, ``TEA7xx`` python, ``TEA9xx`` internal.
"""

from __future__ import annotations

from dataclasses import dataclass

from tea_lsp.diagnostics import Severity

REPOSITORY_URL = "https://github.com/tea-lsp/tea-lsp"
# One page per rule, generated from this registry by docs/gen_rules.py (a test keeps them current).
DOCS_URL = REPOSITORY_URL + "/blob/main/docs/rules/{code}.md"
FORMAT_URL = REPOSITORY_URL + "/blob/main/docs/format.md"


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


E, W, N, H = Severity.ERROR, Severity.WARNING, Severity.INFO, Severity.HINT
INFO = N

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
    Code(
        "TEA005",
        "alias-expansion-too-large",
        "syntax",
        E,
        "YAML aliases would expand the document far beyond its size.",
        "Counts the nodes every alias (`*name`) stands for. Once the aliases of a file would "
        "add more than 10,000 nodes plus one per two characters of the file, each further "
        "alias is reported and read as null.",
        'A few hundred bytes of nested aliases (a "billion laughs" file) expand to billions '
        "of nodes: every tool that loads the file as data runs out of time or memory.",
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "# ... nine more levels\nj: &j [*i, *i, *i, *i, *i, *i, *i, *i, *i]   # reported\n",
    ),
    Code(
        "TEA006",
        "recursive-alias",
        "syntax",
        E,
        "A YAML alias inside the node its anchor names.",
        "Reports an alias (`*name`) that refers to a node that contains it; it is read as null.",
        "The data would be infinitely deep: it has no JSON form and loaders that follow it "
        "never finish.",
        "settings:\n  variables: &v\n    self: *v\n",
    ),
    Code(
        "TEA010",
        "unused-suppression",
        "suppression",
        W,
        "A `tea-lsp: ignore[...]` comment hides nothing.",
        "Reports a suppression comment, or one code in it, when no problem of that code is "
        "reported on the line it covers (or, for `ignore-file`, in the file). Codes switched "
        "off by `select`/`ignore` are not reported. `--fix` removes the stale code.",
        "A stale suppression would silently hide the next real problem on that line.",
        "nodes:\n  - name: a\n    run: |\n      return {}  -- tea-lsp: ignore[TEA302]\n",
    ),
    Code(
        "TEA011",
        "unknown-suppression-code",
        "suppression",
        W,
        "A suppression names a code that does not exist.",
        "Reports each name in `tea-lsp: ignore[...]` that is neither a `TEA###` code nor a "
        "rule's slug, with the closest one.",
        "A misspelt code suppresses nothing, so the problem it was meant for is still reported "
        "and the comment misleads the reader.",
        "nodes:\n  - name: a\n    run: |\n      return {}  -- tea-lsp: ignore[TEA3O2]\n",
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
    Code(
        "TEA107",
        "multiple-documents",
        "schema",
        W,
        "The file holds more than one YAML document.",
        "Reports each `---` that starts a second or later document in a workflow file.",
        "TEA's engines load exactly one document per file and reject the whole file otherwise; "
        "tea-lsp checks each document, but only a one-document file runs under TEA.",
        "name: one\nnodes:\n  - name: a\n    run: return {}\n---\nname: two\nnodes:\n"
        "  - name: b\n    run: return {}\n",
    ),
    Code(
        "TEA108",
        "node-level-action",
        "schema",
        W,
        "A node names its action with `action:` instead of `uses:`.",
        "Reports a node-level `action: <name>` (outside `dynamic_parallel`).",
        "TEA's Rust engine runs it, but TEA's Python engine (`tea run`) ignores `action:` on a "
        "node: the node silently does nothing. `uses:` works everywhere.",
        "nodes:\n  - name: a\n    action: json.parse\n    with: {text: '[1]'}\n",
    ),
    Code(
        "TEA109",
        "dynamic-parallel-output-ignored",
        "schema",
        W,
        "`output:` on a `dynamic_parallel` node is ignored.",
        "Reports `output`/`output_key` written on a `dynamic_parallel` node itself.",
        "The node's results go to `parallel_results` at its fan-in; TEA never stores them under "
        "the `output` key, so whatever reads that key gets nothing.",
        "nodes:\n  - name: fan\n    type: dynamic_parallel\n    items: '{{ state.xs }}'\n"
        "    action: {uses: json.parse, with: {text: '{{ item }}'}}\n    fan_in: join\n"
        "    output: parsed\n  - name: join\n    fan_in: true\n    run: return {}\n",
    ),
    Code(
        "TEA110",
        "condition-ignored",
        "schema",
        W,
        "`condition:` on a node that is not a `while_loop` is ignored.",
        "Reports `condition` on nodes other than `while_loop` nodes.",
        "The node runs every time control reaches it; the condition is never evaluated. Route "
        "with a conditional `goto` or an edge `when:` instead.",
        "nodes:\n  - name: a\n    condition: '{{ state.ready }}'\n    run: return {}\n",
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
        "write one edge per branch with `type: parallel` (as TEA's Python engine and tea-lsp "
        "run it).",
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
    Code(
        "TEA215",
        "list-target-parallel-edge",
        "graph",
        W,
        "An edge with a list `to:` and `parallel: true` breaks TEA's Python engine.",
        "Reports edges of the form `{to: [a, b], parallel: true}`.",
        "tea-lsp runs this spelling, but TEA's Python engine fails while loading the file "
        "(`unhashable type: 'list'`). Write one `type: parallel` edge per branch instead.",
        "edges:\n  - {from: s, to: [a, b], parallel: true, fan_in: join}\n",
    ),
    Code(
        "TEA216",
        "dynamic-parallel-shape",
        "graph",
        E,
        "A `dynamic_parallel` node lacks its `fan_in` or has more than one body.",
        "Reports `dynamic_parallel` nodes without `fan_in`, or with more than one of "
        "`action`, `steps` and `subgraph`.",
        "TEA refuses to load such a node: the items' results need a node to join them, and "
        "each item runs exactly one body.",
        "nodes:\n  - name: fan\n    type: dynamic_parallel\n    items: '{{ state.xs }}'\n"
        "    action: {uses: json.parse, with: {text: '{{ item }}'}}\n",
    ),
    Code(
        "TEA217",
        "goto-without-fallback",
        "graph",
        W,
        "A conditional `goto` list has no fallback rule.",
        "Reports `goto` lists whose every rule has an `if`.",
        'When no condition holds, the run fails ("no valid next node") in both TEA engines '
        "and in tea-lsp. End the list with a rule without `if` (`- to: __end__`).",
        "nodes:\n  - name: a\n    run: return {}\n    goto:\n      - if: state.ok\n"
        "        to: b\n  - name: b\n    run: return {}\n",
    ),
    Code(
        "TEA218",
        "cycle-without-exit",
        "graph",
        W,
        "Nodes that form a loop from which no route leads to `__end__`.",
        "Reports a reachable group of nodes whose routes only lead back into the group.",
        "Once control enters the loop, the run never ends: TEA's Python engine loops forever and "
        "tea-lsp stops it after its step limit.",
        "nodes:\n  - name: a\n    run: return {}\n    goto: b\n  - name: b\n"
        "    run: return {}\n    goto: a\n",
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
        "Reports Lua `state.<key>` reads of keys that nothing sets on the way to the node "
        "(`state_schema`, `initial_state`, `input_schema`, earlier nodes' returned keys and "
        "action outputs). Without a `state_schema` or `input_schema` the run's input may hold "
        "any key, so only near-misses of keys that are set are reported; after a node that "
        "could set any key (Prolog, an action without `output`) nothing is reported.",
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
        "Code marked as Lua fails as Lua but parses as Python.",
        "Hints, for code marked `language: lua` (or `run: {type: lua}`) that does not compile "
        "as Lua but parses as Python, that it may be Python. Unmarked code is no longer "
        "reported here: its language is decided per snippet (see `default-language`), and "
        "code that parses as Python is checked as Python.",
        "The Lua syntax error alone does not say that the whole snippet is in another language.",
        "nodes:\n  - name: a\n    language: lua\n    run: |\n      return {'x': state['y']}\n",
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
    Code(
        "TEA309",
        "engines-disagree",
        "lua",
        INFO,
        "Python code without `language:` runs as Lua under TEA's Rust engine.",
        "Reported once per file, on the first node whose code has no `language:` (nor "
        "`run: {type: ...}`) and is read as Python, with the number of such nodes. Not "
        "reported when the file (`# tea-lsp: default-language=python`) or the configuration "
        "(`default-language`) says how unmarked code is read.",
        "TEA's Python engine (`tea run`) runs unmarked code as Python, its Rust engine as Lua: "
        "the same file fails under the Rust engine. Add `language: python`.",
        "nodes:\n  - name: a\n    run: |\n      return {'x': 1}\n",
    ),
    Code(
        "TEA310",
        "lua-marker-without-language",
        "lua",
        W,
        "Code starts with `-- lua` but has no `language: lua`.",
        "Reports unmarked code whose first line is `-- lua` (or `--lua`).",
        "The marker only works when an engine is created with Lua enabled; `tea run` does not "
        "enable it, so TEA's Python engine runs the code as Python and fails on its first "
        "line. Add `language: lua`.",
        "nodes:\n  - name: a\n    run: |\n      -- lua\n      return { x = 1 }\n",
    ),
    Code(
        "TEA311",
        "lost-state-write",
        "lua",
        W,
        "Lua code assigns a field of `state` that it never returns.",
        'Reports `state.x = ...` (or `state["x"] = ...`) in a Lua node that neither returns '
        "`state` nor a table with the key `x`.",
        "A Lua node receives a copy of the state; only the table it returns is merged back, so "
        "the assignment is lost.",
        "nodes:\n  - name: a\n    run: |\n      state.count = 1\n      return {}\n",
    ),
    Code(
        "TEA316",
        "unknown-lua-variable",
        "lua",
        W,
        "Lua reads a key of `variables` that the file does not define.",
        "Reports `variables.<key>` reads in Lua whose key is not in the file's `variables:` "
        "mapping (quiet when Python code may write to `variables`, or the file extends or "
        "imports others).",
        "The read yields nil: usually a misspelt variable name.",
        "variables: {greeting: hi}\n...\nrun: return { text = variables.greting }\n",
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
        "Reports names other than `state`, `variables`, `secrets`, `settings`, `data`, `env`, "
        "`checkpoint`, `result` where defined, `parallel_results` at a fan-in and "
        "`item`/`index` in dynamic parallel.",
        "Undefined names render as empty strings or fail.",
        "with: {text: '{{ stat.x }}'}\n",
    ),
    Code(
        "TEA404",
        "unknown-template-state-key",
        "jinja",
        W,
        "A template reads a state key nothing provides.",
        "Follows the paths from the entry: reports `state.<key>` reads (and the condition "
        "shorthand `flag`/`!flag`) of keys that no declaration and no earlier node provides. "
        "Quiet below nodes that could set any key (Python or Prolog code, actions without "
        "`output`). Without `state_schema` or `input_schema` (the input may hold any key), "
        "only keys close to a provided one are reported.",
        "The read yields none: usually a misspelt key or a key set too late.",
        "state_schema: {count: int}\n...\nwith: {n: '{{ state.cuont }}'}\n",
    ),
    Code(
        "TEA405",
        "unknown-template-variable",
        "jinja",
        W,
        "A template reads a key of `variables` that the file does not define.",
        "Reports `variables.<key>` reads in templates whose key is not in the file's "
        "`variables:` mapping (quiet when Python code may write to `variables`, or the file "
        "extends or imports others).",
        "The read yields none: usually a misspelt variable name.",
        "variables: {greeting: hi}\n...\nwith: {text: '{{ variables.greting }}'}\n",
    ),
    # ---- actions
    Code(
        "TEA501",
        "unknown-action",
        "actions",
        E,
        "`uses:` names an action that no engine provides.",
        "Reports action names that neither tea-lsp, TEA's Python or Rust engine, nor an "
        "installed plugin provides, with the closest known name.",
        "No engine can execute an unknown action; it is almost always a typo.",
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
    Code(
        "TEA505",
        "action-not-in-runner",
        "actions",
        N,
        "The action is one of TEA's, not available in the tea-lsp runner.",
        "Notes `uses:` names that TEA's Python or Rust engine provides and the tea-lsp runner "
        "does not; `tea-lsp run` refuses the workflow with this code before starting.",
        "The file is valid for TEA; only running it with tea-lsp is not possible. It never "
        "fails `check` at the default `--fail-on warning`.",
        "nodes:\n  - name: ask\n    uses: llm.call\n    with: {prompt: hello}\n",
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
        "settings:\n  parallel: {strategy: dask, dask: {address: 'tcp://scheduler.example:8786'}}\n",
    ),
    # ---- python
    Code(
        "TEA701",
        "python-syntax",
        "python",
        E,
        "The Python code does not compile.",
        "Compiles each Python snippet as TEA's Python engine does (templates masked; wrapped in "
        "a function when it contains `return`; `run: {type: expression}` values as an "
        "expression) without running it, and reports the error at its line and column.",
        "The node would fail as soon as it runs.",
        "nodes:\n  - name: a\n    language: python\n    run: |\n      if state['x'] > 1\n"
        "          return {'y': 1}\n",
    ),
    Code(
        "TEA702",
        "python-undefined-name",
        "python",
        E,
        "The Python code reads a name that is never defined.",
        "Reports names that the code neither assigns, imports nor defines and that TEA's "
        "Python engine does not provide (`state`, `variables`, `json`, `actions`, `requests`, "
        "`datetime`, `config`, `node`, `graph`, `parallel_results`, builtins; for an "
        "expression: `state`, `config`, `node`, `graph`, `parallel_results`, builtins).",
        "The node fails with a NameError, usually because of a typo.",
        "nodes:\n  - name: a\n    language: python\n    run: |\n      return {'n': stat['n']}\n",
    ),
    Code(
        "TEA703",
        "python-unknown-state-key",
        "python",
        W,
        "The Python code reads a state key nothing provides.",
        "With a `state_schema`, reports `state['key']` and `state.get('key')` reads of keys "
        "that no declaration, initial state or node output provides (reads with a default are "
        "not reported).",
        "`state['key']` raises KeyError and `state.get('key')` yields None: usually a misspelt "
        "key.",
        "state_schema: {count: int}\nnodes:\n  - name: a\n    language: python\n"
        "    run: |\n      return {'n': state['cuont']}\n",
    ),
    Code(
        "TEA704",
        "python-return-not-mapping",
        "python",
        W,
        "A Python node returns a literal that is not a dict.",
        "Reports `return` of a string, number, boolean, list, tuple or set literal at the top "
        "level of a Python node.",
        "A node returns a dict of state updates; TEA stores any other value under the state "
        "key `result`, which is rarely what the code meant.",
        "nodes:\n  - name: a\n    language: python\n    run: |\n      return ['x', 'y']\n",
    ),
    Code(
        "TEA705",
        "python-updates-lost",
        "python",
        W,
        "Python code mentions `return` but has no return statement, so its assignments are lost.",
        "Reports Python code whose text contains the word `return` (in a comment, a string or "
        "a name such as `returned`) without a `return` statement, when it assigns names it "
        "means as state updates.",
        "TEA's Python engine decides by a plain text search: code containing `return` runs as "
        "a function body, so its top-level names are not merged into the state (the node "
        "stores `result: None`). Without the word, the same code would update the state.",
        "nodes:\n  - name: a\n    language: python\n    run: |\n"
        "      # no return needed here\n      total = 1\n",
    ),
    Code(
        "TEA706",
        "python-template-markup",
        "python",
        N,
        "Python code contains `{{ }}` / `{% %}` template markup.",
        "Reports the first template markup in a Python snippet (code, not `type: expression` "
        "values, which both runners render).",
        "TEA's Python engine renders Python code through Jinja before running it, so the markup "
        "is replaced by a value's text; the tea-lsp runner runs the code as written (pasting "
        "values into source code breaks on quotes and is code injection). The code sees "
        "`state` and `variables` as values: `state['x']` works under both.",
        "nodes:\n  - name: a\n    language: python\n    run: |\n"
        "      return {'n': {{ state.count }} + 1}\n",
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
