"""The review verdict protocol: a line that is exactly `VERDICT: APPROVED` or `VERDICT: CHANGES_REQUESTED`.

The review is read as CommonMark (markdown-it-py) and the last line that renders as a line of
a top-level paragraph holding exactly the verdict wins (see `parse_verdict`). So code of every
kind, HTML blocks (`<pre>`, comments), quotes, lists, headings, a negation ("not VERDICT:
APPROVED"), markdown around it (`**VERDICT: APPROVED**`) or prose can never approve. An
approval also stands only when no later line mentions a verdict at all (`_mentions_verdict`).
"""

from __future__ import annotations

import functools
import html
import re
import sys
import unicodedata
from collections.abc import Iterator
from enum import StrEnum

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # markdown-it loads on the first review parsed, not with the executor (start-up time)
    from markdown_it import MarkdownIt
    from markdown_it.rules_block import StateBlock
    from markdown_it.rules_core import StateCore
    from markdown_it.rules_inline import StateInline
    from markdown_it.token import Token

APPROVED_LINE = "VERDICT: APPROVED"
CHANGES_LINE = "VERDICT: CHANGES_REQUESTED"


class Verdict(StrEnum):
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"


_LINES = {APPROVED_LINE: Verdict.APPROVED, CHANGES_LINE: Verdict.CHANGES_REQUESTED}
_BREAKS = ("softbreak", "hardbreak")
# Text that can render as a verdict: the word itself, or letters written as entities (`&#86;`).
_MAYBE = re.compile(r"VERDICT|&")
# Markup that can sit inside a word and vanish when rendered: emphasis, code, escapes, HTML tags.
_MARKUP = re.compile(r"[*_`~\\]|<[^>\n]*>")


def parse_verdict(text: str) -> Verdict | None:
    """The verdict of a review, or None when it has none.

    A verdict line is a line of a top-level paragraph (not in a list, quote, heading, code or
    HTML block) that renders as exactly the verdict, as plain text (not in emphasis, a link or
    a code span). The last one wins. In doubt a line does not approve (a missed verdict only
    means the reviewer is asked again; a false approval lets unreviewed work through):
    - an approval must also be written plainly: its source line is exactly `VERDICT: APPROVED`
      apart from spaces and tabs around it (no escapes, entities, no-break spaces, a BOM), in
      a paragraph without raw HTML (an inline `<pre>` may wrap it);
    - a rejection counts wherever a paragraph line renders as its text, also in a list item or
      quote and in bold (`- finding\nVERDICT: CHANGES_REQUESTED` continues the list item):
      overlooking one could let an earlier approval win;
    - a code fence that is never closed (CommonMark ends it with the document or with its list
      item) means no verdict at all: where the code was meant to end is unknown;
    - an approval followed by any line that mentions a verdict in any form (`## VERDICT:
      CHANGES_REQUESTED`, `Verdict: rejected`, a setext heading, HTML or code around it) means
      no verdict: a near-miss rejection written after it must never leave the approval standing.
    """
    if not _MAYBE.search(text):  # the parser is pure Python: skip it for reviews without a verdict
        return None
    source = re.sub(r"\r\n?", "\n", text).replace("\0", "\ufffd")  # as markdown-it normalises
    tokens = _parser().parse(source)
    if any(t.type == "fence" and not t.meta.get("closed") for t in tokens):
        return None
    lines = source.split("\n")
    verdict, approved_at = None, 0
    for opening, inline in zip(tokens, tokens[1:]):
        if opening.type != "paragraph_open" or opening.map is None:
            continue
        raw = "\n".join(lines[opening.map[0]:opening.map[1]])
        plain = opening.level == 0 and not any(c.type == "html_inline" for c in inline.children or ())
        for found, exact, line in _verdict_lines(inline, raw):
            if found == Verdict.CHANGES_REQUESTED or (exact and plain):
                verdict, approved_at = found, opening.map[0] + line
    if verdict == Verdict.APPROVED and _mentions_verdict("\n".join(lines[approved_at + 1:])):
        return None
    return verdict


def _mentions_verdict(text: str) -> bool:
    """Whether `text` names a verdict in any spelling a reader would see as one: without format
    characters (zero-width spaces, joiners), in any case or width, with entities decoded and
    markup (emphasis, code, escapes, HTML tags) inside or around the word taken out."""
    folded = _folded(text)
    if "verdict" in folded:
        return True
    if "&" in folded:  # an entity may stand for a letter, or for a format character
        folded = _folded(html.unescape(folded))
    return "verdict" in _MARKUP.sub("", folded)


