"""Which state keys are set when a node runs, along the paths from the entry (shared facts).

A key is *provided* by a declaration (``state_schema``, ``initial_state``, ``input_schema``
properties) or by a node that ran earlier on some path: keys of tables a Lua node returns
literally (``result`` for another value), ``output``/``output_key`` names and ``output``
mapping keys, ``item_var``/``index_var`` inside a ``dynamic_parallel`` node, and
``parallel_results`` at a fan-in. The analysis is a "may" data flow over the routing graph
(:func:`tea_lsp.model.routing.successors`: ``goto``, edges, list order, fan-outs, handlers),
so a key set anywhere on a cycle counts everywhere on it.

Python nodes provide the keys of dict literals they return and of ``state['k'] = ...``
assignments. *Opaque* nodes could set any key: Prolog (or another language's) code, Lua or
Python whose keys cannot be read literally, an action without a declared ``output``,
a node with an ``interrupt``; a node with ``steps`` or a loop ``body`` is opaque when one of
its sub-nodes is. Below an opaque node (on any path)
nothing is reported. When the routes cannot be followed (a misspelt node name, a node
nobody reaches), the whole file's keys are used instead of the path's.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Set
from dataclasses import dataclass
from functools import lru_cache

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.lua_common import lua_entries, lua_returned_keys
from tea_lsp.langs.detect import DEFAULT_LANGUAGES, file_default_language, resolve_language
from tea_lsp.langs.lua import LuaFacts, compile_check, snippet_facts
from tea_lsp.langs.python.check import mask_jinja
from tea_lsp.model.routing import successor_lookup
from tea_lsp.model.workflow import END, RESERVED, START, Node, Workflow
from tea_lsp.syntax.yaml_tree import YMap, to_python
from tea_lsp.util import did_you_mean, suggest

_CACHE_KEY = "state_flow"
_RETURN_NAME = re.compile(r"\breturn[ \t]+([A-Za-z_]\w*)[ \t]*(?:$|;|--|\bend\b)", re.M)
_RETURN_CALL = re.compile(r"\breturn\s+[\w.:\[\]'\"]+\s*[({'\"]")
_DYNAMIC_INDEX = re.compile(r"\w\s*\[\s*[^'\"\s\]][^\]]*\]\s*=(?!=)")
_PY_WRITES_VARIABLES = re.compile(
    r"\bvariables\s*(?:\[[^\]]*\]\s*=(?!=)|\.\s*(?:update|setdefault|__setitem__)\s*\()"
)


@dataclass(frozen=True, slots=True)
class Provides:
    """What running one node adds to the state."""

    keys: frozenset[str]
    opaque: bool  # it could add any key

    def __init__(self, keys: frozenset[str], opaque: bool) -> None:
        # the slots' own setters: half the time of the generated frozen ``__init__`` (one
        # per node of the file)
        _set_keys(self, keys)
        _set_opaque(self, opaque)


_set_keys = vars(Provides)["keys"].__set__
_set_opaque = vars(Provides)["opaque"].__set__


class KeySet(Set[str]):
    """A set of state keys held as bits of an ``int`` over a key index shared by a document.

    The flow unions the keys of every path: with one ``frozenset`` per node, a long chain of
    nodes costs time and memory quadratic in its length; bits keep each union a few machine
    words. Membership is what the checks ask; the keys are only listed (did-you-mean) when a
    read is reported.
    """

    __slots__ = ("_bits", "_extra", "_index", "_keys", "_names")

    def __init__(
        self,
        bits: int,
        index: dict[str, int],
        names: list[str],
        extra: frozenset[str] = frozenset(),
    ) -> None:
        self._bits = bits
        self._index = index
        self._names = names
        self._extra = extra
        self._keys: frozenset[str] | None = None

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        i = self._index.get(key)
        # (a low bit tested without shifting the whole int, which copies it)
        if i is not None and ((self._bits & (1 << i)) if i < 256 else (self._bits >> i) & 1):
            return True
        return key in self._extra

    def keys(self) -> frozenset[str]:
        """The keys as a ``frozenset`` (computed once)."""
        if self._keys is None:
            bits, names = self._bits, self._names
            found = [names[i] for i in range(bits.bit_length()) if (bits >> i) & 1]
            self._keys = frozenset(found).union(self._extra)
        return self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __or__(self, other: Iterable[object]) -> KeySet:
        more = frozenset(k for k in other if isinstance(k, str) and k not in self)
        if not more:
            return self
        return KeySet(self._bits, self._index, self._names, self._extra | more)

    __ror__ = __or__


@dataclass(frozen=True, slots=True)
class StateFlow:
    """The state keys of one document (see the module docs)."""

    declared: frozenset[str]  # state_schema, initial_state, input_schema
    everywhere: frozenset[str]  # declared + what any node provides
    any_opaque: bool  # some node is opaque
    strict: bool  # the file declares its state (state_schema or input_schema)
    before: Mapping[str, KeySet | None]  # per top-level node; None: possibly anything
    after: Mapping[str, KeySet | None]
    nodes: dict[str, Provides]  # per top-level node (its sub-nodes included)

    def keys_before(self, node: Node | None) -> Set[str] | None:
        """Keys possibly set when ``node`` (top level) starts; ``None``: possibly any key."""
        if node is None:
            return None if self.any_opaque else self.everywhere
        name = node.top().name
        if name not in self.before:
            return None if self.any_opaque else self.everywhere
        return self.before[name]

    def keys_after(self, node: Node | None) -> Set[str] | None:
        """Keys possibly set once ``node`` (top level) has run; ``None``: possibly any key."""
        if node is None:
            return None if self.any_opaque else self.everywhere
        name = node.top().name
        if name not in self.after:
            return None if self.any_opaque else self.everywhere
        return self.after[name]

    def setters(self, key: str) -> list[str]:
        """Top-level nodes that provide ``key``, in file order."""
        return [n for n, p in self.nodes.items() if key in p.keys]

    def key_message(self, key: str, available: Set[str]) -> str | None:
        """The problem with reading ``key`` where ``available`` keys are set, or ``None``.

        Without ``state_schema``/``input_schema`` the run's input may hold any key: only a
        key that nothing provides and that is close to an available one (a typo) is reported.
        """
        if key in available:
            return None
        hint = suggest(key, sorted(available))
        dym = f"; did you mean '{hint}'?" if hint else ""
        if key in self.everywhere:
            setters = self.setters(key)
            if not self.strict or not setters:
                return None  # the input may hold it, or it is declared
            through = " or ".join(f"'{n}'" for n in setters)
            verb = "sets" if len(setters) == 1 else "set"
            return (
                f"state key '{key}' is read before it is set: no path to this template passes "
                f"through {through}, which {verb} it{dym}"
            )
        if not self.strict and hint is None:
            return None  # perhaps an input key
        return f"state key '{key}' is not declared and no node provides it{dym}"


def _default_language(ctx: CheckContext) -> str:
    """The file's ``# tea-lsp: default-language=...``, else the configuration's (as the code
    checks read it)."""
    configured = ctx.config.default_language
    return file_default_language(ctx.text) or (
        configured if configured in DEFAULT_LANGUAGES else "auto"
    )


def state_flow(ctx: CheckContext) -> StateFlow | None:
    """The document's state flow, computed once per document (``None`` without a workflow)."""
    if _CACHE_KEY in ctx.cache:
        cached: StateFlow | None = ctx.cache[_CACHE_KEY]
        return cached
    wf = ctx.workflow
    result = None if wf is None else _compute(wf, _default_language(ctx), _known_facts(ctx))
    ctx.cache[_CACHE_KEY] = result
    return result


