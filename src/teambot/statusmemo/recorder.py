"""The slow path's half of the status memo: what one `status` consulted, and saving its memo.

While a plain `status` runs, every path it consults is noted with its fingerprint when first
consulted: `open` through an audit hook (hooks cannot be removed: it is a no-op when nothing is
recorded), `os.listdir` / `os.scandir` (audited; the directory's own fingerprint) and `os.stat` /
`os.lstat` (not audited: wrapped until the command ends; pathlib and os.path look them up at
call time). The import system's own looks are not inputs (the key holds the code). When the
command has printed its output, `keep` saves the memo if nothing spoiled it.
"""

from __future__ import annotations

import marshal
import os
import sys

from teambot.statusmemo import (FOLLOW, GONE, KEEP, KIND, MAGIC, RACY_NS, cache_root, fingerprint, real_stat, sha256, summary,
                                unchanged)

# Events after which the output may depend on more than files: no memo is saved.
_SPOILERS = ("subprocess.", "socket.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.system",
             "os.kill", "os.killpg", "os.chdir", "os.fchdir", "pty.spawn")
# Callers of os.stat / os.lstat that return nothing but the file's kind (or its absence).
_PREDICATES = frozenset({"exists", "lexists", "is_dir", "isdir", "is_file", "isfile", "islink", "is_symlink",
                         "_joinrealpath"})
_real_lstat = os.lstat
_active: _Recorder | None = None
_hooked = False


class _Recorder:
    """The paths one `status` consulted, each with its fingerprint when first consulted."""

    def __init__(self, digest: str) -> None:
        import teambot

        self.digest = digest
        self.cwd = os.getcwd()
        self.seen: dict[tuple[str, int], tuple[int, ...] | None] = {}
        self.spoiled = ""  # why no memo may be saved ("" while nothing did)
        skip = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, "/sys", "/dev",
                cache_root() or "/nonexistent", *(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))]
        self.skip = tuple(p.rstrip("/") + "/" for p in skip if p)
        package = os.path.dirname(os.path.abspath(teambot.__file__))
        self.package, self.data = package + "/", package + "/data/"  # packaged templates are inputs
        self.stdlib = os.path.dirname(os.__file__)
        self.imports, self.pathlib = self.stdlib + "/importlib/", self.stdlib + "/pathlib.py"
        self.note("/etc/localtime", FOLLOW)  # the zone of the times the table prints (when TZ is unset)

    def importing(self, frame) -> bool:
        """True for the import system (importlib, importlib.metadata looking for modules and
        distributions along sys.path): the code is in the key, not an input."""
        caller = frame.f_code.co_filename if frame is not None else ""
        return caller.startswith("<frozen importlib") or caller.startswith(self.imports)

    def predicate(self, frame) -> bool:
        """True when the stat comes from a standard-library function that returns only the file's
        kind (os.path.isdir, Path.exists, realpath's walk, ...), through Path.stat / Path.lstat."""
        while frame is not None and frame.f_code.co_name in ("stat", "lstat") and frame.f_code.co_filename == self.pathlib:
            frame = frame.f_back
        if frame is None or frame.f_code.co_name not in _PREDICATES:
            return False
        name = frame.f_code.co_filename
        return name == self.pathlib or name in ("<frozen genericpath>", "<frozen posixpath>") or name.startswith(self.stdlib + "/")

    def note(self, path: object, how: int, known: tuple[int, ...] | None | bool = False) -> None:
        """Remember `path` (`known`: its fingerprint as the caller just saw it, else stat it now).

        Never raises: it runs inside an audit hook and os.stat, where an exception would fail
        the command's own call. Anything it cannot make sense of spoils the memo instead.
        """
        try:
            self._note(path, how, known)
        except Exception as err:
            self.spoiled = f"{path!r}: {err!r}"

    def _note(self, path: object, how: int, known: tuple[int, ...] | None | bool) -> None:
        if isinstance(path, int):
            return  # a descriptor: its file was consulted when it was opened
        path = os.fsdecode(path)
        if not path.startswith("/"):
            path = os.path.join(self.cwd, path)
        if (path, how) in self.seen:
            return
        slashed = path + "/"
        if slashed.startswith("/proc/"):
            self.spoiled = f"read {path}"  # a process table: the output is about live processes
            return
        if slashed.startswith(self.skip) or (slashed.startswith(self.package) and not slashed.startswith(self.data)):
            return
        if known is False:
            try:
                known = fingerprint(path, how)
            except OSError as err:  # unreadable in a way a later look may not be
                self.spoiled = f"stat {path}: {err}"
                return
        self.seen[(path, how)] = known


