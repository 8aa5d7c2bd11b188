"""The sandboxed Lua 5.4 VM the runner executes node code with (:class:`LuaVM`).

This package is the only place that imports ``lupa`` (always ``lupa.lua54``). The checker half
(``check``) compiles snippets in a private compile-only runtime with the same sandbox rules, so
the two never disagree.

Sandbox (WORKFLOW_FORMAT.md §2, §6):

* no ``python`` bridge (``register_eval=False, register_builtins=False``; attribute access on
  Python objects is refused as well);
* removed: ``io``, ``os``, ``debug``, ``package``, ``require``, ``dofile``, ``loadfile``,
  ``collectgarbage``, ``string.dump`` — the string metatable's ``__index`` is the same
  ``string`` table, so ``("").dump`` is gone too;
* ``load`` compiles text chunks only (mode ``"t"`` whatever the caller asks), with the sandbox
  as default environment;
* ``setmetatable`` refuses ``__gc`` metamethods: finalizers run with hooks disabled, so the
  time limit could not stop them;
* ``print`` writes to stderr (stdout belongs to the CLI's JSON output);
* ``variables`` is a read-only view of a deep copy of the workflow's variables: assignment,
  ``rawset`` and the ``table`` functions that write raise "'variables' is read-only";
  indexing, ``pairs``, ``ipairs``, ``next``, ``#``, ``rawget`` and ``rawlen`` read the copy
  (each table is an empty proxy: ``rawset``, ``rawget``, ``rawlen`` and ``next`` are wrapped
  to see through it), and returning (part of) it returns the copy's data;
* time limit: Lua code on the VM's main thread runs with no hook at all (any hook makes Lua 5.4
  trace every instruction, about 2x slower). A watchdog thread (one per process) calls
  ``lua_sethook`` — the one Lua API call meant to be made asynchronously, which lupa's module
  exports — at the deadline to turn on a count hook that fires at the next instruction; the hook
  raises a sentinel error from inside Lua. From then on the hook fires on every instruction: a
  ``pcall`` may catch the sentinel, but the next instruction after it raises again, so the
  timeout always reaches the top, and ``run_node`` reports a timeout, with the snippet line the
  hook last caught, whenever the deadline fired. Hooks are per Lua thread:
  ``coroutine.create``/``wrap`` are wrapped so that on its first resume under a time limit a
  coroutine registers with the watchdog (which then hooks it too at the deadline; it is
  registered again at each later call while it lives, and kept alive until the next call starts
  so the watchdog never touches a freed thread). Past ``TRACK_MAX`` live coroutines, or first
  resumed in a call without a limit, a coroutine gets a count hook instead, comparing a wall
  clock with the deadline every 10,000 instructions (about 2x slower). Where lupa does not
  export the C API (or ``TEA_LSP_LUA_COUNT_HOOK`` is set) the main thread uses that count hook
  as well. ``xpcall`` is wrapped too: Lua runs a message handler before unwinding, and for an
  error raised by the hook it runs it with hooks off, so a looping handler would never be
  stopped; once the deadline has passed the user's handler is not called at all (the timeout
  passes through unchanged and is raised again right after). A single long C call (a huge
  ``string.rep``, a pathological pattern in ``string.find``) cannot be interrupted by any hook:
  the runner enforces the limit from outside by killing the worker process at timeout + grace;
* memory limit: lupa's ``max_memory`` allocator cap → :class:`LuaMemoryError`. It counts
  everything in the VM (globals, the state copy, the result) and is armed only while Lua code
  runs inside a protected call: lupa aborts the process if a push from Python hits the cap.

Values: Python ``dict``/``list``/``str``/``int``/``float``/``bool``/``None`` go in as fresh Lua
tables and values (tuples as lists, ``None`` as ``nil``, other objects as their ``str``). Lua
tables come back as ``list`` when their keys are exactly ``1..n`` (n ≥ 1), otherwise as ``dict``
— the empty table is ``{}`` — with non-string keys written as strings (``1`` → ``"1"``,
``true`` → ``"true"``); a table with two keys that would become the same string (``1`` and
``"1"``) is a node error naming both (TEA's engines keep one of them, whichever comes last).
Strings that are not valid UTF-8 get U+FFFD for the bad bytes. NaN and infinities pass
through. Functions, coroutines and userdata cannot be returned; cycles and nesting deeper than
200 levels are refused.
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import lupa.lua54 as _lupa

__all__ = [
    "HOOK_COUNT",
    "MAX_DEPTH",
    "REMOVED_FIELDS",
    "REMOVED_GLOBALS",
    "LuaError",
    "LuaMemoryError",
    "LuaRuntimeError",
    "LuaTimeout",
    "LuaVM",
    "parse_memory",
]

REMOVED_GLOBALS: tuple[str, ...] = (
    "io",
    "os",
    "debug",
    "package",
    "require",
    "dofile",
    "loadfile",
    "collectgarbage",
    "python",
)
"""Globals of a stock Lua/lupa runtime that the sandbox removes."""

REMOVED_FIELDS: dict[str, tuple[str, ...]] = {"string": ("dump",)}
"""Library fields the sandbox removes."""

HOOK_COUNT = 10_000
"""VM instructions between two checks of the time limit."""

MAX_DEPTH = 200
"""Deepest table nesting accepted in values going out of Lua."""


# --------------------------------------------------------------------------- errors


class LuaError(Exception):
    """A Lua failure. ``line`` is 1-based in the user's snippet (``None`` when unknown)."""

    error_type: str = "LuaError"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across worker processes
        return (type(self), (self.message, self.line))

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