def declared_variables(ctx: CheckContext) -> frozenset[str] | None:
    """The keys of the file's ``variables`` when they are all the workflow can see.

    ``None`` (unknown: no check) when the file has no ``variables`` mapping (it may be an
    overlay of another file), when it extends or imports others, or when some Python node
    writes to ``variables``.
    """
    wf = ctx.workflow
    if wf is None:
        return None
    root = wf.root
    if any(k in root for k in ("extends", "imports", "include", "includes")):
        return None
    raw = root.get("variables")
    if not isinstance(raw, YMap):
        return None  # none declared here: perhaps a fragment or overlay of another file
    for node in wf.all_nodes():
        if node.code is None:
            continue
        if resolve_language(node, _default_language(ctx)) == "lua":
            continue
        if _PY_WRITES_VARIABLES.search(node.code.text) or node.language not in ("python", "lua"):
            return None
    return frozenset(str(k) for k in wf.variables)


_OR_DEFAULT = re.compile(r"""\s*['"]?\s*\]?\s*or\b""")


def variable_problem(ctx: CheckContext, key: str, after: str = "") -> str | None:
    """The message for reading ``variables.<key>`` when the file lacks it, else ``None``.

    ``after``: the code right after the read; ``variables.x or default`` is an optional read.
    """
    declared = declared_variables(ctx)
    if declared is None or key in declared or _OR_DEFAULT.match(after):
        return None
    return f"'variables.{key}' is not defined in 'variables'{did_you_mean(key, sorted(declared))}"


