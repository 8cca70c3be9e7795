"""A validated memo of `teambot status` output, served before click, pydantic or the models load.

Most of a `status` is importing click, pydantic and the state models, not reading the run. So
the full path records every filesystem path the command consults, with a stat fingerprint taken
the first time it is consulted (mode, inode, device, size, mtime and ctime in ns, or absent;
recorder.py), and keeps the bytes it printed under a key of everything else the output depends
on: argv, cwd, user, host name (a run's owner on another host is taken as alive), interpreter
and its libraries, teambot's code (`code_stamp`), stdout's kind and encoding, and the
environment. The next identical invocation re-stats those paths (and probes the pid of a run's
owner found gone: `unchanged`); if every
fingerprint matches it writes the same bytes and exits 0, the way make and git's index decide
"unchanged" from stat data. Any difference, or any doubt, is the full path, which records again.
See .agent-tracking/design/status-memo.md.

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
MAGIC = b"teambot status memo\n"
real_stat = os.stat  # the recorder wraps os.stat while a status runs; fingerprints never go through it
_stamp: str | None = None


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

    On False for a plain `status` the recorder is started, so the normal path saves a memo
    (recorder.keep). Never raises: any surprise (a damaged memo included) is the normal path.
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
    from teambot.statusmemo import recorder

    try:
        recorder.start(digest)
    except Exception:
        recorder.stop()
    return False


def _key(args: list[str]) -> str:
    env = sha256()
    for name, value in sorted(os.environb.items()):
        if name not in VOLATILE_ENV:
            env.update(name + b"=" + value + b"\0")
    libraries = []  # installing, upgrading or removing a distribution changes its folder's mtime
    for folder in sys.path:
        if folder.endswith(("site-packages", "dist-packages")):
            info = fingerprint(folder, FOLLOW)
            libraries.append(f"{folder} {info and (info[1], info[4], info[5])}")
    stdout = sys.stdout  # what turns the text into bytes: a terminal keeps ANSI codes, click drops them elsewhere
    parts = [str(FORMAT), sys.version, sys.executable, str(os.geteuid()), os.uname().nodename, os.getcwd(), str(os.isatty(stdout.fileno())),
             stdout.encoding, stdout.errors, sha256(code_stamp().encode("utf-8", "surrogateescape")).hexdigest(),
             env.hexdigest(), *libraries, "", *args]
    return sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


# How a path was consulted, stored with its fingerprint: bit 0 = symlinks followed (stat, not
# lstat); bit 1 = only its kind and identity mattered (is_dir, exists, realpath's walk), so a
# directory whose entries change (a new file beside the run) does not count as changed.
# GONE: not a path but a process id that was probed (`os.kill(pid, 0)`: is a run's owner alive?)
# and found gone; the memo holds only while no process has that id (a reused id: the full path).
FOLLOW, KIND, GONE = 1, 2, 4


def unchanged(path: str, how: int, seen: tuple[int, ...] | None) -> bool:
    """Whether what was consulted is as it was when recorded (`seen`)."""
    if how == GONE:
        try:
            os.kill(int(path), 0)
        except ProcessLookupError:
            return True
        except OSError:  # another user's process has the id now
            return False
        return False
    return fingerprint(path, how) == seen


def summary(st, how: int) -> tuple[int, ...]:
    """The fingerprint of a stat result, as `how` consulted it."""
    if how & KIND and st.st_mode & 0o170000 != 0o120000:  # a symlink keeps its ctime: its target is what counts
        return (st.st_mode & 0o170000, st.st_ino, st.st_dev)
    return (st.st_mode, st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def fingerprint(path: str, how: int) -> tuple[int, ...] | None:
    """The path's fingerprint now (None: absent); OSError when it cannot be looked at."""
    try:
        return summary(real_stat(path, follow_symlinks=bool(how & FOLLOW)), how)
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
    body = blob[len(MAGIC) + 32:]
    if not blob.startswith(MAGIC) or sha256(body).digest() != blob[len(MAGIC):len(MAGIC) + 32]:
        return False
    key, entries, output = marshal.loads(body)
    if key != digest or type(output) is not bytes:
        return False
    for path, how, seen in entries:
        if not unchanged(path, how, seen):
            return False
    stdout = sys.stdout
    stdout.flush()
    stdout.buffer.write(output)
    stdout.buffer.flush()
    return True


