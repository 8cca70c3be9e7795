"""service.files: every path a caller names stays inside the run directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from teambot.errors import FileNotServedError
from teambot.service.files import confine, read_from, read_text


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A directory with a file, a nested file, and a secret beside it (outside)."""
    (tmp_path / "secret.txt").write_text("secret")
    base = tmp_path / "run"
    (base / "sub").mkdir(parents=True)
    (base / "a.md").write_text("# A\n")
    (base / "sub" / "b.md").write_text("# B\n")
    return base


@pytest.mark.parametrize("bad", ["../secret.txt", "sub/../../secret.txt", "/etc/passwd", "", ".", "sub", "a.md\0",
                                 "..\\secret.txt", "missing.md"])
def test_paths_that_leave_or_name_no_file_are_refused(root: Path, bad: str) -> None:
    """.., absolute paths, NUL, backslashes, directories and missing files: FileNotServedError."""
    with pytest.raises(FileNotServedError):
        confine(root, bad)


def test_symlinks_out_are_refused_and_links_inside_are_followed(root: Path) -> None:
    """A link (file or directory) whose target leaves the root is refused; one that stays inside is served."""
    (root / "out.md").symlink_to(root.parent / "secret.txt")
    (root / "outdir").symlink_to(root.parent)
    (root / "inside.md").symlink_to(root / "sub" / "b.md")
    for bad in ("out.md", "outdir/secret.txt"):
        with pytest.raises(FileNotServedError):
            confine(root, bad)
    assert confine(root, "inside.md") == (root / "sub" / "b.md").resolve()
    assert confine(root, "sub/b.md").read_text() == "# B\n"


def test_reads_refuse_a_fifo_and_tail_lines(root: Path) -> None:
    """read_from refuses a FIFO (no hang); read_text gives the last N lines; offsets continue where the last read ended."""
    fifo = root / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(FileNotServedError):
        read_from(fifo, 0)
    log = root / "log.txt"
    log.write_text("".join(f"line {i}\n" for i in range(10)))
    assert read_text(log, tail=2) == "line 8\nline 9\n"
    data, end = read_from(log, 0, limit=14)
    assert data == b"line 0\nline 1\n" and read_from(log, end, limit=7)[0] == b"line 2\n"
