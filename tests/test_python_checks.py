"""Python snippets: syntax, names, state keys and returns, at exact positions, never executed."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from tea_lsp.analysis import analyze
from tea_lsp.config import Config
from tea_lsp.langs.python.check import mask_jinja, python_facts, python_syntax_error


def lines(text: str, config: Config | None = None) -> list[str]:
    diags = analyze(dedent(text), "t.yaml", config).diagnostics
    return [
        f"{d.span.start_line + 1}:{d.span.start_col + 1}-"
        f"{d.span.end_line + 1}:{d.span.end_col + 1} {d.severity.label}[{d.code}] {d.message}"
        for d in diags
        if d.code.startswith(("TEA7", "TEA308"))
    ]


def test_mask_jinja_keeps_columns_and_lines() -> None:
    code = 'x = {{ state.n }} + 1\n{% if a %}\ny = "{# c #}"\n{% endif %}'
    masked = mask_jinja(code)
    assert masked == 'x = None          + 1\n          \ny = "       "\n           '
    assert [len(a) for a in masked.split("\n")] == [len(a) for a in code.split("\n")]


def test_dollar_placeholders_are_masked() -> None:
    # The engine replaces ``${name}`` by ``variables.name`` after rendering.
    assert mask_jinja("xs[:${limit}] + ${x}") == "xs[:None    ] + None"
    text = """\
    variables: {limit: 3}
    nodes:
      - name: a
        language: python
        run: |
          top = state["items"][:${limit}]
          return {"top": top, "big": len(top) > ${limit}}
    """
    assert lines(text) == []


def test_syntax_error_after_a_placeholder_keeps_its_column() -> None:
    text = """\
    nodes:
      - name: a
        language: python
        run: |
          n = {{ state.count | default(0) }}
          if n > 1 return {"big": True}
    """
    assert lines(text)[1:] == ["6:16-6:22 error[TEA701] python syntax error: invalid syntax"]
    assert lines(text)[0].startswith("5:11-5:41 info[TEA706] template markup ")


def test_code_with_return_is_a_function_body() -> None:
    # `return` at the top level is fine (the engine wraps the code in a function); `yield`
    # then makes it a generator, also fine; `nonlocal` is not.
    assert python_syntax_error("return {'a': 1}") is None
    assert python_syntax_error("x = 1\nreturn {'x': x}") is None
    err = python_syntax_error("nonlocal x\nreturn {}")
    assert err is not None
    assert (err.line, err.col, err.message) == (
        1,
        0,
        "no binding for nonlocal 'x' found",
    )


def test_leading_indentation_is_accepted_when_wrapped_like_the_engine() -> None:
    # A quoted scalar whose text starts indented: valid once wrapped in a function.
    assert python_syntax_error("  return {'a': 1}") is None
    err = python_syntax_error("  x = 1")
    assert err is not None
    assert (err.line, err.message) == (1, "unexpected indent")


def test_unicode_columns() -> None:
    text = """\
    nodes:
      - name: a
        language: python
        run: |
          label = "héllo wörld ✓"; n = lenn(label)
          return {"n": n}
    """
    assert lines(text) == [
        "5:36-5:40 error[TEA702] undefined name 'lenn'; did you mean 'len'?",
    ]


def test_names_with_args_star_imports_and_globals() -> None:
    text = """\
    nodes:
      - name: uses_with
        language: python
        with: {limit: 3}
        run: |
          return {"top": state.get("items", [])[:limit], "x": nope}
      - name: star
        language: python
        run: |
          from math import *
          r = floor(pi) + anything
      - name: scopes
        language: python
        run: |
          global counter
          counter = 1
          squares = {k: v * v for k, v in enumerate(range(3))}
          try:
              value = int(state["raw"])
          except ValueError as exc:
              value = str(exc)
          match value:
              case {"a": first, **rest}:
                  pass
              case [head, *tail]:
                  pass
          return {"s": squares, "v": value, "f": (lambda q: q)(counter)}
    """
    assert lines(text) == ["6:59-6:63 error[TEA702] undefined name 'nope'; did you mean 'open'?"]


def test_expression_namespace_is_the_eval_one() -> None:
    text = """\
    nodes:
      - name: a
        run:
          type: expression
          value: "len(state['items']) + len(json.dumps(node))"
          output_key: n
    """
    assert lines(text) == ["5:41-5:45 error[TEA702] undefined name 'json'"]


def test_jinja_style_expression_is_left_to_the_template_reading() -> None:
    text = """\
    nodes:
      - name: a
        run:
          type: expression
          value: "state.a ~ '!' | upper"
          output_key: n
    """
    assert lines(text) == []


def test_state_keys_need_a_schema_and_stay_quiet_when_unsure() -> None:
    base = """\
    state_schema: {items: list}
    nodes:
      - name: a
        language: python
        run: |
          return {"n": len(state["itmes"]), "m": state.get("other", 0), "k": state.get("kk")}
    """
    assert lines(base) == [
        "6:30-6:37 warning[TEA703] state key 'itmes' is not declared in 'state_schema'; "
        "did you mean 'items'?",
        "6:84-6:88 warning[TEA703] state key 'kk' is not declared in 'state_schema'; "
        "did you mean 'k'?",
    ]
    # Without a schema: nothing to compare with.
    assert lines(base.replace("state_schema: {items: list}\n", "")) == []
    # Another Python node returns keys no literal reading can tell: quiet.
    opaque = base + dedent(
        """\
          - name: b
            language: python
            run: |
              out = dict(state)
              return out
        """
    )
    assert lines(opaque) == []


def test_returns_inside_helpers_and_none_are_fine() -> None:
    text = """\
    nodes:
      - name: a
        language: python
        run: |
          def helper():
              return "text"
          class Box:
              def get(self):
                  return [1]
          if state.get("skip"):
              return None
          return {"t": helper()}
    """
    assert lines(text) == []


def test_folded_scalars_report_the_whole_value() -> None:
    text = """\
    nodes:
      - name: a
        language: python
        run: >
          x = (1,
          return {"x": x}
    """
    [line] = lines(text)
    assert line == "4:10-6:22 error[TEA701] python syntax error: invalid syntax"


def test_snippet_size_bound() -> None:
    text = """\
    nodes:
      - name: a
        language: python
        run: |
          return {"x": 1}
          # padding padding padding
    """
    assert lines(text, Config(max_snippet_bytes=20)) == [
        "4:10-4:11 error[TEA308] python snippet is 42 bytes, over the checking limit of 20 "
        "bytes; it was not checked"
    ]


def test_code_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('x')\nreturn {{}}"
    assert python_facts(code) is not None
    text = f"nodes:\n  - name: a\n    language: python\n    run: {code!r}\n".replace("\\n", "\n")
    analyze(text, "t.yaml")
    assert not marker.exists()


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "code",
    [
        "(" * 5000,
        "x = " + "[" * 300 + "]" * 300,
        "\x00",
        "return " + "+".join(["1"] * 20000),
        "def f(:\n" * 200,
    ],
)
def test_hostile_code_gives_a_diagnostic_or_nothing(code: str) -> None:
    facts = python_facts(code)
    err = python_syntax_error(code)
    assert (facts is None) == (err is not None)
    text = "nodes:\n  - name: a\n    language: python\n    run: " + repr(code) + "\n"
    diags = analyze(text, "t.yaml").diagnostics
    assert all(d.code != "TEA900" for d in diags)


def test_python_comment_suppresses_on_its_line() -> None:
    text = """\
    nodes:
      - name: a
        language: python
        run: |
          x = foo  # tea-lsp: ignore[TEA702]
          return {"x": x, "y": bar}
    """
    assert lines(text) == ["6:28-6:31 error[TEA702] undefined name 'bar'"]


def test_updates_lost_lists_only_the_code_s_own_names() -> None:
    text = """\
    nodes:
      - name: a
        language: python
        run: |
          # computed here, no return needed
          total = sum(v for v in state.get("values", []))
          squares = [w * w for w in state.get("values", [])]
          _hidden = 1
    """
    assert lines(text) == [
        "5:27-5:33 warning[TEA705] the code contains 'return' but no return statement: TEA's "
        "Python engine then runs it as a function, so 'total', 'squares' are not merged into "
        "the state; return a dict of updates (or avoid the word)"
    ]
