"""``report.html``: one self-contained page (images inlined as data URIs, no network access)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jinja2

from bench.report.figures import Plot
from bench.report.tables import Table

TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class Section:
    """The part of the page about one model group: its figures, failures and notes."""

    group: str
    anchor: str
    facts: list[tuple[str, str]]
    plots: list[Plot]
    shared: list[Plot]
    failures: list[str]
    warnings: list[str]
    notes: list[str]
    traces: list[Table]


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:`` URI for an ``img`` element."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def environment() -> jinja2.Environment:
    """The templates of ``bench/report/templates``, autoescaped, strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bench.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )
    env.filters["data_uri"] = data_uri
    env.globals["zip"] = zip
    return env


def render_html(
    *,
    title: str,
    descriptions: Sequence[str],
    generated: str,
    runs: Sequence[str],
    warnings: Sequence[str],
    tables: dict[str, Table],
    plots: Sequence[Plot],
    sections: Sequence[Section],
    notes: Sequence[str],
    comparisons: Sequence[tuple[str, str]] = (),
) -> str:
    """The page; every value from the runs is HTML-escaped by the template engine.
    ``comparisons``: (run id, relative link) of each run's comparison with a baseline."""
    context: dict[str, Any] = {
        "title": title,
        "descriptions": list(descriptions),
        "generated": generated,
        "runs": list(runs),
        "warnings": list(warnings),
        "plots": list(plots),
        "sections": list(sections),
        "notes": list(notes),
        "comparisons": list(comparisons),
        "failure_count": len(tables["failures"].display),
        **tables,
    }
    return environment().get_template(TEMPLATE).render(context)
