"""``tea-lsp check``: configuration files, selectors, file discovery, suppressions, ``--fix``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.test_cli_check import tea

BAD = "name: bad\nnodes:\n  - name: a\n    run: return {}\n    goto: finsh\n  - name: finish\n"
BAD_LINE = "wf.yaml:5:11: error[TEA201] unknown node 'finsh' in 'goto'; did you mean 'finish'?\n"
CLEAN = "name: clean\nnodes:\n  - name: a\n    run: return {}\n"


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    (tmp_path / "wf.yaml").write_text(BAD, encoding="utf-8")
    return tmp_path


def concise(*args: str, cwd: Path) -> tuple[int, str, str]:
    r = tea("check", "--format", "concise", *args, cwd=cwd)
    return r.returncode, r.stdout, r.stderr


# ---- configuration files


def test_readme_style_select_tea_means_everything(work: Path) -> None:
    (work / "pyproject.toml").write_text('[tool.tea-lsp]\nselect = ["TEA"]\n', encoding="utf-8")
    assert concise("wf.yaml", cwd=work) == (1, BAD_LINE, "")


def test_unknown_key_names_file_line_and_suggestion(work: Path) -> None:
    (work / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.tea-lsp]\nignore = ["TEA2"]\nselct = ["TEA3"]\n',
        encoding="utf-8",
    )
    assert concise("wf.yaml", cwd=work) == (
        2,
        "",
        "tea-lsp: error: pyproject.toml:6: unknown key 'selct' in [tool.tea-lsp]; "
        "did you mean 'select'?\n",
    )
    (work / "pyproject.toml").write_text('[tool.tea-lsp]\nfail_on = "error"\n', encoding="utf-8")
    assert concise("wf.yaml", cwd=work)[2] == (
        "tea-lsp: error: pyproject.toml:2: unknown key 'fail_on' in [tool.tea-lsp]; "
        "did you mean 'fail-on'?\n"
    )


def test_unknown_codes_in_config_and_cli_are_usage_errors(work: Path) -> None:
    (work / "tea-lsp.toml").write_text('select = ["TEA2"]\nignore = ["TEA8"]\n', encoding="utf-8")
    assert concise("wf.yaml", cwd=work) == (
        2,
        "",
        "tea-lsp: error: tea-lsp.toml:2: unknown code or prefix 'TEA8'; did you mean 'TEA'?\n",
    )
    (work / "tea-lsp.toml").unlink()
    assert concise("--select", "TEA999", "wf.yaml", cwd=work) == (
        2,
        "",
        "tea-lsp: error: --select: unknown code or prefix 'TEA999'; did you mean 'TEA9'?\n",
    )
    assert concise("--ignore", "undefined-globl", "wf.yaml", cwd=work) == (
        2,
        "",
        "tea-lsp: error: --ignore: unknown code or prefix 'undefined-globl'; "
        "did you mean 'undefined-global'?\n",
    )


def test_wrong_value_types(work: Path) -> None:
    (work / "tea-lsp.toml").write_text('default-language = "perl"\n', encoding="utf-8")
    assert concise("wf.yaml", cwd=work)[0::2] == (
        2,
        "tea-lsp: error: tea-lsp.toml:1: 'default-language' must be one of 'auto', 'python', "
        "'lua', got 'perl'\n",
    )
    (work / "tea-lsp.toml").write_text('fail-on = "fatal"\n', encoding="utf-8")
    assert concise("wf.yaml", cwd=work)[0::2] == (
        2,
        "tea-lsp: error: tea-lsp.toml:1: 'fail-on' must be one of 'error', 'warning', 'info', "
        "'hint', got 'fatal'\n",
    )
    (work / "tea-lsp.toml").write_text("select = [\n", encoding="utf-8")
    code, _, err = concise("wf.yaml", cwd=work)
    assert code == 2 and err.startswith("tea-lsp: error: tea-lsp.toml: invalid TOML: ")


def test_config_found_from_each_files_directory(work: Path) -> None:
    """The nearest configuration of each file applies, wherever the command runs from."""
    sub = work / "flows" / "legacy"
    sub.mkdir(parents=True)
    (sub / "wf.yaml").write_text(BAD, encoding="utf-8")
    (work / "flows" / "tea-lsp.toml").write_text('ignore = ["TEA201"]\n', encoding="utf-8")
    (work / "pyproject.toml").write_text('[tool.tea-lsp]\nfail-on = "error"\n', encoding="utf-8")
    assert concise("wf.yaml", "flows", cwd=work) == (1, BAD_LINE, "")
    # run from elsewhere: the same files, the same configurations
    code, out, _ = concise(str(work / "flows"), cwd=work.parent)
    assert (code, out) == (0, "")
    # a pyproject.toml without [tool.tea-lsp] is passed over
    (sub / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    assert concise("flows", cwd=work) == (0, "", "")
    # --config applies one file to every path; --no-config none
    assert concise("--config", "flows/tea-lsp.toml", "wf.yaml", cwd=work) == (0, "", "")
    assert concise("--no-config", "flows", cwd=work)[0] == 1


def test_fail_on_and_default_language_from_config(work: Path) -> None:
    warn = "name: w\nnodes:\n  - name: a\n    run: |\n      return {}  -- tea-lsp: ignore[TEA302]\n"
    (work / "wf.yaml").write_text(warn, encoding="utf-8")
    code, out, _ = concise("wf.yaml", cwd=work)
    assert code == 1 and "warning[" in out
    (work / "tea-lsp.toml").write_text('fail-on = "error"\n', encoding="utf-8")
    assert concise("wf.yaml", cwd=work)[0] == 0
    assert concise("--fail-on", "warning", "wf.yaml", cwd=work)[0] == 1
    # default-language is validated here; its effect on the checks is tested with them


def test_per_file_ignores_and_extend_select(work: Path) -> None:
    (work / "legacy").mkdir()
    (work / "legacy" / "old.yaml").write_text(BAD, encoding="utf-8")
    (work / "tea-lsp.toml").write_text(
        '[per-file-ignores]\n"legacy/*.yaml" = ["unknown-node"]\n', encoding="utf-8"
    )
    assert concise(".", cwd=work) == (1, BAD_LINE, "")
    (work / "tea-lsp.toml").write_text('select = ["TEA1"]\nextend-select = ["TEA2"]\n')
    assert concise("wf.yaml", cwd=work) == (1, BAD_LINE, "")


# ---- file discovery


def test_walks_honour_exclude_and_gitignore(work: Path) -> None:
    for d in ("build", "generated", "keep", "node_modules"):
        (work / d).mkdir()
        (work / d / "wf.yaml").write_text(BAD, encoding="utf-8")
    (work / ".gitignore").write_text("build/\n", encoding="utf-8")
    (work / "tea-lsp.toml").write_text('extend-exclude = ["generated"]\n', encoding="utf-8")
    _, out, _ = concise(".", cwd=work)
    assert sorted(line.split(":")[0] for line in out.splitlines()) == [
        "keep/wf.yaml",
        "wf.yaml",
    ]
    # a file named on the command line is checked, unless --force-exclude
    assert concise("generated/wf.yaml", cwd=work)[0] == 1
    assert concise("--force-exclude", "generated/wf.yaml", cwd=work)[0::2] == (
        0,
        "tea-lsp: warning: no workflow files found in 'generated/wf.yaml'\n",
    )
    (work / "tea-lsp.toml").write_text("respect-gitignore = false\n", encoding="utf-8")
    _, out, _ = concise(".", cwd=work)
    assert sorted(line.split(":")[0] for line in out.splitlines()) == [
        "build/wf.yaml",
        "generated/wf.yaml",
        "keep/wf.yaml",
        "wf.yaml",
    ]


def test_no_workflow_found_warns_and_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text("a: 1\n", encoding="utf-8")
    r = tea("check", ".", cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (
        0,
        "No workflow files checked.\n",
        "tea-lsp: warning: no workflow files found in '.'\n",
    )


# ---- suppressions


def test_suppression_unused_only_when_its_code_is_selected(work: Path) -> None:
    text = "name: s\nnodes:\n  - name: a\n    run: |\n      return {}  -- tea-lsp: ignore[TEA302]\n"
    (work / "s.yaml").write_text(text, encoding="utf-8")
    unused = "s.yaml:5:37: warning[TEA010] unused suppression: no 'TEA302' problem on line 5\n"
    assert concise("s.yaml", cwd=work) == (1, unused, "")
    assert concise("--select", "TEA2,TEA0", "s.yaml", cwd=work) == (0, "", "")
    assert concise("--ignore", "undefined-global", "s.yaml", cwd=work) == (0, "", "")
    assert concise("--ignore", "TEA010", "s.yaml", cwd=work) == (0, "", "")


def test_python_suppression_hides_python_problem_only_with_hash(work: Path) -> None:
    """In Lua ``#`` is an operator, so the Lua form is ``--``; a ``#`` line breaks Lua."""
    lua = "name: s\nnodes:\n  - name: a\n    language: lua\n    run: |\n"
    lua += "      # tea-lsp: ignore[TEA302]\n"
    lua += "      return {x = stat}\n"
    (work / "s.yaml").write_text(lua, encoding="utf-8")
    code, out, _ = concise("s.yaml", cwd=work)
    assert code == 1 and "error[TEA301]" in out
    (work / "s.yaml").write_text(lua.replace("# tea", "-- tea"), encoding="utf-8")
    assert concise("s.yaml", cwd=work) == (0, "", "")


