"""What the command and openai runtimes share: the stage log, output capture, the artifact rule."""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections import deque
from collections.abc import Callable
from pathlib import Path

from teambot.errors import AgentError
from teambot.fsutil import atomic_write, open_append
from teambot.redact import RedactingStream
from teambot.runtimes.base import StageRequest

CHUNK = 64 * 1024  # a line longer than this is logged without waiting for its newline
TAIL_LINES, TAIL_WIDTH = 64, 200  # what `Capture.tail` can give back
TAIL_KEEP = 4096  # characters of each of those lines kept: room for escape sequences before the text


class StageLog:
    """A stage's log file: whole lines appended as they arrive, secrets redacted, teambot's notes."""

    def __init__(self, path: Path, redact: Callable[[str], str]) -> None:
        self.redact = redact
        # logs/<STAGE>.log: no symlink at the file or at logs/ (the run directory is two up)
        self._fh = open_append(path, root=path.parent.parent, errors="replace")

    def lines(self, lines: list[str]) -> None:
        if self._fh is not None and lines:
            self._fh.write("".join(self._clean(line) + "\n" for line in lines))
            self._fh.flush()

    def _clean(self, line: str) -> str:
        """`line` redacted; if it has control characters, also as a terminal shows it: a secret split
        by an escape or a backspace (`AB\\x1b[0mCD`, `ABX\\bCD`) is whole there, and the line is
        then logged as shown, redacted (what hid it is gone)."""
        line = self.redact(line)
        if _CONTROL.search(line):
            shown = one_line(line)
            hidden = self.redact(shown)
            if hidden != shown:
                return hidden
        return line

    def note(self, message: str) -> None:
        self.lines([f"[teambot] {message}"])

    def close(self, check: bool = True) -> None:
        """Close the file; with `check`, UnsafePathError if it was swapped (a symlink) meanwhile."""
        if self._fh is not None:
            fh, self._fh = self._fh, None
            try:
                if check:
                    fh.check()  # once per attempt: cheap, and the log's lines were not lost unnoticed
            finally:
                fh.close()


class Capture:
    """One output stream: copies whole lines of its first `cap` bytes to the log as they come.

    The bytes are decoded as they arrive (invalid UTF-8 becomes U+FFFD, counted in `invalid`)
    and secrets are redacted before anything is cut or split; the cap counts the UTF-8 of that
    text, so what is kept never grows past it. Keeps the text in `data` (as UTF-8) unless
    `keep_data` is False (stderr: only the log and the last few lines, `tail()`, are wanted,
    so a flood of it costs no memory). Past the cap nothing more is decoded or kept.
    """

    def __init__(self, cap: int, log: StageLog, stream: str, prefix: str | None = None, *, keep_data: bool = True) -> None:
        self.cap, self.log, self.stream = cap, log, stream
        self.keep_data = keep_data
        self.data = bytearray()
        self.seen = 0  # bytes let through (kept in `data` when keep_data)
        self.dropped = 0  # bytes past the cap (the cap's own chunk counted after decoding)
        self.received = 0  # bytes fed in all
        self.invalid = 0  # invalid UTF-8 bytes replaced with U+FFFD
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._secrets = RedactingStream(log.redact)
        self._partial = ""
        self._prefix = (f"[{stream}] " if stream != "stdout" else "") if prefix is None else prefix
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)

    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.dropped:
            self.dropped += len(chunk)
            return
        self._take(self._secrets.feed(self._decode(self._decoder.decode(chunk))))

    def finish(self) -> None:
        if not self.dropped:
            self._take(self._secrets.feed(self._decode(self._decoder.decode(b"", final=True))) + self._secrets.finish())
        if self._partial:
            self._text("\n")

    def text(self) -> str:
        """What was kept (`data`) as text."""
        return self.data.decode("utf-8")  # valid: built from decoded text

    def tail(self, count: int) -> list[str]:
        """The last `count` non-blank lines, without terminal escapes, redacted, each cut at TAIL_WIDTH characters."""
        if count <= 0:
            return []
        # plain before redacting: a secret split by an escape or a backspace is whole once they are gone
        shown = [clip(self.log.redact(line), TAIL_WIDTH) for line in map(plain, self._tail) if line]
        return shown[-count:]

    def _decode(self, text: str) -> str:
        text, invalid = _ESCAPED.subn("\ufffd", text)
        self.invalid += invalid
        return text

    def _take(self, text: str) -> None:
        data = text.encode("utf-8")
        room = self.cap - self.seen
        if len(data) > room:
            keep = _utf8_boundary(data, max(room, 0))
            self.log.note(f"{self.stream} reached the {self.cap:,} byte cap; dropping the rest")
            self.dropped += len(data) - keep
            data = data[:keep]
            text = data.decode("utf-8")
        if data:
            self.seen += len(data)
            if self.keep_data:
                self.data += data
            self._text(text)

    def _text(self, text: str) -> None:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if len(self._partial) > CHUNK:  # no newline for a long while: log it anyway (secrets are already gone)
            lines.append(self._partial)
            self._partial = ""
        # cleaned only when asked for: most lines never are (cutting is safe, secrets are gone)
        self._tail.extend(line[:TAIL_KEEP] for line in lines if line.strip())
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


