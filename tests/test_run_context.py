"""What `tea-lsp run` gives templates (`settings`, `data`), the node's time limit on templates,
and which language unmarked code runs as (`--default-language`, configuration, file comment)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tea_lsp.cli.main import main


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], text: str, *args: str) -> tuple[int, str, str]:
    Path("wf.yaml").write_text(text, encoding="utf-8")
    code = main(["run", "wf.yaml", *args])
    out, err = capsys.readouterr()
    return code, out, err


CONTEXT = """\
name: ctx
settings:
  llm: {model: small}
data:
  greeting: hi
nodes:
  - name: say
    uses: json.stringify
    with:
      data: "{{ settings.llm.model }}-{{ data.greeting }}"
    output: said
"""


@pytest.mark.timeout(60)
def test_templates_see_settings_and_data(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, CONTEXT)
    assert (code, err) == (0, "")
    assert json.loads(out) == {"said": {"text": '"small-hi"', "success": True}}


SLOW = """\
name: slow
settings:
  lua: {timeout: 1}
nodes:
  - name: spin
    uses: json.stringify
    with:
      data: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    output: said
"""


@pytest.mark.timeout(30)
def test_a_template_stops_at_the_nodes_time_limit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, SLOW)
    assert (code, out) == (1, "")
    assert err.splitlines()[0] == (
        "wf.yaml:8:14: error[TEA608] node 'spin': template error: the template ran past the "
        "node's time limit of 1 s"
    )


# `x = 1` is valid Lua (a global, no return: no update) and valid Python (a local: merged).
BOTH = "name: lang\nnodes:\n  - name: set\n    run: |\n      x = 1\n"


@pytest.mark.timeout(60)
def test_unmarked_code_follows_the_default_language(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, BOTH) == (0, "{}\n", "")  # auto: it compiles as Lua
    assert run(capsys, BOTH, "--default-language", "python") == (0, '{\n  "x": 1\n}\n', "")
    commented = "# tea-lsp: default-language=python\n" + BOTH
    assert run(capsys, commented) == (0, '{\n  "x": 1\n}\n', "")
    Path("tea-lsp.toml").write_text('default-language = "python"\n', encoding="utf-8")
    assert run(capsys, BOTH) == (0, '{\n  "x": 1\n}\n', "")
    assert run(capsys, BOTH, "--default-language", "lua") == (0, "{}\n", "")
