"""Plain-text tables with aligned columns, and text made safe for Markdown (no dependencies:
the comparison side starts fast)."""

from __future__ import annotations

import html
from collections.abc import Sequence


def align_columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Each row as one line, cells left-aligned to the widest cell of their column."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def markdown_text(value: object) -> str:
    """``value`` as one line safe in Markdown, in a table cell too: HTML escaped (no markup
    runs in a page that renders it), pipes escaped, whitespace runs made one space."""
    text = html.escape(" ".join(str(value).split()), quote=False)
    return text.replace("|", "\\|")
