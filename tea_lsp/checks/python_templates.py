"""TEA706 template markup inside Python code (information).

TEA's Python engine renders a Python snippet through Jinja before it runs it, so
``{{ state.x }}`` inside the code is replaced by the value's text. tea-lsp's runner does not
(pasting values into source code breaks on quotes and is code injection; the code already sees
``state`` and ``variables`` as values). The two engines then run different code: this note says
so once per snippet, at the first markup, and never fails CI.
"""

from __future__ import annotations

import re

from tea_lsp.checks.base import CheckContext
from tea_lsp.checks.python_common import python_entries

_MARKUP = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")


def check(ctx: CheckContext) -> None:
    for entry in python_entries(ctx):
        if entry.mode != "exec" or entry.too_big:
            continue
        text = entry.snippet.text
        if "{{" not in text and "{%" not in text:
            continue
        for n, line in enumerate(text.split("\n"), start=1):
            m = _MARKUP.search(line)
            if m is None:
                continue
            ctx.report(
                "TEA706",
                entry.span(n, m.start(), m.end()),
                f"template markup '{_short(m.group(0))}' in python code: TEA's Python engine "
                "renders it into the source before running the code, the tea-lsp runner does "
                "not; read the value as 'state[...]' or 'variables[...]' instead",
            )
            break


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."