# ---- --fix and --diff

FIX = sorted((FIXTURES / "fix").glob("*.yaml"))


@pytest.mark.parametrize("path", FIX, ids=lambda p: p.stem)
def test_fix_golden(path: Path, tmp_path: Path) -> None:
    """``fix/X.yaml`` becomes exactly ``fix/X.fixed``; ``--diff`` previews without writing."""
    target = tmp_path / path.name
    shutil.copy(path, target)
    expected = path.with_suffix(".fixed").read_text(encoding="utf-8")
    diff = tea("check", "--no-config", "--diff", path.name, cwd=tmp_path)
    assert target.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
    changed = expected != path.read_text(encoding="utf-8")
    assert diff.returncode == (1 if changed else 0)
    assert diff.stdout.startswith(f"--- a/{path.name}\n+++ b/{path.name}\n") == changed
    r = tea("check", "--no-config", "--fix", path.name, cwd=tmp_path)
    assert target.read_text(encoding="utf-8") == expected
    if changed:
        again = tea("check", "--no-config", "--diff", path.name, cwd=tmp_path)
        assert (again.returncode, again.stdout) == (0, "")
    assert r.returncode in (0, 1)


def test_summary_counts_fixable_and_fix_reports(work: Path) -> None:
    r = tea("check", "wf.yaml", cwd=work)
    assert r.stdout.endswith("Found 1 error in 1 file.\n1 fixable with --fix (preview: --diff).\n")
    r = tea("check", "--fix", "wf.yaml", cwd=work)
    assert (r.returncode, r.stdout) == (
        0,
        "Fixed 1 problem.\nAll checks passed (1 file checked).\n",
    )
    assert "goto: finish\n" in (work / "wf.yaml").read_text(encoding="utf-8")


