"""Markdown to HTML for the dashboard: markdown-it-py with raw HTML off, so agent text is shown, never run."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt

    # html=False escapes raw HTML; markdown-it's validateLink refuses javascript:, vbscript:, data: (but images) links
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")


def markdown_html(text: str) -> str:
    return _parser().render(text)
