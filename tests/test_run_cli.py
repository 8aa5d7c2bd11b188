"""``tea-lsp run``: exact stdout, stderr and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tea_lsp.cli.main import main
from tests.engine_support import write

OK = """
name: cli-ok
state_schema: {x: int, y: int, parts: list}
initial_state: {x: 1}
nodes:
  - name: start
    run: return { y = state.x * 10 }
  - name: left
    run: return { part = "L" .. state.y }
    goto: join
  - name: right
    run: return { part = "R" .. state.y }
    goto: join
  - name: join
    fan_in: true
    run: |
      local parts = {}
      for i, r in ipairs(state.parallel_results) do parts[i] = r.state.part end
      return { parts = parts }
edges:
  - {from: start, to: [left, right], parallel: true, fan_in: join}  # tea-lsp: ignore[TEA215]
"""

FAILS = """
name: cli-fails
nodes:
  - name: start
    run: return { n = 1 }
  - name: compute
    run: |
      local n = state.n
      return { m = n .. nil }
"""


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["run", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("strategy", ["process", "thread"])
def test_success_prints_the_final_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], strategy: str
) -> None:
    write(tmp_path, OK)
    code, out, err = cli(capsys, "wf.yaml", "--input", '{"x": 4}', "--strategy", strategy)
    assert (code, err) == (0, "")
    final = json.loads(out)
    assert out == json.dumps(final, indent=2) + "\n"
    assert [r["branch"] for r in final.pop("parallel_results")] == ["left", "right"]
    assert final == {"x": 4, "y": 40, "parts": ["L40", "R40"]}


def test_input_from_a_file_and_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, OK)
    (tmp_path / "in.json").write_text('{"x": 2}')
    code, out, err = cli(capsys, "wf.yaml", "--input", "@in.json", "--events", "ev.ndjson")
    assert (code, err) == (0, "")
    final = json.loads(out)
    assert len(final.pop("parallel_results")) == 2
    assert final == {"x": 2, "y": 20, "parts": ["L20", "R20"]}
    events = [json.loads(line) for line in (tmp_path / "ev.ndjson").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[:4] == ["run_started", "node_started", "node_finished", "fan_out_started"]
    assert kinds[-5:-1] == ["fan_out_finished", "node_started", "node_finished", "run_finished"]
    last = events.pop()
    # parallel_results stays in the final state, as in TEA (checked above).
    assert [r["branch"] for r in last["state"].pop("parallel_results")] == ["left", "right"]
    assert last == {
        "event": "result",
        "ok": True,
        "state": {"x": 2, "y": 20, "parts": ["L20", "R20"]},
    }
    assert sorted(e["branch"] for e in events if e["event"] == "branch_finished") == [
        "left",
        "right",
    ]
    assert events[-1] == {
        "event": "run_finished",
        "t_ms": events[-1]["t_ms"],
        "ok": True,
        "status": "ok",
        "steps": 4,
        "timing_ms": events[-1]["timing_ms"],
        "error": None,
    }


def test_runtime_error_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, FAILS)
    code, out, err = cli(capsys, "wf.yaml")
    assert (code, out) == (1, "")
    assert err == (
        "wf.yaml:8:7: error[TEA601] node 'compute': attempt to concatenate a nil value\n"
        "          return { m = n .. nil }\n"
        "          ^~~~~~~~~~~~~~~~~~~~~~~\n"
        "  state before node 'compute':\n"
        "    {\n"
        '      "n": 1\n'
        "    }\n"
    )


def test_max_steps_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path,
        """
        name: loop
        nodes:
          - name: again  # tea-lsp: ignore[TEA218]
            run: return { n = (state.n or 0) + 1 }
            goto: again
        """,
    )
    code, out, err = cli(capsys, "wf.yaml", "--max-steps", "3")
    assert (code, out) == (1, "")
    assert err == (
        "wf.yaml:3:11: error[TEA606] node 'again': the run reached its limit of 3 steps; a "
        "cycle may never end (raise --max-steps to allow longer runs)\n"
        "      - name: again  # tea-lsp: ignore[TEA218]\n"
        "              ^~~~~\n"
        "  state before node 'again':\n"
        "    {\n"
        '      "n": 3\n'
        "    }\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.yaml"], "missing.yaml: no such file"),
        (
            ["wf.yaml", "--input", "{bad"],
            "--input: invalid JSON at line 1 column 2: "
            "expecting property name enclosed in double quotes",
        ),
        (["wf.yaml", "--input", "[1, 2]"], "--input: expected a JSON object, got list"),
        (["wf.yaml", "--input", "@nope.json"], "--input: nope.json: no such file"),
        (["wf.yaml", "--max-steps", "0"], "--max-steps must be at least 1"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    write(tmp_path, OK)
    code, out, err = cli(capsys, *args)
    assert (code, out, err) == (2, "", f"tea-lsp: error: {message}\n")


def test_bad_strategy_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, OK)
    code, out, err = cli(capsys, "wf.yaml", "--strategy", "cluster")
    assert (code, out) == (2, "")
    assert "invalid choice: 'cluster'" in err


def test_workflow_errors_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path,
        """
        name: broken
        nodes:
          - name: a
            run: return { x = 1
            goto: b
        """,
    )
    code, out, err = cli(capsys, "wf.yaml")
    assert (code, out) == (3, "")
    assert err.splitlines() == [
        "wf.yaml:4:24: error[TEA301] lua syntax error: '}' expected near <eof>",
        "wf.yaml:5:11: error[TEA201] unknown node 'b' in 'goto'; expected 'a' or '__end__'",
    ]


def test_refused_features_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path,
        """
        name: refused
        nodes:
          - name: pl
            language: prolog
            run: "x(1)."
        """,
    )
    code, out, err = cli(capsys, "wf.yaml")
    assert (code, out) == (3, "")
    assert err == (
        "wf.yaml:4:15: error[TEA607] node 'pl': prolog code is not run by the tea-lsp runner; "
        "only Lua and Python nodes run\n"
    )


def test_warnings_do_not_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path,
        """
        name: warns
        nodes:
          - name: a
            run: return { a = 1 }
            goto: __end__
          - name: orphan
            run: return {}
        """,
    )
    code, out, err = cli(capsys, "wf.yaml")
    assert (code, out) == (0, '{\n  "a": 1\n}\n')
    assert err.startswith("wf.yaml:6:11: warning[TEA204] node 'orphan' is never reached")


def test_failed_branch_is_a_warning_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, OK.replace('return { part = "R" .. state.y }', 'error("right is down")'))
    code, _out, err = cli(capsys, "wf.yaml", "--strategy", "thread")
    assert code == 1  # the fan-in reads r.state.part of the failed branch
    assert err.splitlines()[:4] == [
        "wf.yaml:11:10: warning[TEA601] branch 'right' failed: node 'right': right is down",
        "wf.yaml:17:7: error[TEA601] node 'join': attempt to index a nil value (field 'state')",
        "          for i, r in ipairs(state.parallel_results) do parts[i] = r.state.part end",
        "          ^" + "~" * 72,
    ]
    assert err.splitlines()[4] == "  state before node 'join':"
