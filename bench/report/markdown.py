"""``summary.md``: the report's tables as GitHub-flavoured Markdown (README or CI job summary)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from bench.report.tables import Table
from bench.text_table import markdown_text


def markdown_table(table: Table) -> str:
    """``table``'s display view as a Markdown table; numeric columns aligned right."""
    header = "| " + " | ".join(markdown_text(c) for c in table.display.columns) + " |"
    rule = "|" + "|".join("---:" if n else "---" for n in table.numeric_columns()) + "|"
    rows = [
        "| " + " | ".join(markdown_text(v) for v in row) + " |"
        for row in table.display.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


def render_markdown(
    title: str,
    descriptions: Sequence[str],
    runs: Sequence[str],
    tables: Sequence[Table],
    notes: Sequence[str],
    warnings: Sequence[str],
    figures: Sequence[tuple[str, str]] = (),
) -> str:
    """The whole summary: title, the suites' descriptions, runs, warnings, each table with its
    note, links to the ``figures`` (caption, path without extension), what was left out."""
    lines = [f"# {markdown_text(title)}", ""]
    lines += [line for d in descriptions for line in (markdown_text(d), "")]
    lines += ["Runs: " + ", ".join(markdown_text(r) for r in runs)]
    if warnings:
        lines += ["", "## Warnings", "", *(f"- {markdown_text(w)}" for w in warnings)]
    for table in tables:
        lines += ["", f"## {markdown_text(table.title)}", ""]
        if table.display.empty:
            lines.append("None.")
        else:
            lines.append(markdown_table(table))
        if table.note:
            lines += ["", markdown_text(table.note)]
    if figures:
        lines += ["", "## Figures", ""]
        lines += [
            f"- [{markdown_text(caption)}]({quote(path)}.png) ([SVG]({quote(path)}.svg))"
            for caption, path in figures
        ]
    if notes:
        lines += ["", "## Not shown", "", *(f"- {markdown_text(n)}" for n in notes)]
    return "\n".join(lines) + "\n"
