"""Small shared helpers."""

from __future__ import annotations

from collections.abc import Iterable


def suggest(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The closest candidate to ``name``, or ``None`` when nothing is close."""
    pool = [c for c in candidates if c != name]
    if not pool:
        return None
    lowered = {c.lower(): c for c in pool}
    if name.lower() in lowered:
        return lowered[name.lower()]
    import difflib  # on first use: most runs suggest nothing

    match = difflib.get_close_matches(name, pool, n=1, cutoff=cutoff)
    return match[0] if match else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` or an empty string."""
    best = suggest(name, candidates)
    return f"; did you mean '{best}'?" if best else ""


def quote_list(items: Iterable[str]) -> str:
    return ", ".join(f"'{i}'" for i in items)


def show_value(value: object) -> str:
    """A value as written in a message: strings quoted, YAML spelling for scalars."""
    if isinstance(value, str):
        return f"'{value}'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "a list" if isinstance(value, list) else "a mapping"
