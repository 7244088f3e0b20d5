"""``write_report``: run directories → CSV tables, ``summary.md``, figures and ``report.html``."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.report.cautions import run_warnings, throttle_warning
from bench.report.devices import device_table
from bench.report.frames import (
    MISSING_STATUS,
    epoch_frame,
    inference_frame,
    job_frame,
    unique_slugs,
)
from bench.report.gallery import Gallery, draw_gallery
from bench.report.html import Section, render_html
from bench.report.markdown import render_markdown
from bench.report.prediction import prediction_table
from bench.report.roofline import roofline_fact, roofline_table
from bench.report.tables import (
    Table,
    environment_table,
    failures_table,
    lecture_table,
    model_table,
)
from bench.report.traces import trace_tables
from bench.results.atomic import write_atomic
from bench.results.records import utc_now
from bench.results.rundir import Run

FORMATS = ("html", "csv", "md")
HTML_FILE = "report.html"
MARKDOWN_FILE = "summary.md"
FIGURES_DIR = "figures"
CSV_TABLES = ("models", "lecture", "failures")


def csv_file(table: str) -> str:
    """The file name of CSV table ``table``."""
    return f"summary_{table}.csv"


REPORT_ENTRIES = (HTML_FILE, MARKDOWN_FILE, FIGURES_DIR, *map(csv_file, CSV_TABLES))
"""Every file and folder a report writes into its folder."""


@dataclass(frozen=True)
class ReportPaths:
    """What a report wrote (``None`` or empty for formats not asked for) and what it left out."""

    out_dir: Path
    html: Path | None = None
    markdown: Path | None = None
    tables: tuple[Path, ...] = ()
    figures: tuple[Path, ...] = ()
    notes: tuple[str, ...] = ()


def parse_formats(text: str) -> frozenset[str]:
    """``"html,csv"`` → ``{"html", "csv"}``; an unknown or empty list is a ``BenchError``."""
    names = check_formats(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise BenchError(f"--format: expected some of {', '.join(FORMATS)}, got {text!r}")
    return names


def check_formats(names: Iterable[str]) -> frozenset[str]:
    """``names`` as a set, or a one-line ``BenchError`` naming the first unknown one."""
    chosen = frozenset(names)
    unknown = sorted(chosen - set(FORMATS))
    if unknown:
        raise BenchError(f"--format: unknown format {unknown[0]!r}; known: {', '.join(FORMATS)}")
    return chosen


def write_report(
    runs: Sequence[Run], out_dir: Path, formats: Collection[str] = FORMATS
) -> ReportPaths:
    """Report ``runs`` into ``out_dir`` in ``formats`` (html, csv, md).

    CSV: ``summary_models.csv``, ``summary_lecture.csv``, ``summary_failures.csv``;
    md: ``summary.md``; html: ``report.html`` and ``figures/*.png|svg``. Figures the data
    cannot support are listed in ``notes``.
    """
    formats = check_formats(formats)
    if not runs:
        raise BenchError("no run directory given")
    jobs = job_frame(runs)
    traces = trace_tables(runs, jobs[jobs["status"] != MISSING_STATUS])
    epochs = epoch_frame(list(runs), jobs)
    inference = inference_frame(list(runs), jobs)
    tables = {
        "lecture": lecture_table(jobs),
        "models": model_table(jobs),
        "failures": failures_table(jobs),
        "environment": environment_table(runs),
        "roofline": roofline_table(jobs, inference),
        "devices": device_table(jobs, epochs),
        "prediction": prediction_table(jobs),
    }
    title = "Benchmark report: " + ", ".join(dict.fromkeys(r.suite_name or "?" for r in runs))
    descriptions = list(dict.fromkeys(d for r in runs if (d := _description(r))))
    run_ids = [run.run_id for run in runs]
    throttled = _throttled_jobs(runs)
    warnings = [*_machine_warnings(runs), *throttled.values()]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(out_dir)
    if "csv" in formats:
        paths = dataclasses.replace(
            paths, tables=tuple(_write_csv(tables[n], out_dir) for n in CSV_TABLES)
        )
    notes: list[str] = []
    figures: list[tuple[str, str]] = []
    if "html" in formats:
        gallery = draw_gallery(runs, jobs, epochs, inference, out_dir / FIGURES_DIR)
        notes, figures = gallery.notes, gallery.links()
        html = render_html(
            title=title,
            descriptions=descriptions,
            generated=utc_now(),
            runs=[_run_line(run) for run in runs],
            warnings=warnings,
            tables=tables,
            plots=gallery.plots,
            sections=_sections(jobs, tables["models"], gallery, throttled, traces),
            notes=notes,
            comparisons=_comparisons(runs, out_dir),
        )
        write_atomic(out_dir / HTML_FILE, html)
        paths = dataclasses.replace(paths, html=out_dir / HTML_FILE, figures=tuple(gallery.files()))
    if "md" in formats:
        shown = [tables[n] for n in ("lecture", "models", "failures", "prediction", "environment")]
        if len(tables["devices"].data):
            shown.insert(2, tables["devices"])
        markdown = render_markdown(title, descriptions, run_ids, shown, notes, warnings, figures)
        write_atomic(out_dir / MARKDOWN_FILE, markdown)
        paths = dataclasses.replace(paths, markdown=out_dir / MARKDOWN_FILE)
    return dataclasses.replace(paths, notes=tuple(notes))


def _description(run: Run) -> str:
    """The ``description`` of the run's suite (empty where it has none)."""
    suite = run.info.get("suite")
    return str(suite.get("description") or "") if isinstance(suite, dict) else ""


def _run_line(run: Run) -> str:
    """A run in one line: id, device, machine, versions and commit."""
    env = run.environment
    device = env.get("gpu_name") or env.get("cpu_model") or "unknown device"
    commit = str(env.get("commit") or "no commit")[:12] + (" (dirty)" if env.get("dirty") else "")
    return (
        f"{run.run_id}: {device} on {env.get('machine_id', 'unknown machine')}, "
        f"torch {env.get('torch', 'n/a')}, CUDA {env.get('cuda') or 'n/a'}, commit {commit}"
    )


def _comparisons(runs: Sequence[Run], out_dir: Path) -> list[tuple[str, str]]:
    """(run id, link relative to ``out_dir``) of each run judged against a baseline."""
    return [
        (run.run_id, Path(os.path.relpath(run.comparison, out_dir)).as_posix())
        for run in runs
        if run.comparison is not None
    ]


def _machine_warnings(runs: Sequence[Run]) -> list[str]:
    """Each run's doctor warnings, named by run where the report holds several runs."""
    several = len(runs) > 1
    return [f"{run.run_id}: {w}" if several else w for run in runs for w in run_warnings(run.info)]


def _throttled_jobs(runs: Sequence[Run]) -> dict[tuple[int, str], str]:
    """(run index, job id) → a line for each job whose GPU throttled often."""
    return {
        (index, str(job["job_id"])): f"{job['job_id']}: {note}"
        for index, run in enumerate(runs)
        for job in run.jobs
        if (note := throttle_warning(job)) is not None
    }


def _write_csv(table: Table, out_dir: Path) -> Path:
    path = out_dir / csv_file(table.name)
    write_atomic(path, table.csv_text())
    return path


def _sections(
    jobs: pd.DataFrame,
    models: Table,
    gallery: Gallery,
    throttled: dict[tuple[int, str], str],
    traces: dict[str, list[Table]],
) -> list[Section]:
    """One section per model group: its facts (with where its training step lies on the
    roofline), failed and throttled jobs, own figures, trace tables and notes."""
    recorded = jobs[jobs["status"] != MISSING_STATUS]
    facts = models.display.set_index("Network")
    slugs = unique_slugs(recorded["group"].unique())
    return [
        Section(
            group=str(group),
            anchor=f"model-{slugs[str(group)]}",
            facts=[
                *facts.loc[group].items(),
                ("Roofline", roofline_fact(members) or "n/a"),
            ],
            plots=gallery.by_group.get(str(group), []),
            shared=gallery.shared(str(group)),
            failures=[
                f"{j.job_id} (seed {j.seed:.0f}): {j.status}: {j.error or 'no message'}"
                for j in members[members["status"] != "ok"].itertuples()
            ],
            warnings=[
                throttled[key]
                for key in zip(members["run"], members["job_id"], strict=True)
                if key in throttled
            ],
            notes=gallery.group_notes.get(str(group), []),
            traces=traces.get(str(group), []),
        )
        for group, members in recorded.groupby("group", sort=False)
    ]
