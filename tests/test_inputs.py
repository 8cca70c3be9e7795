"""teambot.inputs.read_input: only regular files, never more than the limit, never blocking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from teambot.inputs import InputError, read_input


def test_reads_a_regular_file_up_to_the_limit(tmp_path: Path) -> None:
    """A file of exactly `limit` bytes is read whole."""
    path = tmp_path / "f.md"
    path.write_bytes(b"x" * 100)
    assert read_input(path, 100, "objective") == b"x" * 100


def test_one_byte_over_the_limit_is_refused(tmp_path: Path) -> None:
    """limit+1 bytes is an InputError (exit 2) naming the file, its size and the limit."""
    path = tmp_path / "f.md"
    path.write_bytes(b"x" * 101)
    with pytest.raises(InputError, match=r"objective .*f\.md is 101 bytes; the limit is 100 bytes") as err:
        read_input(path, 100, "objective")
    assert err.value.exit_code == 2


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO with no writer is refused at once instead of blocking in open() or read()."""
    path = tmp_path / "pipe.md"
    os.mkfifo(path)
    with pytest.raises(InputError, match="is a FIFO"):
        read_input(path, 100, "objective")


def test_a_device_and_a_directory_are_refused(tmp_path: Path) -> None:
    """/dev/zero (through a symlink too) and a directory are refused before any byte is read."""
    link = tmp_path / "zero.md"
    link.symlink_to("/dev/zero")
    for path, kind in ((Path("/dev/zero"), "a device"), (link, "a device"), (tmp_path, "a directory")):
        with pytest.raises(InputError, match=kind):
            read_input(path, 1 << 20, "persona")


def test_missing_files_raise_file_not_found(tmp_path: Path) -> None:
    """A missing file, or one under a path component that is a file, raises FileNotFoundError for the caller."""
    (tmp_path / "plain").write_text("x")
    for path in (tmp_path / "nope.md", tmp_path / "plain" / "x.md"):
        with pytest.raises(FileNotFoundError):
            read_input(path, 100, "persona")
