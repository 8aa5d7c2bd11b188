"""All checks, in the order they run. Each module has one ``check(ctx)`` function."""

from __future__ import annotations

from tea_lsp.checks.base import Check, CheckContext

ALL_CHECKS: list[tuple[str, Check]] = []

__all__ = ["ALL_CHECKS", "Check", "CheckContext"]
