"""Plain-text tables with aligned columns, and text made safe for Markdown and for file names
(no dependencies: the comparison side starts fast)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence


def align_columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Each row as one line, cells left-aligned to the widest cell of their column."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def markdown_text(value: object) -> str:
    """``value`` as one line of plain text in GitHub-flavoured Markdown, a table cell included:
    whatever it holds renders as those characters and never as markup, a link or an image.

    Whitespace runs become one space; HTML's ``& < >`` are escaped (no tag, entity or ``<url>``
    autolink); Markdown's own syntax is backslash-escaped: ``\\ ` * ~ | [ ] $`` everywhere,
    ``_`` where it could open or close emphasis (``epoch_time_s`` stays as it is), a block
    marker at the start (``#``, ``-``, ``+``, ``=``, ``1.``); and GitHub's autolinks are broken
    (``https\\://``, ``www\\.``, and an empty HTML comment before an ``@``: GitHub links an
    e-mail address whatever escapes it carries)."""
    text = html.escape(" ".join(str(value).split()), quote=False)
    text = _EMAIL_AT.sub("<!-- -->@", text)  # first: GitHub finds addresses in unescaped text
    text = _MARKDOWN_SYNTAX.sub(r"\\\g<0>", text)
    text = _UNDERSCORES.sub(_underscores, text)
    text = text.replace("://", "\\://")
    text = _WWW.sub(r"\g<1>\\.", text)
    text = _BLOCK_MARKER.sub(r"\\\g<0>", text, count=1)
    return _LIST_NUMBER.sub(r"\g<1>\\\g<2>", text, count=1)


def markdown_code(value: object) -> str:
    """``value`` as a Markdown code span on one line: shown exactly, nothing in it interpreted
    (its fence is longer than any run of backticks inside)."""
    text = " ".join(str(value).split())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def file_name_part(text: str, fallback: str) -> str:
    """``text`` as part of one file name: each run of characters other than letters, digits,
    ``.`` and ``-`` becomes ``-`` (no path separator, so a name never leaves its folder);
    ``fallback`` where nothing is left."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or fallback


# Characters with a meaning anywhere in a line of GFM (code, emphasis, strikethrough, table
# cells, links and images, math).
_MARKDOWN_SYNTAX = re.compile(r"[\\`*~|\[\]$]")
_UNDERSCORES = re.compile("_+")
_WWW = re.compile(r"(www)\.", re.IGNORECASE)
# GitHub links an e-mail address (loosely found, after any escapes) at its "@"; one that
# starts the text has nothing before it to link (and a comment there would start HTML).
_EMAIL_AT = re.compile(r"(?<=.)@")
# A line starting so is a heading, a list item, a setext underline or a thematic break.
_BLOCK_MARKER = re.compile(r"^(?:#{1,6}|\++|=+|-+)(?= |$)")
_LIST_NUMBER = re.compile(r"^(\d{1,9})([.)])(?= |$)")


def _underscores(run: re.Match[str]) -> str:
    """An ``_`` run, escaped unless it sits between two letters or digits (where it can
    neither open nor close emphasis)."""
    text, start, end = run.string, run.start(), run.end()
    inside = start > 0 and end < len(text) and text[start - 1].isalnum() and text[end].isalnum()
    return run.group() if inside else "\\_" * len(run.group())
