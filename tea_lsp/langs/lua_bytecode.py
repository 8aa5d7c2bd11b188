"""Global accesses read from a compiled Lua 5.4 chunk (``string.dump`` output), like ``luac -l``.

The other way to list globals (see ``lua_scan``): exact by construction for lines — the compiler
resolved every name — but without columns. Used as a fallback when the tokenizer cannot handle a
snippet (extreme nesting) and as an oracle in the tests.

A global read is ``GETTABUP r _ENV "name"`` (or, for long names or functions with more than 255
constants, ``GETUPVAL r _ENV`` + ``GETTABLE``); a write is ``SETTABUP _ENV "name" v``. The
upvalue must be the chunk's own ``_ENV``: nested functions reach it through their upvalue chain,
and a ``local _ENV`` shadows it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_SIGNATURE = b"\x1bLua"
_LUAC_DATA = b"\x19\x93\r\n\x1a\n"

# Lua 5.4 opcodes used here (lopcodes.h).
OP_LOADK, OP_LOADKX = 3, 4
OP_GETUPVAL, OP_SETUPVAL = 9, 10
OP_GETTABUP, OP_GETTABLE, OP_GETI, OP_GETFIELD = 11, 12, 13, 14
OP_SETTABUP, OP_SETTABLE, OP_SETI, OP_SETFIELD = 15, 16, 17, 18
OP_SELF = 20
OP_EXTRAARG = 82
# Opcodes that do not write register A.
_NO_WRITE = frozenset(
    (10, 15, 16, 17, 18, 46, 47, 48, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 70, 71)
)
_NO_WRITE_TOO = frozenset((72, 78, 82))
_ABSLINEINFO = -0x80


class DumpError(ValueError):
    """The bytes are not a Lua 5.4 dump this reader understands."""


@dataclass(slots=True)
class Upvalue:
    instack: bool
    idx: int
    name: str | None = None


@dataclass(slots=True)
class Proto:
    linedefined: int
    code: list[int]
    constants: list[object]
    upvalues: list[Upvalue]
    protos: list[Proto]
    lines: list[int] = field(default_factory=list)
    locvars: list[tuple[int, int]] = field(default_factory=list)  # (startpc, endpc)
    parent: Proto | None = None


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise DumpError("truncated dump")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DumpError("truncated dump")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def size(self) -> int:
        x = 0
        while True:
            b = self.byte()
            x = (x << 7) | (b & 0x7F)
            if b & 0x80:
                return x

    def string(self) -> str | None:
        n = self.size()
        if n == 0:
            return None
        return self.take(n - 1).decode("utf-8", "replace")


def _function(r: _Reader, parent: Proto | None) -> Proto:
    r.string()  # source
    linedefined = r.size()
    r.size()  # lastlinedefined
    r.take(3)  # numparams, is_vararg, maxstacksize
    ncode = r.size()
    code = list(struct.unpack(f"<{ncode}I", r.take(4 * ncode)))
    constants: list[object] = []
    for _ in range(r.size()):
        t = r.byte()
        if t in (0, 1, 17):
            constants.append({0: None, 1: False, 17: True}[t])
        elif t == 19:
            constants.append(struct.unpack("<d", r.take(8))[0])
        elif t == 3:
            constants.append(struct.unpack("<q", r.take(8))[0])
        elif t in (4, 20):
            constants.append(r.string())
        else:
            raise DumpError(f"unknown constant tag {t}")
    upvalues = []
    for _ in range(r.size()):
        instack, idx, _kind = r.take(3)
        upvalues.append(Upvalue(bool(instack), idx))
    proto = Proto(linedefined, code, constants, upvalues, [], parent=parent)
    for _ in range(r.size()):
        proto.protos.append(_function(r, proto))
    deltas = struct.unpack(f"<{(n := r.size())}b", r.take(n))
    absinfo: dict[int, int] = {}
    for _ in range(r.size()):
        pc = r.size()
        absinfo[pc] = r.size()
    for _ in range(r.size()):  # local variables
        r.string()
        start = r.size()
        proto.locvars.append((start, r.size()))
    for k in range(r.size()):
        name = r.string()
        if k < len(upvalues):
            upvalues[k].name = name
    line = linedefined
    for pc, delta in enumerate(deltas):
        line = absinfo.get(pc, line) if delta == _ABSLINEINFO else line + delta
        proto.lines.append(line)
    return proto


def load_dump(data: bytes) -> Proto:
    """The main function of a dumped chunk (dumped without stripping debug info)."""
    r = _Reader(data)
    if r.take(4) != _SIGNATURE or r.byte() != 0x54 or r.byte() != 0:
        raise DumpError("not a Lua 5.4 dump")
    if r.take(6) != _LUAC_DATA or tuple(r.take(3)) != (4, 8, 8):
        raise DumpError("unsupported dump format")
    r.take(16)  # LUAC_INT, LUAC_NUM
    r.byte()  # number of upvalues of the main closure
    return _function(r, None)


def _is_env(proto: Proto, idx: int) -> bool:
    """Whether upvalue ``idx`` of ``proto`` is the chunk's own ``_ENV``."""
    while True:
        if idx >= len(proto.upvalues):
            return False
        uv = proto.upvalues[idx]
        if proto.parent is None:
            return uv.name == "_ENV"
        if uv.instack:  # a local of the enclosing function (a 'local _ENV')
            return False
        proto, idx = proto.parent, uv.idx


