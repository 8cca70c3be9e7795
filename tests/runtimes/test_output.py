"""What the runtimes share for agent output: making a line of it fit for a one-line error."""

from __future__ import annotations

from teambot.redact import Redactor
from teambot.runtimes.output import Capture, StageLog, clip, one_line, plain


def test_plain_removes_escape_sequences_and_control_characters():
    """CSI, OSC (BEL- or ST-ended), charset and 8-bit CSI sequences and control characters go; a tab stays;
    a backspace takes the character before it with it (what follows overwrites it on a terminal)."""
    line = ("\x1b[1;31mred\x1b[0m \x1b]0;title\x07\x1b]8;;https://x.test\x1b\\link\x1b]8;;\x1b\\ "
            "\x1b(B\x1b=keypad \x9b2Jcleared\tcol\x00\x08\x7f\x85end\x1b")
    assert plain(line) == "red link keypad cleared\tcoend"


def test_plain_keeps_what_a_progress_bar_ends_showing():
    """After carriage returns only the last redraw of the line is kept; a CRLF line ending is no redraw."""
    assert plain("10%\r55%\r\x1b[2Kdone: 3 files\r\n") == "done: 3 files"


def test_clip_cuts_between_words_with_an_ellipsis():
    """A long line ends at the last whole word that fits, then an ellipsis; a short one is left alone."""
    text = "alpha beta gamma delta epsilon"
    assert clip(text, 100) == text
    assert clip(text, 20) == "alpha beta gamma\u2026" and len(clip(text, 20)) <= 20


def test_clip_without_a_nearby_space_keeps_characters_whole():
    """With no space near the width the cut is mid-word, but never between a letter and its combining accent."""
    assert clip("x" * 50, 10) == "x" * 9 + "\u2026"
    accented = "e\u0301" * 30  # é as e + combining acute
    cut = clip(accented, 10)
    assert cut.endswith("\u2026") and len(cut) <= 10 and cut[-2] == "\u0301"


def test_one_line_joins_the_lines_of_server_text_without_escapes():
    """Every line of a server's text is kept (a CR is a line break here, not a redraw), escapes and controls gone."""
    assert one_line("bad \x1b[31mred \x1b]0;title\x07 \x1b[2J\r") == "bad red"
    assert one_line("<h1>Bad\r\nGateway</h1>\n\nnginx\rv1") == "<h1>Bad Gateway</h1> nginx v1"


def test_a_secret_hidden_by_an_escape_or_a_backspace_is_redacted_in_log_and_tail(tmp_path):
    """`ABC\\x1b[0mDEF` and `ABCX\\bDEF` show the secret on a terminal: the log and the tail redact it."""
    secret = "Zq8vLmN3pT5wX7rK2"
    (tmp_path / "logs").mkdir()
    log = StageLog(tmp_path / "logs" / "S.log", Redactor(environ={"ACME_TOKEN": secret}))
    capture = Capture(1 << 20, log, "stderr", keep_data=False)
    capture.feed(f"a {secret[:6]}\x1b[0m{secret[6:]} b\nc {secret[:6]}X\b{secret[6:]} d\n\x1b[1mbold\x1b[0m\n".encode())
    capture.finish()
    log.close()
    assert capture.tail(3) == ["a *** b", "c *** d", "bold"]
    text = (tmp_path / "logs" / "S.log").read_text()
    assert secret[6:] not in text and text.count("***") == 2
    assert "\x1b[1mbold\x1b[0m" in text  # a line hiding no secret keeps its escapes
