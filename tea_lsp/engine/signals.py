"""Termination signals for front-ends: SIGTERM and SIGHUP stop a run like Ctrl-C does.

``with stop_signals():`` (main thread only; elsewhere it does nothing) turns SIGTERM and SIGHUP
into :class:`Terminated`, a ``KeyboardInterrupt`` raised in the main thread, so the code that
handles Ctrl-C — cancel the run, let it write ``run_finished``, stop the pool — handles them
too, and the process then exits normally (its temporary folders removed by the interpreter's
exit handlers). Workers also die on their own when the runner's process dies (even by
SIGKILL): see ``executors``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STOP_SIGNALS: tuple[str, ...] = ("SIGTERM", "SIGHUP")


class Terminated(KeyboardInterrupt):
    """A termination signal arrived; ``signum`` says which (exit with ``128 + signum``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(exc: BaseException) -> int:
    """The conventional exit status after an interruption: 128 + the signal's number."""
    if isinstance(exc, Terminated):
        return 128 + exc.signum
    return 128 + signal.SIGINT


@contextmanager
def stop_signals() -> Iterator[None]:
    """Raise :class:`Terminated` in the main thread on SIGTERM or SIGHUP, inside the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(signum)

    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is not None:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def exit_on_stop_signals() -> None:
    """For a long-running front-end (the language server), from its main thread: SIGTERM and
    SIGHUP end the process normally (``SystemExit(128 + signal)``), so the exit handlers stop
    the process pool and the fork server and remove multiprocessing's temporary folder."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, handler)