def code_state_key_problem(
    ctx: CheckContext, node: Node, key: str, extra: frozenset[str] = frozenset()
) -> str | None:
    """For checks of code that reads ``state.<key>`` while ``node`` runs (Lua, Python): the
    problem with that read, or ``None`` (same policy as templates, TEA404).

    ``extra``: keys the node also sees (``item``/``index`` inside a ``dynamic_parallel``).
    A sub-node (``steps``, loop ``body``) sees what its whole top-level node sets.
    """
    flow = state_flow(ctx)
    if flow is None:
        return None
    before = flow.before
    if node.parent is None and type(before) is _KeySets and before.holds(node.name, key):
        return None  # the common case, without making the node's KeySet
    keys = flow.keys_before(node) if node.parent is None else flow.keys_after(node)
    if keys is None:
        return None
    message = flow.key_message(key, keys | extra if extra else keys)
    return None if message is None else message.replace("this template", "this node")


def state_keys_at(ctx: CheckContext, node: Node) -> Set[str] | None:
    """State keys possibly set when ``node`` (or its top-level node) starts.

    ``None``: possibly any key (an opaque node may run before it). For checks of code that
    reads the state (Lua, Python): a key outside this set is read before anything sets it.
    """
    flow = state_flow(ctx)
    return None if flow is None else flow.keys_before(node)


# --------------------------------------------------------------------------- computing


def _known_facts(ctx: CheckContext) -> dict[str, LuaFacts | None]:
    """The facts of the document's Lua snippets, by text, as the Lua checks computed them
    (``None``: does not compile). Per document: a large file has more snippets than the
    per-process caches keep, and reading them all twice doubled the time of the Lua checks."""
    return {e.snippet.text: e.facts for e in lua_entries(ctx) if not e.too_big}


def _compute(
    wf: Workflow, default_language: str, known: Mapping[str, LuaFacts | None]
) -> StateFlow:
    declared: set[str] = set(wf.state_schema or {})
    declared.update(str(k) for k in wf.initial_state)
    input_schema = to_python(wf.root.get("input_schema"))
    if isinstance(input_schema, dict):
        props = input_schema.get("properties")
        declared.update(str(k) for k in (props if isinstance(props, dict) else input_schema))
    strict = wf.state_schema is not None or isinstance(input_schema, dict)
    fan_ins = wf.fan_in_names()
    provides: dict[str, Provides] = {}
    for node in wf.nodes:
        if node.name and node.name not in RESERVED:
            provides[node.name] = _node_provides(node, default_language, fan_ins, known)
    everywhere = set(declared)
    for p in provides.values():
        everywhere |= p.keys
    any_opaque = any(p.opaque for p in provides.values())
    before, after = _flow(wf, frozenset(declared), provides, fan_ins)
    return StateFlow(
        frozenset(declared),
        frozenset(everywhere),
        any_opaque,
        strict,
        before,
        after,
        provides,
    )


