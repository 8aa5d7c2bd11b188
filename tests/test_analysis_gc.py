"""The collector pause of ``analyze``: objects of finished analyses go to the oldest
generation without a collection, and a full collection still frees their cycles in time."""

from __future__ import annotations

import gc

import pytest

from tea_lsp.analysis import _PROMOTE_LIMIT, analyze


def _workflow(n: int) -> str:
    # sub-nodes point to their node and snippets to theirs: every model is full of cycles
    parts = ["name: w\nnodes:\n"]
    parts += [
        f"  - name: n{i}\n    steps:\n      - {{name: a{i}, run: 'return {{}}'}}\n"
        f"      - {{name: b{i}, uses: json.parse, with: {{text: '1'}}}}\n"
        for i in range(n)
    ]
    return "".join(parts)


@pytest.mark.timeout(60)
def test_repeated_analyses_do_not_keep_their_garbage() -> None:
    text = _workflow(3000)
    gc.collect()
    assert gc.isenabled()
    full = gc.get_stats()[2]["collections"]
    before = len(gc.get_objects())
    result = analyze(text, "w.yaml")
    assert [d.code for d in result.diagnostics] == []
    del result
    kept_by_one = len(gc.get_objects()) - before  # only a collection frees it
    runs = 2 * _PROMOTE_LIMIT // kept_by_one
    for _ in range(runs):
        result = analyze(text, "w.yaml")
        del result
    assert gc.isenabled()
    assert gc.get_stats()[2]["collections"] > full
    kept = len(gc.get_objects()) - before
    assert kept <= _PROMOTE_LIMIT + 2 * kept_by_one, (kept, kept_by_one, runs)
