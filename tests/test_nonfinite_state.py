"""NaN and infinity never reach a state: JSON has neither, so whatever produces one (a template,
an action, Python code, the run's input) fails the node with a message naming the node and key.
Lua's own message is tested in test_hardening_cli.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tea_lsp.engine import run_workflow


def tea(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tea_lsp", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


NON_FINITE = "JSON numbers cannot be NaN or infinite"

CASES = {
    "template-output": (
        "name: t\nnodes:\n  - name: shape\n    uses: json.parse\n    with:\n"
        '      text: "{}"\n    output:\n      ratio: "{{ state.text | float }}"\n',
        '{"text": "nan"}',
        "wf.yaml:8:14: error[TEA610] node 'shape': the template of 'output.ratio' rendered nan; "
        f"{NON_FINITE} (render a string or none instead)",
    ),
    "template-constant-in-with": (
        "name: t\nnodes:\n  - name: parse\n    uses: json.parse\n    with:\n"
        "      text: \"{{ ['x', 'inf' | float] }}\"\n",
        None,
        "wf.yaml:6:13: error[TEA610] node 'parse': the template of 'with.text' rendered inf "
        f"(at 'with.text[1]'); {NON_FINITE} (render a string or none instead)",
    ),
    "action-result": (
        "name: t\nnodes:\n  - name: parse\n    uses: json.parse\n    with:\n"
        '      text: "[1, NaN]"\n    output: parsed\n',
        None,
        "wf.yaml:4:11: error[TEA610] node 'parse': action 'json.parse' returned nan at "
        f"'data[1]'; {NON_FINITE}",
    ),
    "python-return": (
        "name: t\nnodes:\n  - name: compute\n    language: python\n    run: |\n"
        '      return {"big": float("inf")}\n',
        None,
        f"wf.yaml:5:10: error[TEA610] node 'compute': state key 'big' holds inf; {NON_FINITE} "
        "(use a string or None)",
    ),
    "python-in-place": (
        "name: t\nnodes:\n  - name: compute\n    language: python\n    run: |\n"
        '      state["deep"] = {"xs": [1, float("-inf")]}\n      return {}\n',
        None,
        "wf.yaml:5:10: error[TEA610] node 'compute': state key 'deep' was set in place to -inf "
        f"(at 'deep.xs[1]'); {NON_FINITE} (use a string or None)",
    ),
    "template-expression-run": (
        "name: t\nnodes:\n  - name: ratio\n    run:\n      type: expression\n"
        '      value: "{{ [1, state.text | float] }}"\n    output: ratio\n',
        '{"text": "-inf"}',
        "wf.yaml:6:14: error[TEA610] node 'ratio': state key 'ratio' would hold -inf "
        f"(at 'ratio[1]'); {NON_FINITE} (use a string or null)",
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", CASES)
def test_non_finite_numbers_fail_the_node(tmp_path: Path, name: str) -> None:
    text, given, first = CASES[name]
    (tmp_path / "wf.yaml").write_text(text, encoding="utf-8")
    extra = ("--input", given) if given is not None else ()
    r = tea("run", "wf.yaml", *extra, cwd=tmp_path)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr.splitlines()[0] == first
    # --output json stays valid JSON: the state before the node, without NaN or infinity.
    r = tea("run", "wf.yaml", *extra, "--output", "json", cwd=tmp_path)
    out = strict_json(r.stdout)
    assert (r.returncode, out["ok"], out["error"]["code"]) == (1, False, "TEA610")
    assert out["error"]["message"] == first.split("] ", 1)[1]
    assert out["state"] == (json.loads(given) if given is not None else {})


@pytest.mark.timeout(60)
def test_a_branch_returning_infinity_fails_that_branch(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(
        "name: fan\nnodes:\n  - name: start\n    run: return {}\n"
        '  - name: left\n    language: python\n    run: |\n      return {"l": float("inf")}\n'
        "  - name: right\n    run: return {r = 1}\n"
        "  - name: join\n    fan_in: true\n    run: return {}\n"
        "edges:\n  - from: __start__\n    to: start\n"
        "  - from: start\n    to: left\n    type: parallel\n    fan_in: join\n"
        "  - from: start\n    to: right\n    type: parallel\n    fan_in: join\n"
        "  - from: left\n    to: join\n  - from: right\n    to: join\n"
        "  - from: join\n    to: __end__\n",
        encoding="utf-8",
    )
    r = tea("run", "wf.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    left, right = strict_json(r.stdout)["parallel_results"]
    message = f"node 'left': state key 'l' holds inf; {NON_FINITE} (use a string or None)"
    assert (left["success"], left["error"], left["error_type"]) == (False, message, "StateError")
    assert (right["success"], right["state"]) == (True, {"r": 1})
    assert r.stderr == f"wf.yaml:7:10: warning[TEA610] branch 'left' failed: {message}\n"


@pytest.mark.timeout(60)
def test_non_finite_input_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(CASES["python-return"][0], encoding="utf-8")
    r = tea("run", "wf.yaml", "--input", '{"q": [1, NaN]}', cwd=tmp_path)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"tea-lsp: error: --input: 'q[1]' is nan; {NON_FINITE}\n"


def test_non_finite_input_from_a_client_fails_the_run() -> None:
    r = run_workflow(CASES["python-return"][0], path="wf.yaml", input={"q": float("inf")})
    assert (r.ok, r.status, r.state) == (False, "failed", None)
    assert r.error == f"input: state key 'q' would hold inf; {NON_FINITE} (use a string or null)"
    assert r.error_diagnostic is not None and r.error_diagnostic.code == "TEA610"
