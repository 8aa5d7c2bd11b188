"""What several commands share: the usage error and reading one workflow file."""

from __future__ import annotations

import sys
from pathlib import Path


class UsageError(Exception):
    """A command-line mistake: printed as ``tea-lsp: error: ...``, exit code 2."""


def read_workflow(raw: str) -> tuple[str, str]:
    """The text of a workflow file (``-``: stdin) and the path to report."""
    if raw == "-":
        return sys.stdin.read(), "<stdin>"
    path = Path(raw)
    if not path.exists():
        raise UsageError(f"{raw}: no such file")
    if path.is_dir():
        raise UsageError(f"{raw}: is a directory")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{raw}: cannot read: {(exc.strerror or str(exc)).lower()}") from None
    try:
        return data.decode("utf-8-sig"), raw
    except UnicodeDecodeError as exc:
        raise UsageError(f"{raw}: not UTF-8 text (byte offset {exc.start})") from None
