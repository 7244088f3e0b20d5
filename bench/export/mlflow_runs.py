"""A run directory as MLflow runs: a parent run for the bench run (the report and its tables as
artifacts), and under it one run per job (settings as parameters, epoch metrics with their
steps, final metrics, the job's files and figures as artifacts, tags for machine, commit, suite
and variant). Each run carries ``bench.export_key``, a digest of the machine, run and job:
exporting a run again finds them, adds the jobs not yet there and refreshes the parent's
artifacts, never duplicates a job.

``mlflow`` is an optional extra (``pip install 'bench[mlflow]'``, ``mlflow-skinny`` is enough).
Without ``--tracking-uri`` (or ``MLFLOW_TRACKING_URI``), runs go into the local folder
``./mlruns``, MLflow's own file store, which works offline and needs no database library.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError, first_line
from bench.export.fields import (
    epoch_scalars,
    final_metrics,
    job_epochs,
    job_params,
    job_tags,
    require,
    run_tags,
    seconds,
)
from bench.report.build import CSV_TABLES, FIGURES_DIR, HTML_FILE, MARKDOWN_FILE, csv_file
from bench.report.frames import group_slugs, job_frame
from bench.results.outputs import check_apart
from bench.results.rundir import (
    COMPARISON_FILES,
    RUN_FILE,
    TABLES,
    Run,
    job_files,
    member_file,
)

EXTRA = "mlflow"
DEFAULT_STORE = "mlruns"
KEY_TAG = "bench.export_key"
PARENT_TAG = "mlflow.parentRunId"
REPORT_FILES = (
    RUN_FILE,
    *(f"{name}.{kind}" for name in TABLES for kind in ("csv", "parquet")),
    HTML_FILE,
    MARKDOWN_FILE,
    *(csv_file(table) for table in CSV_TABLES),
    COMPARISON_FILES["md"],
)
"""Files of a run directory (and its report) the parent run keeps, where they are there."""
BATCH = 100  # MLflow takes at most 100 parameters (1000 metrics) per log_batch


@dataclass(frozen=True)
class Exported:
    """What an export did: the parent run, the job runs it created and those already there."""

    tracking_uri: str
    experiment: str
    parent_id: str
    created: tuple[str, ...]
    kept: tuple[str, ...]


def tracking_uri(given: str | None) -> str:
    """``given``, else ``MLFLOW_TRACKING_URI``, else the local folder ``./mlruns`` (as a URI)."""
    return given or os.environ.get("MLFLOW_TRACKING_URI") or Path(DEFAULT_STORE).absolute().as_uri()


def local_store(uri: str) -> Path | None:
    """The folder of a local file store (a path, or a ``file:`` URI); ``None`` for a server or
    a database."""
    if uri.startswith("file:"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
    return None if "://" in uri else Path(uri)


def export_run(
    run: Run,
    uri: str | None = None,
    experiment: str | None = None,
    flag: str = "--tracking-uri",
) -> Exported:
    """Log ``run`` (read and checked by ``bench.results.rundir``) to MLflow at ``uri`` under
    ``experiment`` (default: the suite's name); a problem MLflow reports is a ``BenchError``,
    and so is a local store inside the run directory or any other (``flag`` names it)."""
    require("mlflow", EXTRA)
    from mlflow.exceptions import MlflowException

    uri = tracking_uri(uri)
    if (store := local_store(uri)) is not None:
        check_apart(store, flag, [run.path])
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # the store skinny can write
    name = experiment or run.suite_name or "bench"
    try:
        return _export(run, uri, name)
    except MlflowException as err:
        raise BenchError(f"MLflow at {uri}: {first_line(err)}") from None


def _export(run: Run, uri: str, experiment: str) -> Exported:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    key = _key(str(run.environment.get("machine_id") or ""), run.run_id)
    parent = _find(client, experiment_id, key) or _create_parent(client, experiment_id, run, key)
    for path in _present(run, REPORT_FILES):
        client.log_artifact(parent, str(path))
    for path in _figures(run, ""):
        client.log_artifact(parent, str(path), FIGURES_DIR)
    jobs = job_frame([run])
    slugs = group_slugs(jobs)
    groups = zip(jobs["job_id"], jobs["group"], strict=True)
    figure_slugs = {str(job_id): slugs[g] for job_id, g in groups if g in slugs}
    created, kept = [], []
    for job in run.jobs:
        job_key = _key(key, str(job["job_id"]))
        if _find(client, experiment_id, job_key) is not None:
            kept.append(str(job["job_id"]))
            continue
        figures = _figures(run, figure_slugs[str(job["job_id"])])
        _log_job(client, experiment_id, parent, run, job, job_key, figures)
        created.append(str(job["job_id"]))
    client.set_terminated(parent, "FINISHED")
    return Exported(uri, experiment, parent, tuple(created), tuple(kept))


def _create_parent(client: Any, experiment_id: str, run: Run, key: str) -> str:
    tags = {KEY_TAG: key, **run_tags(run)}
    created = client.create_run(
        experiment_id,
        start_time=_ms(run.info.get("created_utc")),
        tags=tags,
        run_name=run.run_id,
    )
    return str(created.info.run_id)


def _log_job(
    client: Any,
    experiment_id: str,
    parent: str,
    run: Run,
    job: Mapping[str, Any],
    key: str,
    figures: Iterable[Path],
) -> None:
    """One nested run for ``job``, with its settings, metrics, files and ``figures`` (the
    report's figures of its group)."""
    from mlflow.entities import Metric, Param

    job_id = str(job["job_id"])
    tags = {**job_tags(run, job), KEY_TAG: key, PARENT_TAG: parent}
    created = client.create_run(
        experiment_id, start_time=_ms(job.get("started_utc")), tags=tags, run_name=job_id
    )
    run_id = str(created.info.run_id)
    params = [Param(k, str(v)) for k, v in job_params(run, job).items()]
    now = _ms(job.get("finished_utc")) or 0
    metrics = [
        Metric(s.tag, s.value, int((s.wall_time or now / 1000) * 1000), s.step)
        for s in epoch_scalars(job_epochs(run, job_id))
    ]
    metrics += [Metric(t, v, now, int(job["epochs"])) for t, v in final_metrics(job).items()]
    for start in range(0, max(len(params), len(metrics)), BATCH):
        client.log_batch(
            run_id, metrics=metrics[start : start + BATCH], params=params[start : start + BATCH]
        )
    for path in job_files(run.path, job_id):
        client.log_artifact(run_id, str(path), str(path.parent.relative_to(run.path)))
    for path in figures:
        client.log_artifact(run_id, str(path), FIGURES_DIR)
    status = "FINISHED" if job["status"] == "ok" else "FAILED"
    client.set_terminated(run_id, status, end_time=_ms(job.get("finished_utc")))


def _find(client: Any, experiment_id: str, key: str) -> str | None:
    """The run tagged with ``key`` (a hex digest: safe in a filter)."""
    found = client.search_runs([experiment_id], f"tags.`{KEY_TAG}` = '{key}'", max_results=1)
    return str(found[0].info.run_id) if found else None


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _present(run: Run, names: Iterable[str]) -> Iterator[Path]:
    """The files ``names`` of the run directory that are there (checked: no link out)."""
    return (path for name in names if member_file(run.path, path := run.path / name))


def _figures(run: Run, group_slug: str) -> list[Path]:
    """The report's figures (those of the job group ``group_slug``, where given: the report
    names a group's figures ``<figure>_<slug>``), checked as run files."""
    folder = run.path / FIGURES_DIR
    if not folder.is_dir():
        return []
    return [
        path
        for path in sorted(folder.iterdir())
        if (not group_slug or path.stem.endswith(f"_{group_slug}")) and member_file(run.path, path)
    ]


def _ms(utc: Any) -> int | None:
    """An ISO 8601 time as milliseconds since the epoch; ``None`` where it is not one."""
    when = seconds(utc)
    return None if when is None else int(when * 1000)


def summary(done: Exported) -> str:
    """One line saying what an export did."""
    return (
        f"MLflow {done.tracking_uri}, experiment {done.experiment!r}: run {done.parent_id}, "
        f"{len(done.created)} job runs logged, {len(done.kept)} already there"
    )
