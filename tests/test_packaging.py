"""The sdist carries the tests whole: every file of the repository but CI's, so the suite runs
from an unpacked sdist as from a clone. The pre-commit hook the README shows exists."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT


def _tracked() -> set[str]:
    r = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    if r.returncode != 0:
        pytest.skip("not a git checkout (an unpacked sdist, for instance)")
    return set(r.stdout.split())


@pytest.mark.timeout(180)
def test_sdist_carries_every_file_tests_need(tmp_path: Path) -> None:
    tracked = _tracked()
    r = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    missing = sorted(f for f in tracked if f not in names and not f.startswith(".ci/"))
    assert missing == [".gitignore"]
    assert not [n for n in names if "node_modules" in n or n.endswith((".pyc", ".vsix"))]


def test_pre_commit_hook_matches_the_readme() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (hook,) = hooks
    assert hook["id"] == "tea-lsp" and hook["language"] == "python"
    assert hook["entry"] == "tea-lsp check --workflows-only --force-exclude"
    assert "      - id: tea-lsp\n" in readme
    assert "pre-commit try-repo" in readme