_EOL = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what `plain` takes out or acts on (a tab stays)
_ESCAPED = re.compile("[\udc80-\udcff]")  # invalid UTF-8 bytes, decoded with surrogateescape
# Terminal escapes and control characters: none belongs in a one-line error message.
_ESCAPES = re.compile(r"""
    \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?   # OSC: window titles, hyperlinks (ended by BEL or ST)
  | \x1b[PX^_][^\x1b]*(?:\x1b\\)?       # DCS, SOS, PM and APC strings
  | \x1b\[[0-?]*[ -/]*[@-~]             # CSI: colours, cursor movement
  | \x9b[0-?]*[ -/]*[@-~]               # CSI in its 8-bit form
  | \x1b[ -/]*[0-~]                     # other escape sequences
  | [\x00-\x08\x0a-\x1f\x7f-\x9f]         # other control characters (a tab stays)
""", re.VERBOSE)
WORD_SLACK = 30  # how far back from the width `clip` looks for a space to cut at


_OVERSTRUCK = re.compile("[^\b]\b")  # a character a backspace goes back over: what follows replaces it


def plain(line: str) -> str:
    """`line` as a terminal would end up showing it: escapes and control characters removed, only
    what follows the last carriage return (a progress bar redraws the line), a character followed
    by a backspace dropped (overstruck), no trailing blanks."""
    line = line.rstrip()
    line = _ESCAPES.sub(_keep_backspace, line[line.rfind("\r") + 1:])
    while "\b" in line:
        line, count = _OVERSTRUCK.subn("", line)
        if not count:
            line = line.replace("\b", "")
    return line.rstrip()


def _keep_backspace(match: re.Match[str]) -> str:
    return "\b" if match.group() == "\b" else ""


def one_line(text: str) -> str:
    """Text from outside (a server's error message) fit for a one-line message: each of its lines
    `plain`, joined by spaces. Secrets are redacted after this, so none hides behind an escape."""
    return " ".join(line for line in map(plain, _EOL.split(text)) if line)


def clip(text: str, width: int) -> str:
    """`text` in at most `width` characters: if longer, cut between words (when a space is near the
    end), never inside a character with its combining marks, and ended with an ellipsis."""
    if len(text) <= width:
        return text
    end = width - 1
    while end > 0 and unicodedata.combining(text[end]):
        end -= 1
    if not text[end].isspace():
        space = text.rfind(" ", max(0, end - WORD_SLACK), end)
        end = space if space > 0 else end
    return text[:end].rstrip() + "\u2026"


def decode_output(data: bytes) -> tuple[str, int]:
    """The text of `data` and how many invalid UTF-8 bytes were replaced with U+FFFD."""
    # one U+FFFD per invalid byte, as Capture does; subn, not findall: no object per byte
    return _ESCAPED.subn("\ufffd", bytes(data).decode("utf-8", "surrogateescape"))


def artifact_stamps(request: StageRequest) -> dict[str, tuple[int, int, int] | None]:
    """What each declared artifact looks like before the agent runs (to see what it wrote)."""
    return {name: _stamp(request.artifacts_dir / name) for name in request.artifacts}


def claim_artifacts(request: StageRequest, before: dict, output: str, *, cut: str | None = None) -> dict[str, Path]:
    """Declared artifacts the agent wrote count as they are; else a single one gets the output.

    An output that is not all the agent said (`cut` says what cut it and how to avoid that)
    never becomes an artifact, nor the result of a work step that declares none (its output
    is the work): the attempt fails instead. Review and verdict steps are judged elsewhere
    (a cut review has no verdict).
    """
    produced = {}
    for name in request.artifacts:
        path = request.artifacts_dir / name
        now = _stamp(path)
        if now is not None and now != before.get(name) and now[1] > 0:
            produced[name] = path
    if cut is not None and not produced:
        if len(request.artifacts) == 1:
            raise AgentError(f"artifact {request.artifacts[0]} was not written: {cut}; a cut output is never "
                             "taken as an artifact")
        if not request.artifacts and request.step == "work":
            raise AgentError(f"the stage's output was cut short: {cut}; a cut output is never taken as the "
                             "stage's work")
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
