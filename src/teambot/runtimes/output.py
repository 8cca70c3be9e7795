"""What the command and openai runtimes share: the stage log, output capture, the artifact rule."""

from __future__ import annotations

import codecs
import re
from collections import deque
from collections.abc import Callable
from pathlib import Path

from teambot.fsutil import atomic_write, open_append
from teambot.runtimes.base import StageRequest

CHUNK = 64 * 1024  # a line longer than this is logged without waiting for its newline
TAIL_LINES, TAIL_WIDTH = 64, 200  # what `Capture.tail` can give back


class StageLog:
    """A stage's log file: whole lines appended as they arrive, secrets redacted, teambot's notes."""

    def __init__(self, path: Path, redact: Callable[[str], str]) -> None:
        self.redact = redact
        # logs/<STAGE>.log: no symlink at the file or at logs/ (the run directory is two up)
        self._fh = open_append(path, root=path.parent.parent, errors="replace")

    def lines(self, lines: list[str]) -> None:
        if self._fh is not None and lines:
            self._fh.write("".join(self.redact(line) + "\n" for line in lines))
            self._fh.flush()

    def note(self, message: str) -> None:
        self.lines([f"[teambot] {message}"])

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class Capture:
    """One output stream: copies whole lines of its first `cap` bytes to the log as they come.

    Keeps those bytes in `data` unless `keep_data` is False (stderr: only the log and the last
    few lines, `tail()`, are wanted, so a flood of it costs no memory).
    """

    def __init__(self, cap: int, log: StageLog, stream: str, prefix: str | None = None, *, keep_data: bool = True) -> None:
        self.cap, self.log, self.stream = cap, log, stream
        self.keep_data = keep_data
        self.data = bytearray()
        self.seen = 0  # bytes let through (kept in `data` when keep_data)
        self.dropped = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial = ""
        self._prefix = (f"[{stream}] " if stream != "stdout" else "") if prefix is None else prefix
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)

    def feed(self, chunk: bytes) -> None:
        room = self.cap - self.seen
        if len(chunk) > room:
            keep = chunk[: _utf8_boundary(chunk, max(room, 0))]
            if not self.dropped:
                self.log.note(f"{self.stream} reached the {self.cap:,} byte cap; dropping the rest")
            self.dropped += len(chunk) - len(keep)
            chunk = keep
        if chunk:
            self.seen += len(chunk)
            if self.keep_data:
                self.data += chunk
            self._text(self._decoder.decode(chunk))

    def finish(self) -> None:
        self._text(self._decoder.decode(b"", final=True))
        if self._partial:
            self._text("\n")

    def tail(self, count: int) -> list[str]:
        """The last `count` non-blank lines, each cut at TAIL_WIDTH characters."""
        return list(self._tail)[-count:] if count > 0 else []

    def _text(self, text: str) -> None:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if len(self._partial) > CHUNK:  # no newline for a long while: log it anyway
            lines.append(self._partial)
            self._partial = ""
        self._tail.extend(line.rstrip()[:TAIL_WIDTH] for line in lines if line.strip())
        self.log.lines([self._prefix + line for line in lines])


def _utf8_boundary(data: bytes, limit: int) -> int:
    """The largest length <= limit that does not end inside a UTF-8 character."""
    if limit >= len(data):
        return len(data)
    for back in range(1, min(4, limit) + 1):
        byte = data[limit - back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: look further back for the lead byte
        if byte >= 0xC0:
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return limit - back if need > back else limit
        return limit
    return limit


_ESCAPED = re.compile("[\udc80-\udcff]")


def decode_output(data: bytes) -> tuple[str, int]:
    """The text of `data` and how many invalid UTF-8 bytes were replaced with U+FFFD."""
    escaped = bytes(data).decode("utf-8", "surrogateescape")
    invalid = len(_ESCAPED.findall(escaped))
    return (bytes(data).decode("utf-8", "replace") if invalid else escaped), invalid


def artifact_stamps(request: StageRequest) -> dict[str, tuple[int, int, int] | None]:
    """What each declared artifact looks like before the agent runs (to see what it wrote)."""
    return {name: _stamp(request.artifacts_dir / name) for name in request.artifacts}


def claim_artifacts(request: StageRequest, before: dict, output: str) -> dict[str, Path]:
    """Declared artifacts the agent wrote count as they are; else a single one gets the output."""
    produced = {}
    for name in request.artifacts:
        path = request.artifacts_dir / name
        now = _stamp(path)
        if now is not None and now != before.get(name) and now[1] > 0:
            produced[name] = path
    if not produced and len(request.artifacts) == 1 and output.strip():
        path = request.artifacts_dir / request.artifacts[0]
        atomic_write(path, output)
        produced[request.artifacts[0]] = path
    return produced


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)
