"""``summary.md``: the report's tables as GitHub-flavoured Markdown (README or CI job summary)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from bench.report.tables import Table


def markdown_table(table: Table) -> str:
    """``table``'s display view as a Markdown table; numeric columns aligned right."""
    header = "| " + " | ".join(_cell(c) for c in table.display.columns) + " |"
    rule = "|" + "|".join("---:" if n else "---" for n in table.numeric_columns()) + "|"
    rows = [
        "| " + " | ".join(_cell(v) for v in row) + " |"
        for row in table.display.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


def _cell(value: object) -> str:
    """Text safe inside a Markdown table cell: no markup, no pipes, one line."""
    text = html.escape(" ".join(str(value).split()), quote=False)
    return text.replace("|", "\\|")


def render_markdown(
    title: str,
    runs: Sequence[str],
    tables: Sequence[Table],
    notes: Sequence[str],
    warnings: Sequence[str],
) -> str:
    """The whole summary: title, runs, warnings, each table with its note, what was left out."""
    lines = [f"# {_cell(title)}", "", "Runs: " + ", ".join(_cell(r) for r in runs)]
    if warnings:
        lines += ["", "## Warnings", "", *(f"- {_cell(w)}" for w in warnings)]
    for table in tables:
        lines += ["", f"## {_cell(table.title)}", ""]
        if table.display.empty:
            lines.append("None.")
        else:
            lines.append(markdown_table(table))
        if table.note:
            lines += ["", _cell(table.note)]
    if notes:
        lines += ["", "## Not shown", "", *(f"- {_cell(n)}" for n in notes)]
    return "\n".join(lines) + "\n"