class LuaRuntimeError(LuaError):
    """An error raised by the code (``error()``, a bad operation, a compile error)."""

    error_type = "LuaError"


class LuaTimeout(LuaError):
    """The code ran past its time limit."""

    error_type = "TimeoutError"


class LuaMemoryError(LuaError):
    """The VM ran out of its memory allowance."""

    error_type = "MemoryError"


# --------------------------------------------------------------------------- sizes

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.I)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_memory(value: str | int) -> int:
    """Bytes for ``"64MB"``, ``"512KiB"``, ``"1GB"``, ``"2048"`` or an int (binary units)."""
    if isinstance(value, bool):
        raise ValueError(f"invalid memory size '{value}'; expected a size like '64MB'")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"invalid memory size '{value}'; expected a positive size")
        return value
    m = _SIZE.match(str(value))
    if m is None:
        raise ValueError(f"invalid memory size '{value}'; expected a size like '64MB'")
    size = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if size <= 0:
        raise ValueError(f"invalid memory size '{value}'; expected a positive size")
    return size


# --------------------------------------------------------------------------- the VM

_SETUP = r"""
local clock_py, vars, HOOK_COUNT, MAX_DEPTH, arm, disarm, async, register, TRACK_MAX = ...
local G = _G
local sethook, getinfo = debug.sethook, debug.getinfo
local os_clock = os.clock
local co_create, co_wrap = coroutine.create, coroutine.wrap
local co_running, co_status = coroutine.running, coroutine.status
local raw_load, xpcall, pcall, error = load, xpcall, pcall, error
local type, select, next = type, select, next
local rawget, rawset, rawlen, tostring, ipairs = rawget, rawset, rawlen, tostring, ipairs
local utf8_len, string_sub, table_concat = utf8.len, string.sub, table.concat
local math_type = math.type
local stderr = io.stderr
local raw_setmetatable = setmetatable

-- ---------------------------------------------------------------- time limit
local CHECK_EVERY = 0.002  -- CPU seconds between two wall-clock reads
local deadline, next_check, timed_out, handling = nil, 0, false, false
local TIMEOUT = raw_setmetatable({}, {
  __tostring = function() return "lua code exceeded its time limit" end,
  __metatable = false,
})

local invoke, handler  -- defined below; the hook never interrupts their bookkeeping
local cur_source, err_line, timeout_line = nil, nil, nil

-- The line of the user's snippet running at ``level`` or below in this Lua thread.
local function user_line(level)
  while true do
    local info = getinfo(level, "Sl")
    if info == nil then return nil end
    if info.source == cur_source then
      if info.currentline and info.currentline > 0 then return info.currentline end
      return nil
    end
    level = level + 1
  end
end

local function hook()
  if deadline == nil or handling then return end
  if not timed_out then
    local c = os_clock()
    if c < next_check then return end
    next_check = c + CHECK_EVERY
    if clock_py() < deadline then return end
    timed_out = true
  end
  local running = getinfo(2, "f").func
  if running == invoke or running == handler then return end
  -- Where the deadline last caught the code (in a coroutine too, which the error leaves).
  timeout_line = user_line(3) or timeout_line
  -- From now on every instruction of this coroutine raises again: a pcall may catch the
  -- error, but the instruction right after it fails, so the timeout always reaches the top.
  sethook(hook, "", 1)
  error(TIMEOUT, 0)
end

-- A coroutine is a Lua thread of its own. The watchdog hooks up to TRACK_MAX of them as well:
-- each is registered with it (``register``) on its first resume during a call with a time
-- limit, and at the start of every later call while it lives (``tracked`` is weak). A
-- registered coroutine stays referenced from ``pinned`` until the next call starts — after
-- Python has disarmed the watchdog for this one — so the watchdog never touches a freed
-- thread. Any other coroutine keeps a count hook checked every HOOK_COUNT instructions.
local tracked = raw_setmetatable({}, { __mode = "k" })
local pinned, npinned = {}, 0

local function track(co)
  npinned = npinned + 1
  pinned[npinned] = co
  tracked[co] = true
  sethook(co, hook, "", 0)  -- the hook function, no mask: the watchdog turns it on
  if register(tostring(co)) then sethook(co, hook, "", 1) end  -- already past the deadline
end

local function hooked(f)
  return function(...)
    if async and deadline ~= nil and npinned < TRACK_MAX then
      track(co_running())
    else
      sethook(hook, "", timed_out and 1 or HOOK_COUNT)
    end
    return f(...)
  end
end

do
  local create, wrap = co_create, co_wrap
  coroutine.create = function(f)
    if type(f) ~= "function" then
      error("bad argument #1 to 'create' (function expected)", 2)
    end
    local co = create(hooked(f))
    return co
  end
  coroutine.wrap = function(f)
    if type(f) ~= "function" then
      error("bad argument #1 to 'wrap' (function expected)", 2)
    end
    local w = wrap(hooked(f))
    return w
  end
end

-- Lua runs an xpcall message handler before unwinding, and when the error comes from the hook
-- the handler runs inside the hook, where hooks are off: a handler that loops would never be
-- stopped. So once the deadline has passed a user's handler is never called: the error goes
-- through unchanged, and the hook (now firing on every instruction) raises it again at the
-- first instruction after the xpcall. A handler called for an ordinary error runs with hooks
-- on; if it times out, Lua calls the handler again for the timeout, which passes it through.
do
  local raw_xpcall = xpcall
  G.xpcall = function(f, msgh, ...)
    if type(msgh) ~= "function" then
      error("bad argument #2 to 'xpcall' (function expected, got " .. type(msgh) .. ")", 2)
    end
    return raw_xpcall(f, function(e)
      if timed_out then return e end
      return msgh(e)
    end, ...)
  end
end

-- ---------------------------------------------------------------- removals
for _, name in ipairs({"io", "os", "debug", "package", "require", "dofile", "loadfile",
                       "collectgarbage", "python"}) do
  G[name] = nil
end
string.dump = nil

do
  local load = raw_load
  G.load = function(chunk, chunkname, mode, ...)
    if select("#", ...) > 0 then
      local f, err = load(chunk, chunkname, "t", (...))
      return f, err
    end
    local f, err = load(chunk, chunkname, "t", G)
    return f, err
  end
end

do
  local setmetatable = raw_setmetatable
  G.setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("'__gc' metamethods are not available in the sandbox", 2)
    end
    local r = setmetatable(t, mt)
    return r
  end
end

G.print = function(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  stderr:write(table_concat(parts, "\t"), "\n")
end

-- ---------------------------------------------------------------- variables (read-only)
-- Each table of the copy is seen through an empty proxy. ``rawset`` would store into the
-- proxy (and Lua would then disagree with templates), so ``rawset`` refuses proxies, and
-- ``rawget``/``rawlen``/``next`` read the table behind them.
local proxy_of = {}  -- proxy -> the table it shows
local function readonly(t)
  local proxies = {}
  local function wrap(x)
    if type(x) ~= "table" then return x end
    local p = proxies[x]
    if p then return p end
    p = {}
    proxies[x] = p
    proxy_of[p] = x
    raw_setmetatable(p, {
      __index = function(_, k) return wrap(x[k]) end,
      __newindex = function() error("'variables' is read-only", 2) end,
      __len = function() return #x end,
      __pairs = function()
        return function(_, k)
          local nk, nv = next(x, k)
          return nk, wrap(nv)
        end, p, nil
      end,
      __metatable = false,
    })
    return p
  end
  return wrap(t), wrap
end
local wrap_value
G.variables, wrap_value = readonly(vars)

do
  local raw_rawset, raw_rawget, raw_rawlen, raw_next = rawset, rawget, rawlen, next
  local function want(name, n, v, string_too)
    local t = type(v)
    if t == "table" or (string_too and t == "string") then return end
    local expected = string_too and "table or string" or "table"
    error("bad argument #1 to '" .. name .. "' (" .. expected .. " expected, got "
          .. (n == 0 and "no value" or t) .. ")", 3)
  end
  G.rawset = function(...)
    local t, k, v = ...
    want("rawset", select("#", ...), t)
    if proxy_of[t] ~= nil then error("'variables' is read-only", 2) end
    local r = raw_rawset(t, k, v)
    return r
  end
  G.rawget = function(...)
    local t, k = ...
    want("rawget", select("#", ...), t)
    local x = proxy_of[t]
    if x ~= nil then return wrap_value(raw_rawget(x, k)) end
    local v = raw_rawget(t, k)
    return v
  end
  G.rawlen = function(...)
    local t = ...
    want("rawlen", select("#", ...), t, true)
    local n = raw_rawlen(proxy_of[t] or t)
    return n
  end
  local function next_slow(n, t, k)
    want("next", n, t)
    local nk, v = raw_next(proxy_of[t], k)
    return nk, wrap_value(v)
  end
  -- ``for k, v in next, t`` calls this at every step: plain tables go straight through.
  G.next = function(...)
    local t, k = ...
    if proxy_of[t] == nil and type(t) == "table" then return raw_next(t, k) end
    return next_slow(select("#", ...), t, k)
  end
end

-- ---------------------------------------------------------------- values out
local REPLACEMENT = "\u{FFFD}"
local function fix_string(s)
  if utf8_len(s) then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local ok, bad = utf8_len(s, i)
    if ok then
      out[#out + 1] = string_sub(s, i)
      break
    end
    out[#out + 1] = string_sub(s, i, bad - 1)
    out[#out + 1] = REPLACEMENT
    i = bad + 1
  end
  return table_concat(out)
end

local function where(path)
  if path == "" then return "" end
  return " (at '" .. path .. "')"
end

local function copy(v, path, onpath, depth)
  local t = type(v)
  if t == "string" then return fix_string(v) end
  if t == "number" or t == "boolean" or t == "nil" then return v end
  if t ~= "table" then
    error("cannot return a " .. t .. " from node" .. where(path), 0)
  end
  v = proxy_of[v] or v  -- a part of 'variables' returned as is
  if onpath[v] then error("cannot return a table that contains itself" .. where(path), 0) end
  if depth >= MAX_DEPTH then
    error("cannot return tables nested deeper than " .. MAX_DEPTH .. " levels" .. where(path), 0)
  end
  onpath[v] = true
  local out = {}
  for k, x in next, v do
    local tk = type(k)
    local key
    if tk == "string" then key = fix_string(k)
    elseif tk == "number" or tk == "boolean" then key = k
    else error("cannot return a table with a " .. tk .. " key" .. where(path), 0) end
    local sub = tostring(key)
    out[key] = copy(x, path == "" and sub or (path .. "." .. sub), onpath, depth + 1)
  end
  onpath[v] = nil
  return out
end

local function export(v)
  return copy(v, "", {}, 0)
end

-- ---------------------------------------------------------------- calls
function handler(e)
  handling = true
  err_line = user_line(3)
  handling = false
  return e
end

function invoke(fn, arg, source, dl)
  -- ``handling``: the watchdog may fire before the user's code starts; the hook must not
  -- raise in this bookkeeping (outside the xpcall below), only at the code's first instruction.
  cur_source, err_line, timeout_line, timed_out, handling = source, nil, nil, false, true
  deadline, next_check = dl, 0
  pinned, npinned = {}, 0  -- the previous call's watchdog is disarmed: release its threads
  if async and dl then
    for co in next, tracked do
      if co_status(co) == "dead" then
        tracked[co] = nil
      elseif npinned < TRACK_MAX then
        track(co)
      else  -- no room left: back to a count hook for good
        tracked[co] = nil
        sethook(co, hook, "", HOOK_COUNT)
      end
    end
  end
  -- Any hook makes Lua 5.4 trace every instruction (about 2x slower). With the watchdog
  -- (``async``) the main thread runs without one: the watchdog turns the count hook on from
  -- its own thread at the deadline (the hook function stays registered with an empty mask).
  -- Without it, a count hook checks the clock every HOOK_COUNT instructions.
  if dl and not async then sethook(hook, "", HOOK_COUNT) elseif not async then sethook() end
  arm()
  handling = false
  local ok, res = xpcall(fn, handler, arg)
  local status, payload
  if ok then
    local ok2, out = pcall(export, res)
    if ok2 then status, payload = "ok", out else status, payload = "export", out end
  else
    status, payload = "error", res
  end
  deadline = nil
  handling = false
  if async then sethook(hook, "", 0) else sethook() end
  disarm()
  if timed_out and timeout_line then err_line = timeout_line end
  return timed_out, err_line, status, payload
end

local function compile(code, source, prefix)
  arm()
  local f, err = raw_load(prefix .. code, source, "t", G)
  disarm()
  return f, err
end

local function global_names()
  local out = {}
  for k in next, G do
    if type(k) == "string" then out[#out + 1] = k end
  end
  return out
end

local function is_timeout(v) return v == TIMEOUT end

-- The main thread's address (lua_State *) for the watchdog; registers the hook function with
-- an empty mask, and turns the count hook on once so Python can read the C hook's address.
local function main_thread()
  sethook(hook, "", HOOK_COUNT)
  return tostring(coroutine.running())
end

return {
  invoke = invoke,
  compile = compile,
  global_names = global_names,
  is_timeout = is_timeout,
  main_thread = main_thread,
}
"""

