"""A validated memo of `teambot status` output, served before click, pydantic or the models load.

Most of a `status` is importing click, pydantic and the state models, not reading the run. So
the slow path records every filesystem path the command consults, with a stat fingerprint taken
the first time it is consulted (mode, inode, device, size, mtime and ctime in ns, or "absent"),
and keeps the bytes it printed under a key of everything else the output depends on: argv,
cwd, the interpreter, teambot's code (`code_stamp`), whether stdout is a terminal, and the
environment. The next identical invocation re-stats those paths; if every fingerprint matches
it writes the same bytes and exits 0, the way make and git's index decide "unchanged" from
stat data. Any difference, or any doubt, is the normal path, which records again.

What is recorded: `open` (all of them, through an audit hook), `os.listdir` / `os.scandir`
(and so glob and pathlib's glob: the directory's own fingerprint, whose mtime and ctime change
when an entry is added or removed), and `os.stat` / `os.lstat` (not audited: wrapped while
recording; pathlib and os.path call them at call time). Imports are not the command's inputs
(the key holds the code) and paths under the interpreter, site-packages, teambot's modules,
/sys, /dev and teambot's cache are skipped. A memo is saved only for a still run (the caller
says so from the report), when nothing reached /proc, a process, a socket or the clock's
neighbourhood: no fingerprint within RACY_NS of now (timestamps are coarse, as in git's
"racy" index entries), and every path still as first seen. See
.agent-tracking/design/status-memo.md.

Standard library only, and little of it (marshal and the sha256 module; no json, no hashlib):
the fast path's whole budget is a few milliseconds.
"""

from __future__ import annotations

import marshal
import os
import sys

FORMAT = 1
KEEP = 64  # memos kept (the oldest go first)
RACY_NS = 2_000_000_000  # a file changed this close to the save could change again unseen
BYPASS = "TEAMBOT_NO_STATUS_CACHE"  # set (not "0"): neither read nor write a memo
# Shell bookkeeping that differs between identical invocations and that teambot never reads.
VOLATILE_ENV = frozenset({b"_", b"OLDPWD", b"PWD", b"SHLVL"})
_MAGIC = b"teambot status memo\n"
# Events after which the output may depend on more than files: no memo is saved.
_SPOILERS = ("subprocess.", "socket.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.system",
             "os.kill", "os.killpg", "os.chdir", "os.fchdir", "pty.spawn")
_real_stat, _real_lstat = os.stat, os.lstat
_stamp: str | None = None
_active: _Recorder | None = None
_hooked = False


def sha256(data: bytes = b""):
    """hashlib.sha256 without importing hashlib (OpenSSL: ~2 ms of the fast path's budget)."""
    try:
        from _sha256 import sha256 as new  # Python 3.11
    except ImportError:
        try:
            from _sha2 import sha256 as new  # 3.12+
        except ImportError:
            from hashlib import sha256 as new
    return new(data)