def _hook(event: str, args: tuple) -> None:
    """The audit hook (it cannot be removed): a no-op unless a `status` is being recorded."""
    rec = _active
    if rec is None:
        return
    if event == "open" or event == "os.listdir" or event == "os.scandir":
        caller = _caller()
        if not rec.importing(caller) and not _module_setup(args[0], caller):
            rec.note("." if args[0] is None else args[0], FOLLOW)
    elif event == "os.kill" and args[1] == 0 and type(args[0]) is int and args[0] > 0:
        # a probe: is a run's owner alive? Recorded as "gone"; if it is alive, reading its start
        # time in /proc spoils the memo, so a saved memo holds it gone (unchanged() checks it still is)
        rec.seen.setdefault((str(args[0]), GONE), None)
    elif event == "socket.gethostname":
        pass  # (the host name is in the memo's key)
    elif event.startswith(_SPOILERS):
        rec.spoiled = event


def _module_setup(path: object, frame) -> bool:
    """A look at /proc by a module's own top-level code while it is imported (psutil reads
    /proc/stat and checks /proc/<its pid>/io then): part of loading the code, not of what status
    shows. Any other /proc look (a process's files: is a run's owner alive?) spoils the memo."""
    if not isinstance(path, str) or not path.startswith("/proc/"):
        return False
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def _caller():
    """The frame that called into os or the audited function (the first one outside this module)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == _HERE:
        frame = frame.f_back
    return frame


_HERE = _caller.__code__.co_filename


def _stat(path, *, dir_fd=None, follow_symlinks=True):
    """os.stat while recording: what it returns is what the command saw."""
    try:
        st = real_stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
    except (FileNotFoundError, NotADirectoryError):
        _saw(path, dir_fd, follow_symlinks, None)
        raise
    except OSError as err:
        _saw(path, dir_fd, follow_symlinks, err)
        raise
    _saw(path, dir_fd, follow_symlinks, st)
    return st


def _lstat(path, *, dir_fd=None):
    return _stat(path, dir_fd=dir_fd, follow_symlinks=False)


def _saw(path, dir_fd, follow: bool, result) -> None:
    rec = _active
    if rec is None:
        return
    caller = _caller()
    if rec.importing(caller) or _module_setup(path, caller):
        return
    how = (FOLLOW if follow else 0) | (KIND if rec.predicate(caller) else 0)
    if dir_fd is not None:
        rec.spoiled = "a stat relative to a directory descriptor"  # a path this memo could not find again
    elif isinstance(result, OSError):
        rec.spoiled = f"stat {path!r}: {result}"  # unreadable in a way a later look may not be
    else:
        rec.note(path, how, None if result is None else summary(result, how))


class _Watched:
    """sys.stderr while recording: a status that wrote anything there is not replayed (only stdout is kept)."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.used = False

    def write(self, text):
        if text:
            self.used = True
        return self._stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def start(digest: str) -> None:
    """Record what this process consults from now on, for the memo of the status keyed `digest`."""
    global _active, _hooked
    _active = _Recorder(digest)
    if not _hooked:
        sys.addaudithook(_hook)
        _hooked = True
    os.stat, os.lstat = _stat, _lstat
    if sys.stderr is not None:
        sys.stderr = _Watched(sys.stderr)


def stop() -> _Recorder | None:
    """Stop recording (the original os.stat, os.lstat and sys.stderr back); the recorder, if one ran."""
    global _active
    rec, _active = _active, None
    if rec is not None:
        os.stat, os.lstat = real_stat, _real_lstat
        if isinstance(sys.stderr, _Watched):
            if sys.stderr.used:
                rec.spoiled = rec.spoiled or "wrote to stderr"
            sys.stderr = sys.stderr._stream
    return rec


def keep(output: bytes, still: bool) -> None:
    """The command printed `output` and succeeds: save it as the memo of this invocation if it may be replayed.

    `still`: the run(s) shown are finished and nothing in the output depends on the clock (no
    waiting stage): only the caller knows. A cache that cannot be written only costs speed.
    """
    rec = stop()
    if rec is None or not still or rec.spoiled:
        return
    try:
        _save(rec, output)
    except (OSError, ValueError):
        pass


def _save(rec: _Recorder, output: bytes) -> None:
    import time

    root = cache_root()
    if root is None:
        return
    recent = time.time_ns() - RACY_NS
    entries = []
    for (path, how), seen in rec.seen.items():
        if not unchanged(path, how, seen):
            return  # changed while status read it
        if seen is not None and len(seen) == 6 and (seen[4] > recent or seen[5] > recent):
            return  # racy: a change within the timestamps' granularity would not show
        entries.append((path, how, seen))
    body = marshal.dumps((rec.digest, entries, output))
    folder = os.path.join(root, "status")
    target = os.path.join(folder, rec.digest)
    temp = os.path.join(folder, f".{rec.digest[:16]}.{os.getpid()}.tmp")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        with open(temp, "xb") as fh:
            fh.write(MAGIC + sha256(body).digest() + body)
        os.replace(temp, target)
    except OSError:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    _prune(folder)


def _prune(folder: str) -> None:
    with os.scandir(folder) as found:
        entries = [(entry.stat().st_mtime_ns, entry.path) for entry in found if len(entry.name) == 64]
    for _, path in sorted(entries)[:-KEEP]:
        os.unlink(path)
