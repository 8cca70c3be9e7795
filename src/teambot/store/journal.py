"""The write-ahead journal of a run: checksummed records appended to segment files.

Format (see .agent-tracking/design/journal.md). A segment is `journal/<first seq, 12 digits>.wal`:
a header line `teambot-journal 1`, then one record per line:

    <crc32 of the rest, 8 hex> <seq> <kind> <key> <payload JSON>\\n

`kind` is `s` (a StageRecord, key = stage name), `c` (a ChildRecord, key = child id) or `r`
(the RunRecord, key `-`). Keys hold no spaces (names.py). The header and key let a reader keep
only each record's newest payload and parse JSON for those alone, so reading a 100,000-record
journal costs a checksum and a split per line.

A record is committed once it is complete on disk: a last record that is cut short or fails
its checksum was being written when the process (or the machine) stopped, and is ignored (a
"torn tail"). A bad record with a good one after it cannot come from a crash of the writer,
which appends in order: that is damage, reported with the file and byte offset, never skipped.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from teambot.errors import DiskFullError, StateError
from teambot.fsutil import DISK_FULL, fsync_dir, make_dirs
from teambot.store.snapshot import Moved  # a segment vanished while read: the writer took a snapshot meanwhile

JOURNAL_VERSION = 1
HEADER = b"teambot-journal %d\n" % JOURNAL_VERSION
_HEADER_PREFIX = b"teambot-journal "
SUFFIX = ".wal"
KINDS = (b"s", b"c", b"r")
MAX_SEGMENT_BYTES = 1 << 30  # a reader refuses a segment this large: damage, not a journal
_HEAD = 256  # bytes of a record's line that hold its checksum, seq, kind and key (a longer head is split whole)

# Test hook (power-loss tests only): after every flush, append "<segment> <flushed length> <time
# the flush began>" to this file (and "snapshot 0 <time>" when a snapshot replaces the segments),
# so a test can drop whatever a power cut at that instant would have lost.
FLUSH_LOG_ENV = "TEAMBOT_TEST_FLUSH_LOG"


def segment_name(first_seq: int) -> str:
    return f"{first_seq:012d}{SUFFIX}"


def encode(seq: int, kind: bytes, key: str, payload: bytes) -> bytes:
    body = b"%d %s %s %s" % (seq, kind, key.encode("utf-8"), payload)
    return b"%08x %s\n" % (zlib.crc32(body), body)


@dataclass
class Problem:
    """One thing wrong with the journal: where, and what."""

    path: Path
    offset: int
    what: str

    def __str__(self) -> str:
        return f"{self.path} at byte {self.offset}: {self.what}"


@dataclass
class Scan:
    """What the journal holds after the snapshot's `after` seq: each key's newest payload."""

    after: int
    last_seq: int = 0
    records: int = 0  # records read after `after`
    newest: dict[tuple[bytes, bytes], tuple[int, bytes, Path, int]] = field(default_factory=dict)  # (kind, key) -> seq, payload, file, offset
    torn: Problem | None = None  # a torn last record (ignored)
    problems: list[Problem] = field(default_factory=list)  # damage: never skipped by a loader
    segments: list[Path] = field(default_factory=list)
    first_seq: int | None = None  # the first seq the journal holds (rebuilding without a snapshot needs 1)


def segments(directory: Path) -> list[Path]:
    """The segment files of a journal directory, oldest first (by their first seq)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise StateError(f"{directory} is a file, where teambot keeps the run's journal (a directory)",
                         hint="move it aside; `teambot doctor` shows what the run still holds") from None
    found = []
    for name in names:
        if name.endswith(SUFFIX) and name[: -len(SUFFIX)].isdigit():
            found.append((int(name[: -len(SUFFIX)]), directory / name))
    return [path for _, path in sorted(found)]


