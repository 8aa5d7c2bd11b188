"""State helpers: JSON-like copies, the merge rule, and branch result records (§4)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tea_lsp.safeio import non_finite

State = dict[str, Any]

# error_type → runtime diagnostic code
ERROR_CODES: dict[str, str] = {
    "LuaError": "TEA601",
    "TimeoutError": "TEA602",
    "MemoryError": "TEA603",
    "WorkerCrash": "TEA604",
    "ActionError": "TEA605",
    "MaxSteps": "TEA606",
    "TemplateError": "TEA608",
    "PythonError": "TEA609",
    "StateError": "TEA610",
    "NoRoute": "TEA611",
}

RESULT_FIELDS = ("branch", "success", "state", "error", "error_type", "timeout", "timing_ms")


def json_clone(value: Any) -> Any:
    """A deep copy restricted to JSON types (tuples become lists, keys become strings).

    Non-finite floats and unknown objects become their string form, so a state always
    serializes as JSON and crosses process boundaries unchanged.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): json_clone(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_clone(v) for v in value]
    return str(value)


NON_FINITE = "JSON numbers cannot be NaN or infinite"


class NonFiniteValue(ValueError):
    """A NaN or infinity on its way into a state (JSON has neither); ``path`` names the key."""

    def __init__(self, key: str, path: str, number: float) -> None:
        self.key = key
        self.path = path
        self.number = number
        at = f" (at '{path}')" if path != key else ""
        super().__init__(
            f"state key '{key}' would hold {number}{at}; {NON_FINITE} (use a string or null)"
        )


def merge(state: State, updates: Mapping[str, Any] | None) -> None:
    """Shallow merge: each key of ``updates`` replaces the state's key.

    Raises :class:`NonFiniteValue` (and changes nothing) when a value holds NaN or infinity.
    """
    if updates:
        for key, value in updates.items():
            bad = non_finite(value, str(key))
            if bad is not None:
                raise NonFiniteValue(str(key), *bad)
        for key, value in updates.items():
            state[str(key)] = json_clone(value)


def branch_result(
    branch: str,
    *,
    success: bool,
    state: State | None = None,
    error: str | None = None,
    error_type: str | None = None,
    timeout: bool = False,
    timing_ms: float = 0.0,
) -> dict[str, Any]:
    """One entry of ``parallel_results``, with exactly the fields of WORKFLOW_FORMAT.md §4."""
    return {
        "branch": branch,
        "success": success,
        "state": state if success else None,
        "error": error,
        "error_type": error_type,
        "timeout": timeout,
        "timing_ms": round(timing_ms, 3),
    }