# --------------------------------------------------------------------------- the watchdog

_LUA_MASKCOUNT = 1 << 3


def _load_lua_api() -> Any:
    """lupa's own Lua 5.4 C API (``lua_sethook``/``lua_gethook``), or ``None`` if not exported."""
    try:
        lib = ctypes.CDLL(_lupa.__file__)
        sethook, gethook = lib.lua_sethook, lib.lua_gethook
    except (OSError, AttributeError, TypeError):  # pragma: no cover - platform dependent
        return None
    sethook.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    sethook.restype = None
    gethook.argtypes = [ctypes.c_void_p]
    gethook.restype = ctypes.c_void_p
    return lib


_LUA_API: Any = None if os.environ.get("TEA_LSP_LUA_COUNT_HOOK") else _load_lua_api()


class _Alarm:
    __slots__ = ("active", "cond", "deadline", "hookf", "states")

    def __init__(
        self,
        deadline: float,
        state: int,
        hookf: int,
        cond: threading.Condition,
        active: dict[int, _Alarm],
    ) -> None:
        self.deadline = deadline
        self.states = [state]  # the main thread, then the coroutines registered during the call
        self.hookf = hookf
        self.cond = cond  # the watchdog thread serving it
        self.active = active


class _Watchdog:
    """One daemon thread per process that turns a Lua state's count hook on at its deadline.

    ``lua_sethook`` is the one Lua API call meant to be made asynchronously (Lua's own
    interpreter calls it from its SIGINT handler): it only stores the hook and sets the
    "trap" flag of the running frames, which the VM checks at every backward jump and call. So
    Lua code runs without any hook until its deadline, and at the next instruction after it the
    hook raises the timeout from inside the Lua thread, with the line that was running.
    """

    def __init__(self) -> None:
        self._pid = -1
        self._start = threading.Lock()
        self._cond = threading.Condition()
        self._active: dict[int, _Alarm] = {}

    def forked(self) -> None:
        """In a forked child: neither the thread nor the locks came along."""
        self._pid = -1
        self._start = threading.Lock()

    def _ensure(self) -> None:
        if self._pid == os.getpid():
            return
        with self._start:
            if self._pid == os.getpid():
                return
            cond: threading.Condition = threading.Condition()
            active: dict[int, _Alarm] = {}
            threading.Thread(
                target=self._run, args=(cond, active), name="tea-lsp-lua-watchdog", daemon=True
            ).start()
            self._cond, self._active = cond, active
            self._pid = os.getpid()

    def arm(self, deadline: float, state: int, hookf: int) -> _Alarm:
        self._ensure()
        cond, active = self._cond, self._active
        alarm = _Alarm(deadline, state, hookf, cond, active)
        with cond:
            active[id(alarm)] = alarm
            cond.notify()
        return alarm

    @staticmethod
    def add(alarm: _Alarm, state: int) -> bool:
        """Hook ``state`` too at the deadline; ``True``: the deadline has already passed."""
        with alarm.cond:
            if id(alarm) not in alarm.active:
                return True
            alarm.states.append(state)
            return False

    @staticmethod
    def disarm(alarm: _Alarm) -> None:
        """After this returns the watchdog never touches ``alarm``'s state again."""
        with alarm.cond:
            alarm.active.pop(id(alarm), None)

    @staticmethod
    def _run(cond: threading.Condition, active: dict[int, _Alarm]) -> None:
        with cond:
            while True:
                now = time.monotonic()
                for key, alarm in list(active.items()):
                    if alarm.deadline <= now:
                        del active[key]
                        for state in alarm.states:
                            _LUA_API.lua_sethook(state, alarm.hookf, _LUA_MASKCOUNT, 1)
                if active:
                    cond.wait(min(a.deadline for a in active.values()) - now)
                else:
                    cond.wait()