def _node_provides(
    node: Node, default_language: str, fan_ins: set[str], known: Mapping[str, LuaFacts | None]
) -> Provides:
    if not node.steps and not node.body and not node.has_interrupt and node.name not in fan_ins:
        return _one_node(node, default_language, known)  # the common case: the same answer
    keys: set[str] = set()
    opaque = False
    if node.has_interrupt:
        opaque = True  # a resumed run may bring any key
    for sub in node.walk():
        p = _one_node(sub, default_language, known)
        keys |= p.keys
        opaque = opaque or p.opaque
    if node.name in fan_ins:
        keys.add("parallel_results")
    return Provides(frozenset(keys), opaque)


def _one_node(node: Node, default_language: str, known: Mapping[str, LuaFacts | None]) -> Provides:
    found = node.ymap._index.get("output")  # ``YMap.get`` inline
    out = found.value if found is not None else None
    code = node.code
    if (
        code is not None
        and not node.output_key
        and node.uses is None
        and node.expression is None
        and node.type != "dynamic_parallel"
        and not isinstance(out, YMap)
        and resolve_language(node, default_language) == "lua"
    ):  # the common case of a Lua node: what it returns (the same answer as below)
        lua_keys = _lua_provides(code.text, known)
        return _NOTHING_OPAQUE if lua_keys is None else Provides(lua_keys, False)
    if (
        code is None
        and node.output_key
        and node.expression is None
        and node.type != "dynamic_parallel"
        and not isinstance(out, YMap)
    ):  # the common case of an action node with an output key (the same answer as below)
        return Provides(frozenset((node.output_key,)), False)
    keys: set[str] = set()
    opaque = False
    if node.output_key:
        keys.add(node.output_key)
    if isinstance(out, YMap):
        keys.update(out.keys())
    if node.type == "dynamic_parallel":
        keys.update((node.item_var, node.index_var))
    if node.uses is not None and not node.output_key and not isinstance(out, YMap):
        opaque = True  # an action's result mapping is merged into the state
    if node.code is not None:
        language = resolve_language(node, default_language)
        if language == "python":
            py_keys = _python_provides(node.code.text)
            if py_keys is None:
                opaque = True
            else:
                keys |= py_keys
        elif language != "lua":
            opaque = True
        else:
            lua_keys = _lua_provides(node.code.text, known)
            if lua_keys is None:
                opaque = True
            else:
                keys |= lua_keys
    if node.expression is not None:
        keys.add(node.output_key or "result")
    return Provides(frozenset(keys), opaque)


_NOTHING_OPAQUE = Provides(frozenset(), True)


def _lua_provides(code: str, known: Mapping[str, LuaFacts | None]) -> frozenset[str] | None:
    """Keys a Lua node returns, or ``None`` when they cannot be read literally."""
    if code in known:
        return _provides_from(code, known[code])
    return _lua_provides_cached(code)


@lru_cache(maxsize=4096)
def _lua_provides_cached(code: str) -> frozenset[str] | None:
    if compile_check(code) is not None:
        return None
    return _provides_from(code, snippet_facts(code))


def _provides_from(code: str, facts: LuaFacts | None) -> frozenset[str] | None:
    if facts is None:
        return None
    if not facts.returns_opaque:
        return facts.return_keys
    if _RETURN_CALL.search(code) or _DYNAMIC_INDEX.search(code):
        return None
    names = [m.group(1) for m in _RETURN_NAME.finditer(code)]
    if any(n not in ("state",) and not re.search(rf"\b{n}\s*=\s*\{{", code) for n in names):
        return None  # `return x` where x is not a table built here (a value or a copy)
    return facts.return_keys | lua_returned_keys(code)


_STATE_WRITERS = frozenset({"update", "setdefault", "__setitem__"})
_DYNAMIC = frozenset({"exec", "eval", "globals", "locals", "vars", "setattr"})