def _folded(text: str) -> str:
    if not text.isascii():
        table = _format_characters()
        if not table.keys().isdisjoint(map(ord, set(text))):
            text = text.translate(table)
        text = unicodedata.normalize("NFKC", text)
    return text.casefold()


@functools.cache
def _format_characters() -> dict[int, None]:
    """A str.translate table deleting every Unicode format character (category Cf)."""
    return {c: None for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"}


def _verdict_lines(inline: Token, raw: str) -> Iterator[tuple[Verdict, bool, int]]:
    """(verdict, written plainly, its line in `raw`) for each rendered line of a paragraph whose only
    text is a verdict (written plainly: no markup on the line or around it, and its source is exactly
    the verdict; the line number is exact only for a line written plainly).

    `raw` is the paragraph's source; markdown-it's `inline.content` of a top-level paragraph
    is `raw.strip()` (which also strips Unicode spaces), so its first and last lines are
    checked against `raw`."""
    content = inline.content
    lead = len(raw) - len(raw.lstrip())
    if raw.strip() != content:  # not the paragraph markdown-it saw: trust no approval in it
        lead = -1
    segment: list[Token] = []
    depth = start = 0  # nesting (emphasis, links) before the segment; where it starts in content
    for child in [*(inline.children or ()), None]:
        if child is not None and child.type not in _BREAKS:
            segment.append(child)
            continue
        end = child.meta["newline"] if child is not None else len(content)
        # all but the opening and closing of markup (and the empty text left where `**` was)
        texts = [t for t in segment if t.nesting == 0 and (t.content or t.type != "text")]
        if len(texts) == 1 and texts[0].type == "text" and texts[0].content in _LINES:
            written = content[start:end]
            if lead >= 0:  # give back what strip() took at the paragraph's two ends
                written = raw[:lead + end] if start == 0 else written
                written = written + raw[lead + len(content):] if child is None else written
            plain = depth == 0 and len(segment) == 1 and lead >= 0 and written.strip(" \t") in _LINES
            yield _LINES[texts[0].content], plain, raw[:max(lead, 0) + start].count("\n")
        depth += sum(t.nesting for t in segment)
        segment, start = [], end + 1


def _with_newline_offset(rule):
    """Wrap an inline rule so the line breaks it makes record where their newline is in the source."""
    def wrapped(state: StateInline, silent: bool) -> bool:
        begin, count = state.pos, len(state.tokens)
        if not rule(state, silent):
            return False
        for token in state.tokens[count:]:
            if token.type in _BREAKS:
                token.meta["newline"] = state.src.find("\n", begin)
        return True
    return wrapped


def _with_closed_flag(rule):
    """Wrap the fence rule so each fence says whether a closing fence ended it (markdown-it closes
    an unfinished fence at the end of the document or of its container, silently)."""
    def wrapped(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        if not rule(state, start, end, silent):
            return False
        if not silent:
            token, last = state.tokens[-1], state.line - 1
            line = state.src[state.bMarks[last] + state.tShift[last]:state.eMarks[last]].rstrip(" \t")
            # the same test markdown-it applies to a closing line: it would have stopped at the first match
            token.meta["closed"] = (last > start and state.sCount[last] - state.blkIndent < 4
                                    and len(line) >= len(token.markup) and set(line) == {token.markup[0]})
        return True
    return wrapped


def _inline_where_a_verdict_may_be(state: StateCore) -> None:
    """markdown-it's core `inline` rule, for the paragraphs that may hold a verdict only (a
    multi-megabyte review otherwise takes a minute to parse)."""
    for token in state.tokens:
        if token.type == "inline":
            token.children = token.children or []
            if _MAYBE.search(token.content):
                state.md.inline.parse(token.content, state.md, state.env, token.children)


@functools.cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")  # html on: HTML blocks are blocks, not paragraphs
    md.core.ruler.at("inline", _inline_where_a_verdict_may_be)
    for ruler, name, wrap in ((md.inline.ruler, "newline", _with_newline_offset),
                              (md.inline.ruler, "escape", _with_newline_offset),
                              (md.block.ruler, "fence", _with_closed_flag)):
        rule = next(r for r in ruler.__rules__ if r.name == name)
        ruler.at(name, wrap(rule.fn), {"alt": list(rule.alt)})
    return md

