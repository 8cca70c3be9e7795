"""Reading the files a user gives teambot: objective, stages.yaml, teambot.yaml, personas, templates.

One rule for all of them: only a regular file is read, and at most `limit` bytes. A FIFO
is opened with O_NONBLOCK, so it never blocks (no writer needed) and is refused by fstat;
a device such as /dev/zero is refused before a byte is read; a file that is too big is
refused by its size, or after reading limit+1 bytes if it grows while read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from teambot.errors import EXIT_BAD_INPUT, TeambotError

DEFAULT_LIMIT = 1 << 20  # 1 MiB: every input file is a few kB; more is a mistake or an attack


class InputError(TeambotError):
    """An input file is not a regular file, is too big, or cannot be read (exit 2)."""

    exit_code = EXIT_BAD_INPUT


def read_input(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them.

    `what` names the file in messages ("objective", "stages file", "persona", ...). A missing
    file (or a parent that is not a directory) raises FileNotFoundError: callers decide what
    a missing file means; anything else
    that stops the read raises InputError naming the file and why.
    """
    try:
        _refuse_special(path, os.stat(path).st_mode, what)  # devices are never even opened
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except NotADirectoryError:  # a parent is a file: the file does not exist either
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path)) from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        _refuse_special(path, info.st_mode, what)  # replaced between stat and open
        if info.st_size > limit:
            raise _too_big(path, what, f"is {info.st_size:,} bytes", limit)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, 1 << 20))  # not one buffer of `limit` bytes per read
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:  # it grew after fstat
        raise _too_big(path, what, "grew past the limit while being read", limit)
    return b"".join(chunks)


def _refuse_special(path: Path, mode: int, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "not a regular file")
    raise InputError(f"{what} {path} is {kind}, not a regular file", hint=f"point to the {what} itself (a regular file)")


def _too_big(path: Path, what: str, how: str, limit: int) -> InputError:
    return InputError(f"{what} {path} {how}; the limit is {limit:,} bytes, refusing to read it",
                      hint=f"a {what} is normally a few kB; check that this is the right file")


__all__ = ["DEFAULT_LIMIT", "InputError", "read_input"]