def _str_key(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


@lru_cache(maxsize=4096)
def _python_provides(code: str) -> frozenset[str] | None:
    """Keys a Python node sets, or ``None`` when they cannot be read literally.

    Read: dict literals it returns, ``state['k'] = ...``, ``state.update({...})`` /
    ``state.update(k=...)``, ``state.setdefault('k', ...)``. Unknown: another returned value,
    computed keys, ``**``, ``state`` used as a whole (passed, aliased), ``exec``/``eval``.
    Templates are masked first, as the Python checks do (TEA renders the code before running
    it).
    """
    masked = mask_jinja(code)
    try:
        tree = ast.parse(masked)
    except (SyntaxError, ValueError, RecursionError):
        return None
    keys: set[str] = set()
    attached = {
        id(n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Subscript | ast.Attribute) and isinstance(n.value, ast.Name)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "state" and id(node) not in attached:
            return None  # the whole state passed on or aliased
        if isinstance(node, ast.Return):
            value = node.value
            if value is None or (isinstance(value, ast.Constant) and value.value is None):
                continue
            if not isinstance(value, ast.Dict):
                return None  # a dict built elsewhere: its keys are unknown
            for k in value.keys:
                key = None if k is None else _str_key(k)
                if key is None:
                    return None  # `**other` or a computed key
                keys.add(key)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id == "state":
                key = _str_key(node.slice)
                if key is None:
                    return None
                keys.add(key)
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in _DYNAMIC:
                return None
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "state"
                and func.attr in _STATE_WRITERS
            ):
                literal = len(node.args) == 1 and isinstance(node.args[0], ast.Dict)
                if func.attr == "update" and literal and not node.keywords:
                    assert isinstance(node.args[0], ast.Dict)
                    found = [None if k is None else _str_key(k) for k in node.args[0].keys]
                    if any(k is None for k in found):
                        return None
                    keys.update(k for k in found if k is not None)
                elif func.attr == "update" and not node.args:
                    keys.update(kw.arg for kw in node.keywords if kw.arg)
                    if any(kw.arg is None for kw in node.keywords):
                        return None
                elif func.attr in ("setdefault", "__setitem__") and node.args:
                    key = _str_key(node.args[0])
                    if key is None:
                        return None
                    keys.add(key)
                else:
                    return None
    return frozenset(keys)


def _flow(
    wf: Workflow,
    declared: frozenset[str],
    provides: dict[str, Provides],
    fan_ins: set[str],
) -> tuple[Mapping[str, KeySet | None], Mapping[str, KeySet | None]]:
    """A "may" data flow from the entry: the union of keys over every path to each node.

    Key sets are bits of an ``int`` (see :class:`KeySet`); ``None`` is "possibly any key".
    """
    entry = wf.entry()
    if entry is None or entry not in provides:
        return {}, {}
    succ: dict[str, tuple[str, ...]] = {}
    lookup = successor_lookup(wf)
    get = (wf.routes_memo() or {}).get  # filled by ``successor_lookup``: read directly
    for name in provides:
        nexts = get(name)
        if nexts is None:
            nexts = lookup(name)
        if START in nexts or END in nexts:
            nexts = tuple(s for s in nexts if s not in (START, END))
        for s in nexts:
            if s not in provides:
                return {}, {}  # a reference to no node: the routes cannot be followed
        succ[name] = nexts
    index: dict[str, int] = {}
    names: list[str] = []

    def to_bits(keys: Iterable[str]) -> int:
        bits = 0
        for k in keys:
            i = index.get(k)
            if i is None:
                i = index[k] = len(names)
                names.append(k)
            bits |= 1 << i
        return bits

    # What each node adds: the common case of one key by its bit's position (a large file
    # may have thousands of keys: a mask per node, as long as its bit's position, made
    # memory quadratic), other nodes by their mask.
    pbits: dict[str, int] = {}
    pone: dict[str, int] = {}
    for name, p in provides.items():
        keys = p.keys
        if len(keys) != 1:
            pbits[name] = to_bits(sorted(keys)) if keys else 0
            continue
        (key,) = keys  # the common case, inline
        i = index.get(key)
        if i is None:
            i = index[key] = len(names)
            names.append(key)
        pone[name] = i
    results_bit = to_bits(["parallel_results"])
    opaque = {name for name, p in provides.items() if p.opaque}
    before: dict[str, int | None] = {entry: to_bits(sorted(declared))}
    after: dict[str, int | None] = {}
    queue = deque([entry])
    pop, push = queue.popleft, queue.append
    steps = 0
    limit = 50 * (len(provides) + 1) ** 2  # keys only grow: a fixed point comes quickly
    while queue and steps < limit:
        steps += 1
        name = pop()
        inp = before[name]
        if inp is None or name in opaque:
            out = None
        else:
            # the same int when nothing new is added: along a long chain, a new int per node
            # (each as long as the keys met so far) made memory and time quadratic
            i = pone.get(name)
            if i is None:
                pb = pbits[name]
                out = inp if inp & pb == pb else inp | pb
            elif (inp & (1 << i)) if i < 256 else (inp >> i) & 1:
                out = inp
            else:
                out = inp | (1 << i)
        after[name] = out
        for nxt in succ[name]:
            if nxt not in before:
                new = out
                if new is not None and nxt in fan_ins and new & results_bit == 0:
                    new = new | results_bit
                before[nxt] = new
                push(nxt)
                continue
            old = before[nxt]
            new = None if old is None or out is None else old | out if old & out != out else old
            if nxt in fan_ins and new is not None and new & results_bit == 0:
                new = new | results_bit
            if new is not old and new != old:
                before[nxt] = new
                push(nxt)
    if queue:  # did not settle: use the whole file
        return {}, {}

    made: dict[int, KeySet] = {}  # shared by both: a chain passes one int along
    return _KeySets(before, index, names, made), _KeySets(after, index, names, made)


class _KeySets(Mapping[str, KeySet | None]):
    """Node name → its ``KeySet`` (``None``: possibly any key), made from the flow's bits when
    asked for: a large file has two per node, and the checks ask for few."""

    __slots__ = ("_bits", "_index", "_made", "_names")

    def __init__(
        self,
        bits: dict[str, int | None],
        index: dict[str, int],
        names: list[str],
        made: dict[int, KeySet],
    ) -> None:
        self._bits = bits
        self._index = index
        self._names = names
        self._made = made  # by the ``id`` of the bits (alive in ``_bits``)

    def __getitem__(self, name: str) -> KeySet | None:
        bits = self._bits[name]
        if bits is None:
            return None
        found = self._made.get(id(bits))
        if found is None:
            found = self._made[id(bits)] = KeySet(bits, self._index, self._names)
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._bits

    def holds(self, name: str, key: str) -> bool:
        """Whether ``name``'s keys are known and hold ``key`` (or are "possibly any key")."""
        bits = self._bits.get(name, 0)
        if bits is None:
            return True
        i = self._index.get(key)
        if i is None or not bits:
            return False
        return bool(bits & (1 << i)) if i < 256 else bool((bits >> i) & 1)

    def __iter__(self) -> Iterator[str]:
        return iter(self._bits)

    def __len__(self) -> int:
        return len(self._bits)


def file_state_keys(ctx: CheckContext) -> frozenset[str]:
    """Every key something in the file may provide (for checks that are not flow-aware).

    When some node is opaque, every key read anywhere in the file (by Lua or templates)
    counts as possibly provided, so nothing is reported.
    """
    flow = state_flow(ctx)
    wf = ctx.workflow
    if flow is None or wf is None:
        return frozenset()
    if not flow.any_opaque:
        return flow.everywhere
    from tea_lsp.langs.jinja import condition_shorthand, state_reads

    reads: set[str] = set()
    known = _known_facts(ctx)
    for snip in wf.snippets():
        if snip.kind == "jinja":
            reads.update(k for k, _, _ in state_reads(snip.text, expression=snip.expression))
            if snip.expression and snip.role in ("condition", "when"):
                shorthand = condition_shorthand(snip.text)
                if shorthand is not None:
                    reads.add(shorthand[1])
        elif snip.kind == "lua" and len(snip.text) <= ctx.config.max_snippet_bytes:
            if snip.text in known:
                facts = known[snip.text]
            else:
                facts = snippet_facts(snip.text) if compile_check(snip.text) is None else None
            if facts is not None:
                reads.update(
                    a.field for a in facts.accesses if a.name == "state" and a.field is not None
                )
    return flow.everywhere | reads
