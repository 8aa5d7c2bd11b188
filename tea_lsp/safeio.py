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


def terminal_safe(text: str) -> str:
    """``text`` on one line, with every control character shown as an escape (``\\n``,
    ``\\x1b``): workflow text printed by the CLI can neither move the cursor, recolour the
    terminal nor start a new log line (a forged ``::error`` line in CI logs)."""
    return _UNSAFE.sub(_escape, text)