@dataclass(frozen=True, slots=True)
class DumpAccess:
    name: str
    line: int
    kind: str  # "get" | "set"
    field: str | None
    pc: int


def _const_str(proto: Proto, k: int) -> str | None:
    if 0 <= k < len(proto.constants):
        c = proto.constants[k]
        return c if isinstance(c, str) else None
    return None


def _scan_proto(proto: Proto, out: list[DumpAccess]) -> None:
    code = proto.code
    env_regs: set[int] = set()
    const_regs: dict[int, int] = {}
    for pc, ins in enumerate(code):
        op = ins & 0x7F
        a = (ins >> 7) & 0xFF
        b = (ins >> 16) & 0xFF
        c = (ins >> 24) & 0xFF
        line = proto.lines[pc] if pc < len(proto.lines) else 0
        if op == OP_GETTABUP and _is_env(proto, b):
            name = _const_str(proto, c)
            if name is not None:
                out.append(DumpAccess(name, line, "get", _field_after(proto, pc, a), pc))
        elif op == OP_SETTABUP and _is_env(proto, a):
            name = _const_str(proto, b)
            if name is not None:
                out.append(DumpAccess(name, line, "set", None, pc))
        elif op == OP_GETTABLE and b in env_regs and c in const_regs:
            name = _const_str(proto, const_regs[c])
            if name is not None:
                out.append(DumpAccess(name, line, "get", _field_after(proto, pc, a), pc))
        elif op == OP_SETTABLE and a in env_regs and b in const_regs:
            name = _const_str(proto, const_regs[b])
            if name is not None:
                out.append(DumpAccess(name, line, "set", None, pc))
        # Track registers holding _ENV or a constant (for the long-name forms above).
        if op in _NO_WRITE or op in _NO_WRITE_TOO:
            continue
        env_regs.discard(a)
        const_regs.pop(a, None)
        if op == OP_GETUPVAL and _is_env(proto, b):
            env_regs.add(a)
        elif op == OP_LOADK:
            const_regs[a] = ins >> 15
        elif op == OP_LOADKX and pc + 1 < len(code):
            const_regs[a] = code[pc + 1] >> 7
    for sub in proto.protos:
        _scan_proto(sub, out)


def _field_after(proto: Proto, pc: int, reg: int) -> str | None:
    """The field read from register ``reg`` by the next instruction (``state.count``)."""
    if pc + 1 >= len(proto.code):
        return None
    # Registers below the active locals hold locals: the global was just stored in one, and
    # the next read is of that local (`local a = a; ... a.f`), not of the global.
    if reg < sum(1 for start, end in proto.locvars if start <= pc + 1 < end):
        return None
    ins = proto.code[pc + 1]
    op = ins & 0x7F
    b = (ins >> 16) & 0xFF
    c = (ins >> 24) & 0xFF
    if op == OP_GETFIELD and b == reg:
        return _const_str(proto, c)
    if op == OP_SELF and b == reg and (ins >> 15) & 1:
        return _const_str(proto, c)
    if op == OP_LOADK and pc + 2 < len(proto.code):  # the key is constant number > 255
        after = proto.code[pc + 2]
        key_reg = (ins >> 7) & 0xFF
        reads = after & 0x7F == OP_GETTABLE and (after >> 16) & 0xFF == reg
        if reads and (after >> 24) & 0xFF == key_reg:
            return _const_str(proto, ins >> 15)
    return None


def dump_accesses(data: bytes) -> list[DumpAccess]:
    """Every global read and write in a dumped chunk, in (line, function, pc) order."""
    out: list[DumpAccess] = []
    _scan_proto(load_dump(data), out)
    out.sort(key=lambda a: a.line)
    return out