_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WATCHDOG.forked)

_STATE_PREFIX = "local state = ...; "
_MEMORY_MESSAGE = "not enough memory"


TRACK_MAX = 64
"""Coroutines per VM the watchdog hooks at the deadline; others keep a count hook."""


class _Tracker:
    """Registers a VM's coroutines with the watchdog's alarm of the running call."""

    __slots__ = ("alarm",)

    def __init__(self) -> None:
        self.alarm: _Alarm | None = None

    def register(self, text: str) -> bool:
        alarm = self.alarm
        if alarm is None:  # pragma: no cover - Lua registers only during a call with an alarm
            return True
        return _WATCHDOG.add(alarm, _address(text))


def _address(text: str) -> int:
    """The address in ``tostring`` of a Lua thread (``"thread: 0x55d0c0ffee00"``)."""
    return int(text.rsplit(" ", 1)[-1], 16)


class _MemoryGate:
    """Arms the VM's memory cap only while Lua code runs inside a protected call.

    lupa aborts the whole process when an *unprotected* push (a string argument, a table
    built by ``table_from``) hits the cap, so the cap is off while Python hands data over and
    on while Lua code runs. It holds the runtime only until the VM is closed or dropped.
    """

    __slots__ = ("limit", "rt")

    def __init__(self, rt: Any, limit: int | None) -> None:
        self.rt = rt
        self.limit = limit

    def arm(self) -> None:
        if self.rt is not None and self.limit:
            self.rt.set_max_memory(self.limit)

    def disarm(self) -> None:
        if self.rt is not None and self.limit:
            self.rt.set_max_memory(0)

    def clear(self) -> None:
        self.disarm()
        self.rt = None