def _read_segment(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise Moved() from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):
            raise StateError(f"{path} is not a regular file (a journal segment)", hint="move it aside") from None
        raise StateError(f"{path} cannot be read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StateError(f"{path} is not a regular file (a journal segment)", hint="move it aside")
        if info.st_size > MAX_SEGMENT_BYTES:
            raise StateError(f"{path} is {info.st_size:,} bytes: not a journal segment teambot wrote", hint="move it aside")
        chunks = []  # one read of the whole file (and one more finding its end): join keeps the one chunk as it is
        while chunk := os.read(fd, max(info.st_size + 1, 1 << 16) if not chunks else 1 << 22):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def scan(directory: Path, after: int) -> Scan:
    """Read every segment that may hold records after seq `after`; collect problems instead of raising.

    Raises Moved if a segment disappears while read (a reader beside a writer's snapshot).
    """
    result = Scan(after=after)
    files = segments(directory)
    # Segments are contiguous: one whose successor starts at or before after+1 holds nothing newer.
    start = 0
    for i in range(1, len(files)):
        if int(files[i].name[: -len(SUFFIX)]) <= after + 1:
            start = i
    result.segments = files
    expected = None
    for index in range(start, len(files)):
        path = files[index]
        data = _read_segment(path)
        last_segment = index == len(files) - 1
        expected = _scan_segment(path, data, result, expected, last_segment)
    return result


def _record_head(data: bytes, at: int, stop: int) -> tuple[int, bytes, bytes] | None:
    """seq, kind and key of the record on the line at..stop (None: a checksum mismatch or malformed)."""
    try:
        if stop - at < 9 or data[at + 8] != 32 or int(data[at:at + 8], 16) != zlib.crc32(memoryview(data)[at + 9:stop]):
            return None
        seq_text, kind, key, _ = data[at + 9:stop].split(b" ", 3)
        seq = int(seq_text)
    except ValueError:
        return None
    return (seq, kind, key) if kind in KINDS else None


def _scan_segment(path: Path, data: bytes, result: Scan, expected: int | None, last_segment: bool) -> int | None:
    if not data.startswith(_HEADER_PREFIX):
        if not data.strip(b"\0") or (last_segment and b"\n" not in data and _HEADER_PREFIX.startswith(data)):
            if last_segment and data:
                result.torn = Problem(path, 0, f"torn header ({len(data)} bytes)")
            return expected  # created, nothing durable in it yet
        result.problems.append(Problem(path, 0, "not a teambot journal segment (bad header)"))
        return expected
    end = data.find(b"\n")
    if end < 0:
        if last_segment:
            result.torn = Problem(path, 0, "torn header")
        else:
            result.problems.append(Problem(path, 0, "torn header in a segment that is not the last"))
        return expected
    version = data[len(_HEADER_PREFIX):end]
    if not version.isdigit():
        result.problems.append(Problem(path, 0, "bad journal header"))
        return expected
    if int(version) > JOURNAL_VERSION:
        raise StateError(f"{path} was written by a newer teambot (journal format {int(version)}; this teambot reads "
                         f"up to {JOURNAL_VERSION})", hint="upgrade teambot (pip install -U teambot) to continue this run")
    bad: Problem | None = None
    # The hot loop of every `status`: locals only, and per line one checksum (over a memoryview:
    # no copy) and one split of the line's head (the payload is sliced out for each key's newest
    # record only, once the segment is read); keys stay bytes (decoded for the newest records only).
    crc32 = zlib.crc32
    view = memoryview(data)
    find = data.find
    after = result.after
    first_seq, last_seq, records = result.first_seq, result.last_seq, result.records
    here: dict[tuple[bytes, bytes], tuple[int, int]] = {}  # each key's newest record in this segment: seq, offset
    offset = end + 1
    while (stop := find(b"\n", offset)) >= 0:
        at, offset = offset, stop + 1
        try:
            if stop - at < 9 or data[at + 8] != 32 or int(data[at:at + 8], 16) != crc32(view[at + 9:stop]):
                raise ValueError
            seq_text, kind, key, _ = data[at + 9:stop if stop - at < _HEAD else at + _HEAD].split(b" ", 3)
            seq = int(seq_text)
            if kind not in KINDS:
                raise ValueError
        except ValueError:  # malformed, or a head longer than the window: the whole line decides
            head = _record_head(data, at, stop) if stop - at >= _HEAD else None
            if head is None:
                if bad is None:
                    bad = Problem(path, at, "checksum mismatch or malformed record")
                continue
            seq, kind, key = head
        damaged = False
        if seq != expected or bad is not None:  # the journal's first record, a gap, or a good record after a bad one
            damaged = bad is not None
            if bad is not None:  # a good record after a bad one: the bad one is damage, not a torn tail
                result.problems.append(Problem(bad.path, bad.offset, f"{bad.what}, followed by good records"))
                bad = None
            if first_seq is None:
                first_seq = seq
            if expected is not None and seq != expected and not (damaged and seq > expected):  # damage explains a gap
                result.problems.append(Problem(path, at, f"record seq {seq} where {expected} was expected "
                                                         f"({'records missing' if seq > expected else 'out of order'})"))
        expected = seq + 1
        if seq > after:
            if records == 0 and seq != after + 1 and not (damaged and seq > after):
                result.problems.append(Problem(path, at, f"the journal resumes at seq {seq}, the snapshot ends at "
                                                         f"{after}: records {after + 1}..{seq - 1} are missing"))
            records += 1
            here[kind, key] = seq, at
            last_seq = seq
    newest = result.newest
    for item, (seq, at) in here.items():  # the payloads of the newest records only
        newest[item] = (seq, data[at + 9:find(b"\n", at)].split(b" ", 3)[3], path, at)
    result.first_seq, result.last_seq, result.records = first_seq, last_seq, records
    tail = data[offset:]  # the bytes after the last newline: empty unless the last record was cut short
    if tail and bad is None:
        bad = Problem(path, offset, f"record cut short ({len(tail)} bytes, no end of line)")
    if bad is not None:
        if last_segment:
            result.torn = bad
        else:
            result.problems.append(Problem(bad.path, bad.offset, f"{bad.what} at the end of a segment that is not the last"))
    return expected


class Writer:
    """Appends records to the run's current segment; flushes with one fdatasync when asked."""

    def __init__(self, directory: Path, root: Path, *, durable: bool) -> None:
        self.directory = directory
        self.root = root
        self.durable = durable
        self._fd: int | None = None
        self._path: Path | None = None
        self.size = 0
        self.dirty = False  # written since the last flush
        self.flushes = 0
        self.broken: str | None = None  # a half-written record could not be cut off: append no more here
        self._flush_log = os.environ.get(FLUSH_LOG_ENV)
        # A flush may run on a flusher thread (group commit, store/persistence.py) while the owner
        # appends: appends need no lock (one writer thread), but closing the segment must not
        # happen under a running fdatasync, so flush and close take this lock.
        self.lock = threading.Lock()

    def append(self, seq: int, kind: bytes, key: str, payload: bytes, *, flush: bool) -> None:
        line = encode(seq, kind, key, payload)
        if self._fd is None:
            self._open(seq)
        assert self._fd is not None and self._path is not None
        start = self.size
        try:
            written = os.write(self._fd, line)
            if written < len(line):  # rare (a signal, a nearly full disk): the rest, until all is written
                view = memoryview(line)[written:]
                while view:
                    view = view[os.write(self._fd, view):]
        except OSError as exc:
            self._undo(start)
            if exc.errno in DISK_FULL:
                raise DiskFullError(self._path, DISK_FULL[exc.errno]) from None
            raise
        self.size = start + len(line)
        self.dirty = True
        if flush:
            self.flush()

    def _undo(self, length: int) -> None:
        """Cut a half-written record off, so the next one does not follow damage; else stop appending."""
        try:
            os.ftruncate(self._fd, length)
        except OSError as exc:
            self.broken = f"a half-written record at byte {length} of {self._path} could not be removed ({exc.strerror or exc})"
            raise

    def flush(self) -> None:
        """Make every record appended so far durable (one fdatasync; nothing if nothing is new).

        `dirty` is cleared before the fdatasync: a record appended meanwhile either was written
        before the call (so it is covered) or set `dirty` again (so the next flush covers it)."""
        with self.lock:
            if self._fd is None or not self.dirty:
                return
            # for the test hook: what the file holds now (an append on the engine's thread may have
            # written its bytes without having updated `size` yet; they are covered all the same)
            began, covered = time.time(), os.fstat(self._fd).st_size if self._flush_log else self.size
            self.dirty = False
            if self.durable:
                try:
                    os.fdatasync(self._fd)
                except OSError as exc:
                    self.dirty = True
                    if exc.errno in DISK_FULL:
                        raise DiskFullError(self._path, DISK_FULL[exc.errno]) from None
                    raise
                self.flushes += 1
            self._log_flush(began, covered)

    def _log_flush(self, began: float, covered: int) -> None:
        if self._flush_log:
            with open(self._flush_log, "a", encoding="utf-8") as fh:
                fh.write(f"{self._path} {covered} {began:.6f}\n")  # when the flush began: all written before is durable

    def _open(self, first_seq: int) -> None:
        make_dirs(self.directory, root=self.root, durable=self.durable)
        path = self.directory / segment_name(first_seq)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise DiskFullError(path, DISK_FULL[exc.errno]) from None
            if exc.errno == errno.EEXIST:
                raise StateError(f"{path} already exists: another process wrote this run's journal",
                                 hint="run `teambot doctor` on the run") from None
            raise
        try:
            if os.write(fd, HEADER) != len(HEADER):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as exc:
            os.close(fd)
            path.unlink(missing_ok=True)  # no half header left for the next attempt to trip on
            if exc.errno in DISK_FULL:
                raise DiskFullError(path, DISK_FULL[exc.errno]) from None
            raise
        self._fd, self._path = fd, path
        self.size = len(HEADER)
        if self.durable:
            fsync_dir(self.directory)  # the new file's name: the one directory fsync a segment costs

    def close(self) -> None:
        with self.lock:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = self._path = None
            self.size = 0
            self.dirty = False

    def drop_segments(self) -> None:
        """After a snapshot that holds every record: close the segment and delete them all."""
        self.close()
        self.broken = None  # a fresh segment starts after the snapshot
        for path in segments(self.directory):
            path.unlink(missing_ok=True)
        if self._flush_log:
            with open(self._flush_log, "a", encoding="utf-8") as fh:
                fh.write(f"snapshot 0 {time.time():.6f}\n")
