"""Small shared helpers."""

from __future__ import annotations

import threading
from collections.abc import Iterable


def suggest(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The closest candidate to ``name``, or ``None`` when nothing is close.

    A candidate spelled like ``name`` but for case wins (the last one); otherwise the best
    :func:`difflib.get_close_matches` match. Over many candidates the scores are kept per name
    (see :class:`_Scores`), so asking again with a grown list costs only the new candidates.
    """
    items = candidates if isinstance(candidates, list | tuple) else list(candidates)
    if len(items) > _MANY:
        return _suggest_many(name, items, cutoff)
    pool = [c for c in items if c != name]
    if not pool:
        return None
    lowered = {c.lower(): c for c in pool}
    if name.lower() in lowered:
        return lowered[name.lower()]
    import difflib  # on first use: most runs suggest nothing

    match = difflib.get_close_matches(name, pool, n=1, cutoff=cutoff)
    return match[0] if match else None


_MANY = 64  # from this many candidates on, scores are kept
_KEPT_MAX = 300_000  # candidates scored and kept, all names together (per thread)


class _Scores:
    """What is known of the candidates scored against one name (and cutoff)."""

    __slots__ = ("close", "lower", "matcher", "same_case", "seen")

    def __init__(self, name: str) -> None:
        import difflib

        self.seen: set[str] = set()
        self.close: dict[str, float] = {}  # candidate -> ratio, those at or above the cutoff
        self.same_case: set[str] = set()  # other spellings of the name but for case
        self.lower = name.lower()
        self.matcher = difflib.SequenceMatcher()
        self.matcher.set_seq2(name)  # as get_close_matches does

    def add(self, found: set[str], cutoff: float) -> None:
        s, close, lower = self.matcher, self.close, self.lower
        for x in found:
            if x.lower() == lower:
                self.same_case.add(x)
            s.set_seq1(x)
            if s.real_quick_ratio() >= cutoff and s.quick_ratio() >= cutoff:
                ratio = s.ratio()
                if ratio >= cutoff:
                    close[x] = ratio
        self.seen |= found


class _Kept(threading.local):
    def __init__(self) -> None:
        self.scores: dict[tuple[str, float], _Scores] = {}
        self.size = 0


_KEPT = _Kept()


def _suggest_many(name: str, items: list[str] | tuple[str, ...], cutoff: float) -> str | None:
    """:func:`suggest` over many candidates, with the same answer."""
    present = set(items)
    present.discard(name)
    if not present:
        return None
    kept = _KEPT
    scores = kept.scores.get((name, cutoff))
    if scores is None:
        if kept.size > _KEPT_MAX:
            kept.scores.clear()
            kept.size = 0
        scores = kept.scores[(name, cutoff)] = _Scores(name)
    new = present - scores.seen
    if new:
        kept.size += len(new)
        scores.add(new, cutoff)
    if scores.same_case:
        hits = scores.same_case & present
        if hits:  # the last one listed, as a dict keyed by the lowered names keeps
            if len(hits) == 1:
                return next(iter(hits))
            return next(c for c in reversed(items) if c in hits)
    close = scores.close
    if not close:
        return None
    best = max(((close[c], c) for c in close.keys() & present), default=None)
    return best[1] if best is not None else None


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