def test_fix_never_touches_a_file_with_yaml_errors(work: Path) -> None:
    broken = BAD + "  - name: [oops\n"
    (work / "wf.yaml").write_text(broken, encoding="utf-8")
    r = tea("check", "--fix", "wf.yaml", cwd=work)
    assert r.returncode == 1 and "fixable" not in r.stdout
    assert (work / "wf.yaml").read_text(encoding="utf-8") == broken


def test_fix_and_diff_usage(work: Path) -> None:
    r = tea("check", "--fix", "--diff", "wf.yaml", cwd=work)
    assert (r.returncode, r.stderr) == (
        2,
        "tea-lsp: error: --fix and --diff cannot be used together\n",
    )
    r = tea("check", "--diff", "-", "--stdin-filename", "wf.yaml", cwd=work, stdin=BAD.encode())
    assert r.returncode == 1
    assert r.stdout == (
        "--- a/wf.yaml\n+++ b/wf.yaml\n@@ -2,5 +2,5 @@\n nodes:\n   - name: a\n"
        "     run: return {}\n-    goto: finsh\n+    goto: finish\n   - name: finish\n"
    )


def test_a_suppression_listing_tea010_is_kept_on_purpose(work: Path) -> None:
    text = "name: s\nnodes:\n  - name: a\n    run: |\n"
    text += "      return {}  -- tea-lsp: ignore[TEA302, TEA010]\n"
    (work / "s.yaml").write_text(text, encoding="utf-8")
    assert concise("s.yaml", cwd=work) == (0, "", "")


def test_explain_links_the_rule_page_and_the_format(work: Path) -> None:
    r = tea("explain", "TEA010", cwd=work)
    assert r.stdout.endswith(
        "\nDocs: https://github.com/tea-lsp/tea-lsp/blob/main/docs/rules/TEA010.md\n"
        "Workflow format: https://github.com/tea-lsp/tea-lsp/blob/main/docs/format.md\n"
    )


def test_malformed_patterns_are_usage_errors(work: Path) -> None:
    (work / "tea-lsp.toml").write_text('extend-exclude = ["!"]\n', encoding="utf-8")
    assert concise("wf.yaml", cwd=work)[0::2] == (
        2,
        "tea-lsp: error: tea-lsp.toml:1: invalid pattern '!' in 'extend-exclude'; "
        "expected a gitignore-style pattern\n",
    )


@pytest.mark.timeout(30)
def test_malformed_suppressions_never_crash() -> None:
    from tea_lsp.analysis import analyze

    lines = [
        "      return {}  -- tea-lsp: ignore[",
        "      -- tea-lsp: ignore[,,, ,]",
        "      -- tea-lsp: ignore[TEA302,,undefined-global, TEA3O2]",
        "      -- tea-lsp: ignore-file",
        "      -- tea-lsp: ignore[" + ",".join(["TEA302"] * 2000) + "]",
        "      {# tea-lsp: ignore[TEA402] #} {# tea-lsp: ignore[TEA401] #}",
        "      return {}  # tea-lsp:ignore[TEA302]# tea-lsp: ignore[TEA301]",
    ]
    text = "name: s\nnodes:\n  - name: a\n    run: |\n" + "\n".join(lines) + "\n"
    diags = analyze(text, "wf.yaml").diagnostics
    assert all(d.code != "TEA900" for d in diags)
    assert all(d.span.start_line < 12 for d in diags)


def test_suppressions_in_code_that_does_not_compile_are_not_called_unused(work: Path) -> None:
    text = "name: s\nnodes:\n  - name: a\n    run: |\n"
    text += "      local x = state.y  -- tea-lsp: ignore[TEA302]\n      return {x = x +}\n"
    (work / "s.yaml").write_text(text, encoding="utf-8")
    assert concise("s.yaml", cwd=work)[:2] == (
        1,
        "s.yaml:6:22: error[TEA301] lua syntax error: unexpected symbol near '}'\n",
    )
