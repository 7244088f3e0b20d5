"""``bench history --html DIR``: the history as a static, self-contained site.

``index.html`` lists every suite and machine; each has a page with a chart per model × metric
(commits in order of first appearance on the x axis, every value, the commit medians, detected
steps and the baseline line where one is known), a sortable table of the latest value and last
step of each series, and the commits with their hashes and dates. Charts are inline PNG, the
style and the table-sorting script inline: the pages make no network request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bench.regress.compare import model_label, relative_change
from bench.regress.dashboard import Board, Chart
from bench.regress.history_plot import draw_series
from bench.report.figures import STYLE, new_figure, png_bytes
from bench.report.frames import unique_slugs
from bench.report.html import environment
from bench.report.tables import Table
from bench.results.atomic import write_atomic
from bench.results.records import METRICS, utc_now

INDEX = "index.html"

Cell = tuple[str, Any]
"""What a table cell shows and what it sorts by (``None``: nothing to sort)."""


@dataclass(frozen=True)
class ChartView:
    """A chart as the page shows it: title, caption, hover text and PNG."""

    title: str
    caption: str
    hover: str
    png: bytes
    mark: str  # "worse" with a worse step, "better" with better steps only, else ""


def site_files(boards: Sequence[Board]) -> dict[str, str]:
    """The file of each board's page, by its label (``<suite> on <machine>``)."""
    labels = [f"{b.suite} on {b.machine_id}" for b in boards]
    return {label: f"{slug}.html" for label, slug in unique_slugs(labels).items()}


def write_dashboard(boards: Sequence[Board], out_dir: Path) -> list[Path]:
    """Write ``index.html`` and a page per board into ``out_dir``; the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = site_files(boards)
    labels = list(pages)
    env, generated = environment(), utc_now()
    written = []
    for label, board in zip(labels, boards, strict=True):
        html = env.get_template("dashboard.html.j2").render(
            title=f"Benchmark history: {label}",
            generated=generated,
            index=INDEX,
            board=board,
            charts=[_view(board, chart) for chart in board.charts],
            series=_series_table(board),
            commits=_commits_table(board),
        )
        written.append(out_dir / pages[label])
        write_atomic(written[-1], html)
    index = env.get_template("dashboard_index.html.j2").render(
        title="Benchmark history",
        generated=generated,
        rows=[
            (pages[label], board, _step_count(board))
            for label, board in zip(labels, boards, strict=True)
        ],
    )
    write_atomic(out_dir / INDEX, index)
    return [out_dir / INDEX, *written]


def _view(board: Board, chart: Chart) -> ChartView:
    series, metric = chart.series, METRICS[chart.series.metric]
    label = model_label(series.model, series.variant)
    unit = f" ({metric.unit})" if metric.unit else ""
    steps = [
        f"step at #{board.position(series.points[s.index].commit)} {s.change_pct:+.1f}% "
        f"({'worse' if s.worse else 'better'})"
        for s in chart.steps
    ]
    latest = series.points[-1]
    commits = len(series.points)
    caption = f"{metric.label}{unit}: {commits} commit{'s' * (commits != 1)}, latest "
    caption += f"{latest.median:.4g}"
    if chart.baseline is not None:
        caption += f", baseline {chart.baseline:.4g}"
    hover = "\n".join(
        f"#{board.position(p.commit)} {p.commit[:12]} {p.first_utc}: median {p.median:.4g} "
        f"(n={len(p.values)})"
        for p in series.points
    )
    return ChartView(
        title=f"{label} · {series.metric}{unit}",
        caption="; ".join([caption, *steps]),
        hover=hover,
        png=_draw(board, chart),
        mark=_mark(chart),
    )


def _mark(chart: Chart) -> str:
    if any(step.worse for step in chart.steps):
        return "worse"
    return "better" if chart.steps else ""


def _draw(board: Board, chart: Chart) -> bytes:
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
        return png_bytes(chart_figure(board, chart))


def chart_figure(board: Board, chart: Chart) -> Figure:
    """The chart, small: commit numbers (whole ones, even for one commit) on the x axis,
    shared by every chart of the board."""
    series, metric = chart.series, METRICS[chart.series.metric]
    figure, axes = new_figure(3.8, 2.6)
    ax = axes[0, 0]
    positions = [board.position(p.commit) for p in series.points]
    draw_series(ax, series, chart.steps, positions, chart.baseline)
    ax.set_xlim(0.5, len(board.commits) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("commit #")
    ax.set_ylabel(metric.unit or metric.name)
    ax.set_title(f"{model_label(series.model, series.variant)} · {series.metric}")
    return figure


def _series_table(board: Board) -> Table:
    rows = []
    for chart in board.charts:
        series, latest = chart.series, chart.series.points[-1]
        step = chart.steps[-1] if chart.steps else None
        versus = None if chart.baseline is None else relative_change(chart.baseline, latest.median)
        rows.append(
            {
                "Model": _text(model_label(series.model, series.variant)),
                "Metric": _text(series.metric),
                "Unit": _text(METRICS[series.metric].unit),
                "Commits": _number(len(series.points), "{:d}"),
                "Latest commit": _text(latest.commit[:12]),
                "Latest median": _number(latest.median, "{:.4g}"),
                "Baseline": _number(chart.baseline, "{:.4g}"),
                "vs baseline (%)": _number(versus, "{:+.1f}"),
                "Last step at #": _number(
                    None if step is None else board.position(series.points[step.index].commit),
                    "{:d}",
                ),
                "Last step (%)": _number(None if step is None else step.change_pct, "{:+.1f}"),
                "Direction": _text("" if step is None else ("worse" if step.worse else "better")),
            }
        )
    return _table(
        "series",
        "Latest value and last step of each series",
        rows,
        "Medians over the seeds and runs of a commit; steps as in docs/regressions.md.",
    )


def _commits_table(board: Board) -> Table:
    rows = [
        {"#": _number(i, "{:d}"), "Commit": _text(commit), "First run (UTC)": _text(utc)}
        for i, (commit, utc) in enumerate(board.commits, start=1)
    ]
    return _table("commits", "Commits, in order of first run", rows)


def _step_count(board: Board) -> int:
    return sum(len(chart.steps) for chart in board.charts)


def _text(value: str) -> Cell:
    return value, value


def _number(value: float | int | None, fmt: str) -> Cell:
    return ("n/a", None) if value is None else (fmt.format(value), value)


def _table(name: str, title: str, rows: Sequence[Mapping[str, Cell]], note: str = "") -> Table:
    """A sortable report table from rows of (shown, sort key) cells."""
    keys = pd.DataFrame([{k: v[1] for k, v in row.items()} for row in rows])
    display = pd.DataFrame([{k: v[0] for k, v in row.items()} for row in rows])
    return Table(name, title, keys, display, keys.infer_objects(), note=note)
