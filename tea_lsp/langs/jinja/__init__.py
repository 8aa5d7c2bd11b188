"""Jinja for TEA workflows: the one sandboxed environment, shared by the checker and the runner.

This package is the only place that imports ``jinja2``. Its parts:

- :mod:`.env`: the sandboxed environment (immutable sandbox, built-in filters plus
  ``tojson``/``fromjson``), missing keys that read as none;
- :mod:`.limits`: the limits every template runs under (a deadline and a size cap on
  everything a template builds);
- :mod:`.render`: rendering for the runner — :func:`render_value`, :func:`render_data`,
  :func:`eval_expression`, :func:`eval_condition` (thread-safe, compiled templates cached);
- :mod:`.check`: analysis for the checker — :func:`check_template`, :func:`state_reads`.

Semantics (the runner and the checker agree on them because both use this package):

- A missing dict key (``state.nope``, ``variables.nope``) reads like ``None``, as in TEA's
  Python engine: it prints ``None``, is false and equals ``None``; ``state.nope is defined``
  is false and ``state.nope | default(...)`` applies. Using it further (``state.nope.x``,
  ``state.nope + 1``) fails naming the key. An undefined *name* (``{{ nope }}``) fails.
- ``obj.key`` on a dict prefers the *item* over a dict method, so ``state.items``,
  ``state.keys`` or ``state.values`` read the state keys of those names when they exist.
- A template that is exactly one ``{{ expr }}`` (surrounding whitespace ignored) yields the
  expression's native value (list, number, dict, bool, None); any other template renders to
  text. Tuples, ranges and generators become lists; results never share containers with the
  context.
- A trailing newline is kept (a ``|`` block renders with its final newline).
- ``tojson`` is ``json.dumps`` (keys in insertion order, non-ASCII kept, optional ``indent``);
  ``fromjson`` is ``json.loads``.
- Conditions accept TEA's shorthand ``flag`` / ``!flag`` for ``state.flag`` /
  ``not state.flag``.
- Limits: see :mod:`.env`.
"""

from __future__ import annotations

from tea_lsp.langs.jinja.check import (
    KeyScope,
    TemplateProblem,
    check_template,
    condition_shorthand,
    needed_keys,
    state_reads,
)
from tea_lsp.langs.jinja.env import (
    FALSY_STRINGS,
    GLOBAL_NAMES,
    UPSTREAM_NAMES,
    TemplateError,
    environment,
    has_markup,
    known_filters,
    known_tests,
)
from tea_lsp.langs.jinja.limits import DEFAULT_TIMEOUT, MAX_OUTPUT, template_deadline
from tea_lsp.langs.jinja.render import (
    eval_condition,
    eval_expression,
    is_truthy,
    render_data,
    render_value,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "FALSY_STRINGS",
    "GLOBAL_NAMES",
    "MAX_OUTPUT",
    "UPSTREAM_NAMES",
    "KeyScope",
    "TemplateError",
    "TemplateProblem",
    "check_template",
    "condition_shorthand",
    "environment",
    "eval_condition",
    "eval_expression",
    "has_markup",
    "is_truthy",
    "known_filters",
    "known_tests",
    "needed_keys",
    "render_data",
    "render_value",
    "state_reads",
    "template_deadline",
]
