"""Durable, contained file writes under a run directory.

- atomic_write: temp file in the same directory, fsync, os.replace, fsync the directory;
- make_dirs: create missing directories and fsync each into its parent (a power loss must
  not lose a directory that a commit points into);
- open_append: append to a log without following a symlink or blocking on a FIFO.

With `root` (the run directory), every directory between it and the path written must be a
real directory: a symlink there (planted by an agent, say) would send teambot's writes
outside the run. A full disk or quota becomes DiskFullError naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from teambot.errors import DiskFullError, UnsafePathError

DISK_FULL = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded"}


class disk_full_as_error:  # noqa: N801 - used as a function: `with disk_full_as_error(path):`
    """Turn a full disk or quota while writing `path` into DiskFullError (other errors pass).

    A class, not a @contextmanager generator: it wraps every write a stage makes."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            raise DiskFullError(self.path, DISK_FULL[exc.errno]) from exc
        return False


def disk_full_error(exc: BaseException) -> DiskFullError | None:
    """A DiskFullError for an ENOSPC / EDQUOT OSError anywhere in `exc`'s chain (a write no
    one mapped), else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFullError):
            return current
        if isinstance(current, OSError) and current.errno in DISK_FULL:
            where = current.filename if current.filename is not None else "a file in the workspace"
            return DiskFullError(where, DISK_FULL[current.errno])
        current = current.__cause__ or current.__context__
    return None


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_files(paths: Iterable[Path]) -> None:
    """Flush files someone else wrote (an agent's artifacts) and their directories to disk."""
    dirs = set()
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        dirs.add(path.parent)
    for directory in dirs:
        fsync_dir(directory)


def check_dirs(path: Path, root: Path) -> bool:
    """Every existing component of `path` below `root` is a real directory (not a symlink), or
    UnsafePathError. `root` itself may be reached through a symlink (a workspace on another disk).
    True when every component exists (`path` is a directory).

    Works on the path's text (one lstat per component, no pathlib): it runs before every file a
    stage writes."""
    text, base = os.fspath(path), os.fspath(root).rstrip(os.sep)
    if base and text.startswith(base + os.sep):
        parts = text[len(base) + 1:].split(os.sep)
    else:  # pathlib decides (a ValueError for a path outside root)
        parts = [str(part) for part in Path(path).relative_to(root).parts]
        base = os.fspath(root)
        if not parts:
            return os.path.isdir(base)
    current = base
    for part in parts:
        if not part:
            continue
        current = os.path.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return False
        if stat.S_ISLNK(mode):
            raise UnsafePathError(Path(current), "is a symbolic link")
        if not stat.S_ISDIR(mode):
            raise UnsafePathError(Path(current), "is not a directory")
    return True


def make_dirs(path: Path, *, root: Path | None = None, durable: bool = True) -> None:
    """Create `path` and its missing parents, fsyncing each new one into its parent (when
    `durable`); below `root`, refuse symlinked directories (see check_dirs)."""
    if root is not None and check_dirs(path, root):
        return  # all there, all real directories
    missing = []
    current = path
    while not os.path.lexists(current):
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with disk_full_as_error(directory):
            try:
                os.mkdir(directory)
            except FileExistsError:  # made by someone else meanwhile: checked again below
                pass
            if durable:
                fsync_dir(directory.parent)
    if root is not None and missing:
        check_dirs(path, root)


def atomic_write(path: Path, data: bytes | str, *, durable: bool = True, root: Path | None = None) -> None:
    """Replace `path` with `data` so that a crash at any instant leaves the old or the new file.

    os.replace swaps a symlink at `path` itself for the file, never writing through it; `root`
    also refuses symlinked directories on the way (see make_dirs). The file is created 0600,
    as tempfile.mkstemp did (an output or prompt may quote what an agent printed).
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    make_dirs(path.parent, root=root, durable=durable)
    with disk_full_as_error(path):
        fd, tmp = _temp_file(path)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        if durable:
            fsync_dir(path.parent)


def write_new(path: Path, data: bytes, *, root: Path | None = None) -> bool:
    """Create `path` with `data`, without a temp file and a rename; False (nothing written) if it exists.

    Not atomic: a crash mid-write leaves a short file. Only for files whose record carries their
    sha256 (a stage's output), so a short one is found and written again. O_EXCL|O_NOFOLLOW: never
    an existing file, symlink or hard link; `root` refuses symlinked directories (see make_dirs).
    """
    make_dirs(path.parent, root=root, durable=False)
    with disk_full_as_error(path):
        try:
            fd = os.open(path, _TEMP_FLAGS, 0o600)
        except FileExistsError:
            return False
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
    return True


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
_temp_numbers = itertools.count()


def _temp_file(path: Path) -> tuple[int, str]:
    """A new file `.<name>.<pid>-<n>.tmp` beside `path`, opened for writing (O_EXCL: never an existing
    file or symlink). tempfile.mkstemp's random names were half of an atomic write's CPU."""
    while True:
        tmp = f"{path.parent}{os.sep}.{path.name}.{os.getpid()}-{next(_temp_numbers)}.tmp"
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o600), tmp
        except FileExistsError:  # left by a dead process with the same pid: take the next number
            continue


class AppendFile:
    """A text file opened by open_append; a full disk on write or flush is DiskFullError."""

    def __init__(self, fh: TextIO, path: Path) -> None:
        self._fh = fh
        self.path = path
        held = os.fstat(fh.fileno())
        self._held = (held.st_dev, held.st_ino)  # what `path` must still name (check)

    def write(self, text: str) -> int:
        with disk_full_as_error(self.path):
            return self._fh.write(text)

    def flush(self) -> None:
        with disk_full_as_error(self.path):
            self._fh.flush()

    def write_line(self, line: str) -> None:
        """Write one whole line and hand it to the kernel (what a reader or a kill -9 then sees)."""
        with disk_full_as_error(self.path):
            self._fh.write(line)
            self._fh.flush()

    def close(self) -> None:
        with disk_full_as_error(self.path):
            self._fh.close()  # closes the descriptor even when the last flush fails

    def check(self) -> None:
        """UnsafePathError unless the path still names the file we hold open: one swapped for a
        symlink or another file mid-run (os.replace) would swallow every later line unnoticed."""
        try:
            now = os.lstat(self.path)
        except FileNotFoundError:
            raise UnsafePathError(self.path, "was removed or moved while teambot was writing it") from None
        if stat.S_ISLNK(now.st_mode):
            raise UnsafePathError(self.path, "was replaced by a symbolic link while teambot was writing it")
        if (now.st_dev, now.st_ino) != self._held:
            raise UnsafePathError(self.path, "was replaced by another file while teambot was writing it")


def open_append(path: Path, *, root: Path, errors: str = "strict") -> AppendFile:
    """Open `path` (under `root`) for appending text: created if missing; a symlink, FIFO or
    other non-regular file at `path` or a symlinked directory on the way is UnsafePathError."""
    make_dirs(path.parent, root=root)
    # O_NONBLOCK: opening a FIFO with no reader fails at once (ENXIO) instead of hanging.
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        with disk_full_as_error(path):
            fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(path, "is a symbolic link") from None
        if exc.errno == errno.ENXIO:
            raise UnsafePathError(path, "is not a regular file") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePathError(path, "is not a regular file")
    os.set_blocking(fd, True)
    return AppendFile(open(fd, "a", encoding="utf-8", errors=errors), path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()
