"""Lay a DOT graph out with Graphviz's ``dot`` program (SVG, PNG): a real layout engine.

Graphviz is an optional system tool: :class:`GraphvizMissing` says which package to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess

FORMATS = ("svg", "png")
TIMEOUT_S = 60.0

INSTALL_HINT = (
    "Graphviz's 'dot' program is needed for SVG and PNG; install the 'graphviz' package "
    "(Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz), "
    "or use --format dot or --format mermaid"
)


class GraphvizMissing(Exception):
    def __init__(self) -> None:
        super().__init__(INSTALL_HINT)


class GraphvizFailed(Exception):
    pass


def dot_program() -> str | None:
    """The ``dot`` executable: ``$TEA_LSP_DOT`` when set, else the one on ``PATH``."""
    explicit = os.environ.get("TEA_LSP_DOT")
    if explicit:
        return explicit if os.path.isfile(explicit) and os.access(explicit, os.X_OK) else None
    return shutil.which("dot")


def have_graphviz() -> bool:
    return dot_program() is not None


def layout(dot_text: str, fmt: str) -> bytes:
    """Run ``dot -T<fmt>`` on ``dot_text``; the output bytes (SVG text is UTF-8)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown layout format '{fmt}'; expected one of {', '.join(FORMATS)}")
    program = dot_program()
    if program is None:
        raise GraphvizMissing()
    try:
        done = subprocess.run(
            [program, f"-T{fmt}"],
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GraphvizFailed(f"graphviz 'dot' took longer than {TIMEOUT_S:.0f} s") from None
    except OSError as exc:
        raise GraphvizFailed(f"cannot run graphviz 'dot' ({program}): {exc}") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise GraphvizFailed(f"graphviz 'dot' failed: {reason}")
    return done.stdout
