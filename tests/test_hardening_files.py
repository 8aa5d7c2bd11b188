"""Files that are not files: FIFOs, devices and huge files in ``check`` and the reader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tea_lsp.safeio import FileTooLarge, NotRegularFile, read_bytes_limited

GOOD = "name: ok\nnodes:\n  - name: a\n    language: lua\n    run: return {}\n    goto: finsh\n"
FINSH = "good.yaml:6:11: error[TEA201] unknown node 'finsh' in 'goto'; expected 'a' or '__end__'"


def tea(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tea_lsp", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


@pytest.fixture
def hostile_dir(tmp_path: Path) -> Path:
    d = tmp_path / "wfs"
    d.mkdir()
    (d / "good.yaml").write_text(GOOD, encoding="utf-8")
    (d / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(d / "fifo.yaml")
    with open(d / "big.yaml", "wb") as f:  # sparse: 65 MiB that take no disk space
        f.write(b"nodes:\n")
        f.truncate(65 * 1024 * 1024)
    return d


@pytest.mark.timeout(60)
def test_check_dir_skips_fifo_and_device_and_caps_size(hostile_dir: Path) -> None:
    r = tea("check", "--no-config", "--format", "concise", ".", cwd=hostile_dir)
    assert r.stdout.splitlines() == [
        "big.yaml:1:1: error[TEA003] cannot read file: larger than 64 megabytes, the most accepted",
        FINSH,
    ]
    assert r.returncode == 1
    assert r.stderr == ""


@pytest.mark.timeout(60)
def test_check_named_fifo_and_device_are_reported(hostile_dir: Path) -> None:
    r = tea(
        "check",
        "--no-config",
        "--format",
        "concise",
        "fifo.yaml",
        "zero.yaml",
        "good.yaml",
        cwd=hostile_dir,
    )
    assert r.stdout.splitlines() == [
        "fifo.yaml:1:1: error[TEA003] cannot read file: not a regular file (a fifo)",
        "zero.yaml:1:1: error[TEA003] cannot read file: not a regular file (a character device)",
        FINSH,
    ]
    assert r.returncode == 1


@pytest.mark.timeout(10)
def test_reader_limits(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f")
    with pytest.raises(NotRegularFile, match=r"Not a regular file \(a FIFO\)"):
        read_bytes_limited(tmp_path / "f")
    with pytest.raises(NotRegularFile, match="a character device"):
        read_bytes_limited("/dev/zero")
    with pytest.raises(NotRegularFile, match="a directory"):
        read_bytes_limited(tmp_path)
    (tmp_path / "x").write_bytes(b"12345")
    assert read_bytes_limited(tmp_path / "x", 5) == b"12345"
    with pytest.raises(FileTooLarge, match="Larger than 4 bytes, the most accepted"):
        read_bytes_limited(tmp_path / "x", 4)
