"""Shared test helpers."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def pytest_configure() -> None:
    """``tea-lsp check`` run by the tests caches its results in a folder of the test session,
    not in the checkout (tests that are about analysing pass ``--no-cache``)."""
    import atexit
    import os
    import shutil
    import tempfile

    if "TEA_LSP_CACHE_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="tea-lsp-test-cache-")
        os.environ["TEA_LSP_CACHE_DIR"] = folder
        atexit.register(shutil.rmtree, folder, True)
