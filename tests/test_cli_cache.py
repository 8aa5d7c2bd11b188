"""The result cache of ``tea-lsp check``: a hit gives exactly what an analysis gives, anything
the result depends on starts a new entry, and a broken or unwritable cache never changes a
result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.test_startup_imports import HEAVY, PROBE
from tests.test_startup_lazy import LUA_ONLY

TYPO = LUA_ONLY + ("    goto: finsh\n  - name: finish\n    language: lua\n    run: return {}\n")
TYPO_LINE = "wf.yaml:9:11: error[TEA201] unknown node 'finsh' in 'goto'; did you mean 'finish'?"
CLEAN = TYPO.replace("goto: finsh", "goto: finish")


def tea(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "TEA_LSP_CACHE_DIR"}
    full.update({"NO_COLOR": "1", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "tea_lsp", "check", "--no-config", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/*.json"))


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    (tmp_path / "wf.yaml").write_text(TYPO, encoding="utf-8")
    return tmp_path


def first_line(r: subprocess.CompletedProcess[str]) -> str:
    return r.stdout.splitlines()[0]


@pytest.mark.timeout(120)
def test_second_run_answers_from_the_cache_with_the_same_output(work: Path) -> None:
    first = tea(work, "wf.yaml")
    assert (first.returncode, first_line(first)) == (1, TYPO_LINE)
    cache = work / ".tea-lsp-cache"
    assert len(entries(cache)) == 1
    assert (cache / ".gitignore").read_text() == "# made by tea-lsp\n*\n"
    assert (
        (cache / "CACHEDIR.TAG")
        .read_text()
        .startswith("Signature: 8a477f597d28d172789f06886806bc55\n")
    )
    second = tea(work, "wf.yaml")
    assert (second.returncode, second.stdout, second.stderr) == (
        first.returncode,
        first.stdout,
        first.stderr,
    )
    # the fix ('finsh' -> 'finish') came back from the cache too: --diff still offers it
    diff = tea(work, "--diff", "wf.yaml")
    assert diff.returncode == 1
    assert "-    goto: finsh\n+    goto: finish\n" in diff.stdout
    assert diff.stderr == "Would fix 1 problem in 1 file.\n"


@pytest.mark.timeout(120)
def test_a_hit_is_the_stored_result_and_imports_no_analysis(work: Path) -> None:
    tea(work, "wf.yaml")
    (entry,) = entries(work / ".tea-lsp-cache")
    stored = json.loads(entry.read_text())
    assert [d["code"] for d in stored] == ["TEA201"]
    stored[0]["message"] = "a message only the cache knows"
    entry.write_text(json.dumps(stored))
    r = tea(work, "wf.yaml")
    assert first_line(r) == "wf.yaml:9:11: error[TEA201] a message only the cache knows"
    probe = PROBE.format(argv=["check", "--no-config", "wf.yaml"], heavy=[*HEAVY, "yaml"])
    env = {k: v for k, v in os.environ.items() if k != "TEA_LSP_CACHE_DIR"}
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{probe}"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == []  # no yaml, lupa, jinja2, jsonschema...


@pytest.mark.timeout(120)
def test_a_changed_file_is_analysed_again(work: Path) -> None:
    assert tea(work, "wf.yaml").returncode == 1
    (work / "wf.yaml").write_text(CLEAN, encoding="utf-8")
    r = tea(work, "wf.yaml")
    assert (r.returncode, r.stdout) == (0, "All checks passed (1 file checked).\n")
    assert len(entries(work / ".tea-lsp-cache")) == 2


@pytest.mark.timeout(120)
def test_options_and_configuration_are_part_of_the_key(work: Path) -> None:
    assert tea(work, "wf.yaml").returncode == 1
    r = tea(work, "--ignore", "TEA201", "wf.yaml")
    assert (r.returncode, r.stdout) == (0, "All checks passed (1 file checked).\n")
    (work / "tea-lsp.toml").write_text('ignore = ["TEA2"]\n')
    cfg = subprocess.run(
        [sys.executable, "-m", "tea_lsp", "check", "wf.yaml"],
        cwd=work,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "TEA_LSP_CACHE_DIR"},
        timeout=120,
    )
    assert (cfg.returncode, cfg.stdout) == (0, "All checks passed (1 file checked).\n")
    again = tea(work, "wf.yaml")
    assert (again.returncode, first_line(again)) == (1, TYPO_LINE)


@pytest.mark.timeout(120)
def test_the_same_text_at_another_path_is_another_entry(work: Path) -> None:
    (work / "other.yaml").write_text(TYPO, encoding="utf-8")
    tea(work, "wf.yaml")
    r = tea(work, "other.yaml")
    assert first_line(r) == TYPO_LINE.replace("wf.yaml", "other.yaml")


@pytest.mark.timeout(120)
def test_no_cache_reads_and_writes_nothing(work: Path) -> None:
    r = tea(work, "--no-cache", "wf.yaml")
    assert first_line(r) == TYPO_LINE
    assert not (work / ".tea-lsp-cache").exists()


@pytest.mark.timeout(120)
def test_cache_dir_option_and_environment(
    work: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    by_option = tmp_path_factory.mktemp("opt") / "c"
    by_env = tmp_path_factory.mktemp("env") / "c"
    tea(work, "--cache-dir", str(by_option), "wf.yaml")
    tea(work, "wf.yaml", env={"TEA_LSP_CACHE_DIR": str(by_env)})
    assert len(entries(by_option)) == 1 and len(entries(by_env)) == 1
    assert not (work / ".tea-lsp-cache").exists()


@pytest.mark.timeout(120)
def test_a_damaged_entry_is_a_miss(work: Path) -> None:
    tea(work, "wf.yaml")
    (entry,) = entries(work / ".tea-lsp-cache")
    for damage in ('[{"code": "TEA201"}]', "{not json", "", '[["x"]]'):
        entry.write_text(damage)
        r = tea(work, "wf.yaml")
        assert (r.returncode, first_line(r), r.stderr) == (1, TYPO_LINE, "")
        assert json.loads(entry.read_text())[0]["code"] == "TEA201"  # written again


@pytest.mark.timeout(120)
@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_cache_changes_nothing(work: Path) -> None:  # pragma: no cover - root here
    cache = work / ".tea-lsp-cache"
    cache.mkdir()
    cache.chmod(0o500)
    try:
        r = tea(work, "wf.yaml")
        assert (r.returncode, first_line(r), r.stderr) == (1, TYPO_LINE, "")
    finally:
        cache.chmod(0o700)


@pytest.mark.timeout(120)
def test_a_cache_path_that_is_a_file_changes_nothing(work: Path) -> None:
    (work / "blocked").write_text("not a folder")
    r = tea(work, "--cache-dir", "blocked", "wf.yaml")
    assert (r.returncode, first_line(r), r.stderr) == (1, TYPO_LINE, "")
    again = tea(work, "--cache-dir", "blocked/sub", "wf.yaml")
    assert (again.returncode, first_line(again), again.stderr) == (1, TYPO_LINE, "")


@pytest.mark.timeout(120)
def test_non_workflow_yaml_in_a_directory_is_remembered_as_such(work: Path) -> None:
    (work / "other.yaml").write_text("just: data\n", encoding="utf-8")
    for _ in range(2):
        r = tea(work, ".")
        assert (
            first_line(r)
            == "wf.yaml:9:11: error[TEA201] unknown node 'finsh' in 'goto'; did you mean 'finish'?"
        )
        assert r.stdout.splitlines()[-2:] == [
            "Found 1 error in 1 file.",
            "1 fixable with --fix (preview: --diff).",
        ]
    assert len(entries(work / ".tea-lsp-cache")) == 2
    # named on the command line, the same text is a (broken) workflow: its own entry
    named = tea(work, "other.yaml")
    assert named.returncode == 1
    assert len(entries(work / ".tea-lsp-cache")) == 3


@pytest.mark.timeout(120)
def test_an_old_installations_folders_are_pruned(work: Path) -> None:
    cache = work / ".tea-lsp-cache"
    old = [cache / f"{i:016x}" for i in range(5)]
    for i, d in enumerate(old):
        d.mkdir(parents=True)
        os.utime(d, (1_000_000 + i, 1_000_000 + i))
    tea(work, "wf.yaml")
    left = sorted(p.name for p in cache.iterdir() if p.is_dir())
    assert len(left) == 4  # this installation's and the three used last
    assert [f"{i:016x}" for i in (2, 3, 4)] == [n for n in left if n in {d.name for d in old}]


@pytest.mark.timeout(120)
def test_a_directory_checked_by_worker_processes_fills_and_uses_the_cache(work: Path) -> None:
    for i in range(20):  # enough files for the process pool
        (work / f"wf_{i:02}.yaml").write_text(TYPO.replace("lua-only", f"lua-only-{i}"))
    first = tea(work, "-j", "2", ".")
    assert first.returncode == 1
    assert first.stdout.splitlines()[-2] == "Found 21 errors in 21 files."
    assert len(entries(work / ".tea-lsp-cache")) == 21
    second = tea(work, "-j", "2", ".")
    assert (second.returncode, second.stdout) == (1, first.stdout)
    assert len(entries(work / ".tea-lsp-cache")) == 21


def test_every_configuration_field_is_part_of_the_key(tmp_path: Path) -> None:
    from dataclasses import fields, replace

    from tea_lsp.cli.cache import ResultCache
    from tea_lsp.config import Config

    cache = ResultCache(tmp_path)
    base = Config()
    changed: dict[str, Any] = {
        "select": frozenset({"TEA2"}),
        "ignore": frozenset({"TEA3"}),
        "extend_select": frozenset({"TEA4"}),
        "max_snippet_bytes": 10,
        "default_language": "lua",
    }
    assert set(changed) == {f.name for f in fields(Config)}
    keys = {cache.key("wf.yaml", TYPO, replace(base, **{k: v})) for k, v in changed.items()}
    keys.add(cache.key("wf.yaml", TYPO, base))
    assert len(keys) == len(changed) + 1
    # the order of a set does not matter
    assert cache.key("wf.yaml", TYPO, replace(base, ignore=frozenset({"TEA3", "TEA2"}))) == (
        cache.key("wf.yaml", TYPO, replace(base, ignore=frozenset({"TEA2", "TEA3"})))
    )


def clean(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TEA_LSP_CACHE_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "tea_lsp", "clean", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.timeout(120)
def test_clean_removes_the_cache_and_only_a_cache(work: Path) -> None:
    tea(work, "wf.yaml")
    r = clean(work)
    assert (r.returncode, r.stdout, r.stderr) == (
        0,
        "Removed the cache at '.tea-lsp-cache'.\n",
        "",
    )
    assert not (work / ".tea-lsp-cache").exists()
    again = clean(work)
    assert (again.returncode, again.stdout) == (0, "No cache at '.tea-lsp-cache'.\n")
    # a folder that is not a cache of ours is left alone, whatever --cache-dir says
    (work / "src").mkdir()
    (work / "src" / "keep.txt").write_text("mine")
    refused = clean(work, "--cache-dir", "src")
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        2,
        "",
        "tea-lsp: error: 'src' is not a tea-lsp cache (no CACHEDIR.TAG of ours); nothing removed\n",
    )
    assert (work / "src" / "keep.txt").read_text() == "mine"
    # a cache elsewhere
    tea(work, "--cache-dir", "elsewhere", "wf.yaml")
    moved = clean(work, "--cache-dir", "elsewhere")
    assert (moved.returncode, moved.stdout) == (0, "Removed the cache at 'elsewhere'.\n")
    assert not (work / "elsewhere").exists()
