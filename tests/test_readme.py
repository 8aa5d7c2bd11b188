"""The README's examples are executed, so they cannot rot: its configuration is accepted and
does what its comments say, its suppression example is clean, its CI snippets call options
that exist, its pre-commit example names the hook this repository defines."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from tea_lsp import codes
from tests.conftest import ROOT
from tests.test_cli_check import tea

README = (ROOT / "README.md").read_text(encoding="utf-8")
BAD = "name: bad\nnodes:\n  - name: a\n    run: return {}\n    goto: finsh\n  - name: finish\n"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, re.S | re.M)


def test_readme_configuration_is_accepted_and_applies(tmp_path: Path) -> None:
    (toml,) = [b for b in blocks("toml") if "[tool.tea-lsp]" in b]
    (tmp_path / "pyproject.toml").write_text(toml, encoding="utf-8")
    for sub in ("legacy", "generated", "flows"):
        (tmp_path / sub).mkdir()
    (tmp_path / "legacy" / "old.yaml").write_text(BAD, encoding="utf-8")  # per-file-ignores
    (tmp_path / "generated" / "gen.yaml").write_text(BAD, encoding="utf-8")  # extend-exclude
    (tmp_path / "flows" / "ok.yaml").write_text(BAD.replace("finsh", "finish"), encoding="utf-8")
    r = tea("check", ".", cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "All checks passed (2 files checked).\n", "")
    (tmp_path / "flows" / "bad.yaml").write_text(BAD, encoding="utf-8")
    r = tea("check", "--format", "concise", ".", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (
        1,
        "flows/bad.yaml:5:11: error[TEA201] unknown node 'finsh' in 'goto'; "
        "did you mean 'finish'?\n",
    )


def test_readme_suppression_example_is_clean(tmp_path: Path) -> None:
    (example,) = [b for b in blocks("yaml") if b.startswith("name: suppressions")]
    (tmp_path / "wf.yaml").write_text(example, encoding="utf-8")
    r = tea("check", "--no-config", "--fail-on", "hint", "wf.yaml", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "All checks passed (1 file checked).\n")
    # and each suppression is needed: without the comments, each problem is reported
    bare = re.sub(r"\s*(--|#|\{#) tea-lsp: ignore\[[^\]]*\]( #\})?", "", example)
    (tmp_path / "bare.yaml").write_text(bare, encoding="utf-8")
    r = tea("check", "--no-config", "--format", "concise", "bare.yaml", cwd=tmp_path)
    found = sorted(set(re.findall(r"\[(TEA\d+)\]", r.stdout)))
    assert found == ["TEA101", "TEA302", "TEA402"]


def _ci_steps() -> list[str]:
    runs: list[str] = []
    for block in blocks("yaml"):
        doc = yaml.safe_load(block)
        if not isinstance(doc, dict) or "steps" not in str(doc):
            continue
        jobs = doc.get("jobs") or {k: v for k, v in doc.items() if isinstance(v, dict)}
        for job in jobs.values():
            runs.extend(s["run"] for s in job.get("steps", []) if "run" in s)
    return runs


def test_readme_ci_snippets_install_from_the_repository_and_run(tmp_path: Path) -> None:
    runs = _ci_steps()
    assert runs.count(f"pip install git+{codes.REPOSITORY_URL}") == 2
    commands = [r for r in runs if r.startswith("tea-lsp ")]
    assert len(commands) == 2
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "bad.yaml").write_text(BAD, encoding="utf-8")
    for command in commands:
        argv = shlex.split(command.split(">")[0])
        r = tea(*argv[1:], cwd=tmp_path)
        assert r.returncode == 1, command
        if "github" in command:
            assert r.stdout.startswith("::error file=flows/bad.yaml,line=5,col=11,")
        else:
            sarif = json.loads(r.stdout)
            (result,) = sarif["runs"][0]["results"]
            assert result["ruleId"] == "TEA201"


def test_readme_pre_commit_example_names_our_hook() -> None:
    (config,) = [yaml.safe_load(b) for b in blocks("yaml") if "repos:" in b]
    (repo,) = config["repos"]
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert repo["repo"] == codes.REPOSITORY_URL
    assert [h["id"] for h in repo["hooks"]] == [h["id"] for h in hooks]