def code_stamp() -> str:
    """teambot's version and the size and mtime of each of its modules: what other code made is not reused."""
    global _stamp
    if _stamp is None:
        import teambot

        found = [teambot.__version__]
        todo = [os.path.dirname(os.path.abspath(teambot.__file__))]
        while todo:
            with os.scandir(todo.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name not in ("__pycache__", "data"):
                            todo.append(entry.path)
                    elif entry.name.endswith(".py"):
                        info = entry.stat()
                        found.append(f"{entry.path} {info.st_size} {info.st_mtime_ns}")
        _stamp = "\n".join(sorted(found))
    return _stamp


def cache_root() -> str | None:
    """$XDG_CACHE_HOME/teambot, else ~/.cache/teambot (None: no home directory)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        home = os.environ.get("HOME", "")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return os.path.join(base, "teambot")


def plain_status(argv: list[str]) -> list[str] | None:
    """The arguments after `status` when argv is `status [FEATURE] [--json] [--workspace DIR]`, else None."""
    if not argv or argv[0] != "status":
        return None
    rest, i, feature = argv[1:], 0, False
    while i < len(rest):
        arg = rest[i]
        if arg == "--workspace":
            i += 1  # click takes the next word as the value, whatever it is
            if i == len(rest):
                return None
        elif arg != "--json" and not arg.startswith("--workspace="):
            if arg.startswith("-") or feature:
                return None  # --help, --debug, an unknown option, a second FEATURE: click's to answer
            feature = True
        i += 1
    return rest


def served(argv: list[str]) -> bool:
    """Write the memo's output when everything it was made from is unchanged (True); else False.

    On False for a plain `status` the recorder is started, so the normal path saves a memo (see
    `keep`). Never raises: any surprise (a damaged memo included) is the normal path.
    """
    try:
        args = plain_status(argv)
        if args is None or os.environ.get(BYPASS, "0") not in ("", "0"):
            return False
        digest = _key(args)
    except Exception:  # the memo may only make status faster, never break it
        return False
    try:
        if _replay(digest):
            return True
    except Exception:
        pass
    try:
        _record(digest)
    except Exception:
        _stop()
    return False


def _key(args: list[str]) -> str:
    env = sha256()
    for name, value in sorted(os.environb.items()):
        if name not in VOLATILE_ENV:
            env.update(name + b"=" + value + b"\0")
    libraries = []  # installing, upgrading or removing a distribution changes its folder's mtime
    for folder in sys.path:
        if folder.endswith(("site-packages", "dist-packages")):
            info = _fingerprint(folder, _FOLLOW)
            libraries.append(f"{folder} {info and (info[1], info[4], info[5])}")
    stdout = sys.stdout  # what turns the text into bytes: a terminal keeps ANSI codes, click drops them elsewhere
    parts = [str(FORMAT), sys.version, sys.executable, str(os.geteuid()), os.getcwd(), str(os.isatty(stdout.fileno())),
             stdout.encoding, stdout.errors, sha256(code_stamp().encode("utf-8", "surrogateescape")).hexdigest(),
             env.hexdigest(), *libraries, "", *args]
    return sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


# How a path was consulted, stored with its fingerprint: bit 0 = symlinks followed (stat, not
# lstat); bit 1 = only its kind and identity mattered (is_dir, exists, realpath's walk), so a
# directory whose entries change (a new file beside the run) does not count as changed.
_FOLLOW, _KIND = 1, 2
# Callers of os.stat / os.lstat that return nothing but the file's kind (or its absence).
_PREDICATES = frozenset({"exists", "lexists", "is_dir", "isdir", "is_file", "isfile", "islink", "is_symlink",
                         "_joinrealpath"})


def _summary(st, how: int) -> tuple[int, ...]:
    if how & _KIND and st.st_mode & 0o170000 != 0o120000:  # a symlink keeps its ctime: its target is what counts
        return (st.st_mode & 0o170000, st.st_ino, st.st_dev)
    return (st.st_mode, st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _fingerprint(path: str, how: int) -> tuple[int, ...] | None:
    """The path's fingerprint now (None: absent); OSError when it cannot be looked at."""
    try:
        return _summary(_real_stat(path, follow_symlinks=bool(how & _FOLLOW)), how)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _replay(digest: str) -> bool:
    root = cache_root()
    if root is None:
        return False
    try:
        with open(os.path.join(root, "status", digest), "rb") as fh:
            blob = fh.read()
    except OSError:
        return False
    body = blob[len(_MAGIC) + 32:]
    if not blob.startswith(_MAGIC) or sha256(body).digest() != blob[len(_MAGIC):len(_MAGIC) + 32]:
        return False
    key, entries, output = marshal.loads(body)
    if key != digest or type(output) is not bytes:
        return False
    for path, how, seen in entries:
        if _fingerprint(path, how) != seen:
            return False
    stdout = sys.stdout
    stdout.flush()
    stdout.buffer.write(output)
    stdout.buffer.flush()
    return True


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
        self.note("/etc/localtime", _FOLLOW)  # the zone of the times the table prints (when TZ is unset)

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
                known = _fingerprint(path, how)
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
        if not rec.importing(caller):
            rec.note("." if args[0] is None else args[0], _FOLLOW)
    elif event.startswith(_SPOILERS):
        rec.spoiled = event


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
        st = _real_stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
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
    if rec.importing(caller):
        return
    how = (_FOLLOW if follow else 0) | (_KIND if rec.predicate(caller) else 0)
    if dir_fd is not None:
        rec.spoiled = "a stat relative to a directory descriptor"  # a path this memo could not find again
    elif isinstance(result, OSError):
        rec.spoiled = f"stat {path!r}: {result}"  # unreadable in a way a later look may not be
    else:
        rec.note(path, how, None if result is None else _summary(result, how))


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


def _record(digest: str) -> None:
    global _active, _hooked
    _active = _Recorder(digest)
    if not _hooked:
        sys.addaudithook(_hook)
        _hooked = True
    os.stat, os.lstat = _stat, _lstat
    if sys.stderr is not None:
        sys.stderr = _Watched(sys.stderr)


def _stop() -> _Recorder | None:
    """Stop recording (the original os.stat, os.lstat and sys.stderr back); the recorder, if one ran."""
    global _active
    rec, _active = _active, None
    if rec is not None:
        os.stat, os.lstat = _real_stat, _real_lstat
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
    rec = _stop()
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
        if _fingerprint(path, how) != seen:
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
            fh.write(_MAGIC + sha256(body).digest() + body)
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