def _deny_attributes(obj: object, name: object, is_setting: bool) -> object:
    raise AttributeError("attribute access is not available in the sandbox")


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-like copy of ``value`` that lupa turns into plain Lua data."""
    if depth > MAX_DEPTH:
        raise ValueError(f"state is nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        if _lupa.LUA_MININTEGER <= value <= _lupa.LUA_MAXINTEGER:
            return value
        return float(value)
    if isinstance(value, Mapping):
        return {_key(k): _plain(v, depth + 1) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    return str(value)


def _key(k: Any) -> Any:
    if isinstance(k, str | bool):
        return k
    if isinstance(k, int) and _lupa.LUA_MININTEGER <= k <= _lupa.LUA_MAXINTEGER:
        return k
    if isinstance(k, float):
        return k
    return str(k)


def _key_text(k: Any) -> str:
    if isinstance(k, bool):
        return "true" if k else "false"
    if isinstance(k, float) and k.is_integer():
        return str(int(k))
    return str(k)


class _KeyClash(Exception):
    pass


def _lua_key(k: Any) -> str:
    """A key as Lua code would write it: ``1``, ``true``, ``"1"``."""
    if isinstance(k, str):
        return '"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _key_text(k)


def _from_lua(value: Any, path: str = "") -> Any:
    """Python data for an exported (plain, acyclic, UTF-8) Lua value.

    Keys become strings; two keys that would become the same string (``1`` and ``"1"``,
    ``true`` and ``"true"``) are refused (:class:`_KeyClash`) rather than one silently winning.
    """
    if _lupa.lua_type(value) != "table":
        return value
    items = list(value.items())
    if not items:
        return {}
    if all(type(k) is int for k, _ in items):
        keys = sorted(k for k, _ in items)
        if keys[0] == 1 and keys[-1] == len(keys):
            by_key = dict(items)
            return [_from_lua(by_key[k], _sub(path, str(k))) for k in keys]
    # Lua's table order depends on a per-VM hash seed: sort keys so results are reproducible.
    texts: dict[str, Any] = {}
    for k, _ in items:
        text = _key_text(k)
        other = texts.setdefault(text, k)
        if type(other) is not type(k) or other != k:
            a, b = sorted((_lua_key(other), _lua_key(k)), key=lambda s: (s.startswith('"'), s))
            where = f" (at '{path}')" if path else ""
            raise _KeyClash(
                f"cannot return a table with both the keys {a} and {b}: they would be the same "
                f"key '{text}'{where}"
            )
    pairs = sorted(((_key_text(k), v) for k, v in items), key=lambda kv: kv[0])
    return {k: _from_lua(v, _sub(path, k)) for k, v in pairs}


def _sub(path: str, key: str) -> str:
    return key if path == "" else f"{path}.{key}"


def _chunk_source(chunkname: str) -> str:
    name = re.sub(r"[\x00-\x1f]", "?", chunkname)[:48] or "node"
    return "=" + name


class LuaVM:
    """One sandboxed Lua 5.4 VM. Globals persist across :meth:`run_node` calls.

    ``max_memory``: bytes (``None``: no cap). ``timeout``: default seconds per
    :meth:`run_node`/:meth:`eval` call (``None``: no limit). ``variables``: exposed read-only
    as the ``variables`` global.
    """

    def __init__(
        self,
        *,
        max_memory: int | None = 64 * 2**20,
        timeout: float | None = 30.0,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        self.max_memory = max_memory
        self.timeout = timeout
        self._compiled: dict[tuple[str, str], Any] = {}
        self._rt: Any = _lupa.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_filter=_deny_attributes,
            max_memory=max_memory if max_memory else None,
        )
        self._gate = _MemoryGate(self._rt, max_memory)
        self._tracker = _Tracker()
        self._gate.disarm()
        vars_table = self._rt.table_from(_plain(dict(variables or {})), recursive=True)
        self._ctl: Any = self._rt.execute(
            _SETUP,
            time.monotonic,
            vars_table,
            HOOK_COUNT,
            MAX_DEPTH,
            self._gate.arm,
            self._gate.disarm,
            _LUA_API is not None,
            self._tracker.register,
            TRACK_MAX,
        )
        self._invoke = self._ctl["invoke"]
        self._compile_fn = self._ctl["compile"]
        self._state = 0
        self._hookf = 0
        if _LUA_API is not None:
            self._state = _address(str(self._ctl["main_thread"]()))
            self._hookf = int(_LUA_API.lua_gethook(self._state) or 0)
            _LUA_API.lua_sethook(self._state, None, 0, 0)  # the function stays registered
            if not self._hookf:  # pragma: no cover - defensive
                raise RuntimeError("could not read the Lua hook function")

    # -- lifecycle
    def close(self) -> None:
        """Release the VM. Further calls raise ``RuntimeError``."""
        gate = getattr(self, "_gate", None)
        if gate is not None:
            gate.clear()  # breaks the runtime -> Lua -> gate -> runtime cycle
        self._compiled.clear()
        self._ctl = None
        self._invoke = None
        self._compile_fn = None
        self._rt = None

    def __del__(self) -> None:
        gate = getattr(self, "_gate", None)
        if gate is not None:
            gate.rt = None

    def __enter__(self) -> LuaVM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._rt is None

    def memory_used(self) -> int:
        """Bytes currently allocated by this VM."""
        self._live()
        return int(self._rt.get_memory_used())

    def global_names(self) -> list[str]:
        """Names of the VM's current globals."""
        self._live()
        return sorted(self._ctl["global_names"]().values())

    def _live(self) -> None:
        if self._rt is None:
            raise RuntimeError("the Lua VM is closed")

    # -- running
    def run_node(
        self,
        code: str,
        state: Mapping[str, Any],
        *,
        chunkname: str = "node",
        timeout: float | None = None,
    ) -> dict[str, Any] | None:
        """Run ``code`` as the body of ``function(state) ... end``; return its updates.

        A returned table gives a dict of updates (an array-like table gives ``{"1": ..}``),
        ``nil`` gives ``None``, any other value ``v`` gives ``{"result": v}``. Raises
        :class:`LuaRuntimeError`, :class:`LuaTimeout` or :class:`LuaMemoryError`; their
        ``line`` is the user's own line in ``code``. ``timeout`` overrides the VM's default
        for this call.
        """
        self._live()
        source = _chunk_source(chunkname)
        fn = self._compile(code, source, _STATE_PREFIX)
        try:
            arg = self._rt.table_from(_plain(dict(state)), recursive=True)
        except _lupa.LuaMemoryError as exc:
            raise LuaMemoryError(self._memory_message()) from exc
        value = self._call(fn, arg, source, timeout)
        if value is None:
            return None
        if isinstance(value, dict):
            return value
        if isinstance(value, list):
            return {str(i + 1): v for i, v in enumerate(value)}
        return {"result": value}

    def eval(self, code: str) -> Any:
        """Evaluate an expression (or run a chunk) and return its first value as Python data."""
        self._live()
        source = "=eval"
        try:
            fn = self._compile(code, source, "return ")
        except LuaRuntimeError:
            fn = self._compile(code, source, "")
        return self._call(fn, None, source, None)

    def _compile(self, code: str, source: str, prefix: str) -> Any:
        key = (prefix + code, source)
        fn = self._compiled.get(key)
        if fn is not None:
            return fn
        try:
            result = self._compile_fn(code, source, prefix)
        except _lupa.LuaMemoryError as exc:
            raise LuaMemoryError(self._memory_message()) from exc
        finally:
            self._gate.disarm()
        fn, err = result if isinstance(result, tuple) else (result, None)
        if fn is None:
            text = str(err)
            if text.startswith(_MEMORY_MESSAGE):
                raise LuaMemoryError(self._memory_message())
            message, line = _split_position(text, source)
            raise LuaRuntimeError(f"syntax error: {message}", line)
        if len(self._compiled) > 256:
            self._compiled.clear()
        self._compiled[key] = fn
        return fn

    def _call(self, fn: Any, arg: Any, source: str, timeout: float | None) -> Any:
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit if limit is not None else None
        alarm = None
        if deadline is not None and _LUA_API is not None:
            alarm = _WATCHDOG.arm(deadline, self._state, self._hookf)
            self._tracker.alarm = alarm
        try:
            timed_out, err_line, status, payload = self._invoke(fn, arg, source, deadline)
        except _lupa.LuaMemoryError as exc:  # at the cap while leaving the protected call
            raise LuaMemoryError(self._memory_message()) from exc
        except _lupa.LuaError as exc:  # pragma: no cover - errors are caught inside Lua
            raise LuaRuntimeError(str(exc).split("\n", 1)[0]) from exc
        finally:
            if alarm is not None:
                _WATCHDOG.disarm(alarm)
                self._tracker.alarm = None
                # The watchdog may have fired after the call's end: no hook between calls.
                _LUA_API.lua_sethook(self._state, None, 0, 0)
            self._gate.disarm()
        if timed_out:
            raise LuaTimeout(f"lua code exceeded the time limit of {limit:g} s", err_line)
        if status == "ok":
            try:
                return _from_lua(payload)
            except _KeyClash as exc:
                raise LuaRuntimeError(str(exc), None) from None
        if isinstance(payload, str) and payload == _MEMORY_MESSAGE:
            raise LuaMemoryError(self._memory_message(), err_line)
        if status == "export":
            raise LuaRuntimeError(str(payload), None)
        message, line = _error_message(payload, source, self._ctl)
        raise LuaRuntimeError(message, line if line is not None else err_line)

    def _memory_message(self) -> str:
        if self.max_memory:
            return f"lua code exceeded the memory limit of {_human(self.max_memory)}"
        return "lua code ran out of memory"


def _human(n: int) -> str:
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def _split_position(text: str, source: str) -> tuple[str, int | None]:
    """Strip ``<chunk>:<line>: `` of our own chunk from a Lua message."""
    first = text.split("\nstack traceback:", 1)[0]
    prefix = source[1:] if source.startswith("=") else source
    pattern = re.compile(re.escape(prefix) + r":(\d+): (.*)\Z", re.S)
    line: int | None = None
    # Errors crossing coroutine.wrap get the position prepended once more: keep the innermost.
    while (m := pattern.match(first)) is not None:
        line, first = int(m.group(1)), m.group(2)
    return first, line


def _error_message(payload: Any, source: str, ctl: Any) -> tuple[str, int | None]:
    if isinstance(payload, str):
        return _split_position(payload, source)
    if isinstance(payload, bool):
        return ("true" if payload else "false"), None
    if isinstance(payload, int | float):
        return str(payload), None
    if payload is None:
        return "nil", None
    kind = _lupa.lua_type(payload) or type(payload).__name__
    return f"(error object is a {kind} value)", None
