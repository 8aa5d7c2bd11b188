"""Input and output at the edges: bounded reading of files, text made safe for terminals.

No tea-lsp imports: every layer may use it."""

from __future__ import annotations

import errno
import os
import re
import stat

# The most a workflow file may weigh; larger files are refused instead of read into memory.
MAX_FILE_BYTES = 64 * 1024 * 1024

_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


class NotRegularFile(OSError):
    """The path names a FIFO, a device, a socket or a directory: nothing is read from it."""


class FileTooLarge(OSError):
    """The file holds more bytes than the reader accepts."""


def _size_text(n: int) -> str:
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} megabytes"
    if n % 1024 == 0:
        return f"{n // 1024} kilobytes"
    return f"{n} bytes"


def read_bytes_limited(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (symlinks followed).

    Never blocks on a FIFO (it is opened non-blocking, then refused) and never reads more
    than ``max_bytes + 1`` bytes, whatever the file claims or grows to while being read.
    Raises :class:`NotRegularFile`, :class:`FileTooLarge` or another ``OSError``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise NotRegularFile(errno.EINVAL, f"Not a regular file ({kind})", str(path))
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise FileTooLarge(
                errno.EFBIG, f"Larger than {_size_text(max_bytes)}, the most accepted", str(path)
            )
        return b"".join(chunks)
    finally:
        os.close(fd)


# C0 controls but tab, DEL and C1 controls: ESC sequences, carriage returns, bells...
_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    if ch == "\n":
        return "\\n"
    if ch == "\r":
        return "\\r"
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def terminal_safe(text: str, same_width: bool = False) -> str:
    """``text`` on one line, with every control character shown as an escape (``\\n``,
    ``\\x1b``): workflow text printed by the CLI can neither move the cursor, recolour the
    terminal nor start a new log line (a forged ``::error`` line in CI logs).

    ``same_width``: each control character becomes U+FFFD instead, so that columns in the
    text stay where they were (a source line printed above its ``^~~~`` marks)."""
    if same_width:
        return _UNSAFE.sub("\ufffd", text)
    return _UNSAFE.sub(_escape, text)


# The deepest nesting accepted in JSON given on the command line (the state it becomes is
# copied, converted to Lua and rendered recursively).
MAX_JSON_DEPTH = 100


def json_depth(value: object, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of plain JSON data (a scalar: 0), counted without recursion; stops
    counting once past ``limit``."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        stack.extend((c, depth) for c in children)
    return deepest


def non_finite(value: object, path: str = "") -> tuple[str, float] | None:
    """The first NaN or infinity in plain data, with its path (``"x"``, ``"a[2].b"``):
    JSON has neither, so such a value cannot be stored in a state as a number."""
    stack: list[tuple[object, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                return where, item
        elif isinstance(item, dict):
            for k, v in reversed(list(item.items())):
                stack.append((v, f"{where}.{k}" if where else str(k)))
        elif isinstance(item, list | tuple):
            for i in range(len(item) - 1, -1, -1):
                stack.append((item[i], f"{where}[{i}]"))
    return None
