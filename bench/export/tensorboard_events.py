"""TensorBoard event files of a run's jobs, written from their records.

Each finished job gets ``tensorboard/<job_id>/events.out.tfevents.*`` in the run directory: its
epoch scalars (``fields.EPOCH_SCALARS``, step = epoch), its settings as hparams and its final
metrics (``fields.FINAL_METRICS``), so that ``tensorboard --logdir reports/`` shows every run.
The file is written beside the folder and moved into it whole; a job that has one keeps it.
``tensorboard`` is an optional extra (``pip install 'bench[tensorboard]'``): without it, no
event files, and ``bench run`` says so once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.errors import BenchError, WriteError, os_errors
from bench.export.fields import epoch_scalars, final_metrics, job_epochs, job_params, require
from bench.results.records import FINISHED_STATUSES
from bench.results.rundir import TENSORBOARD_DIR, Run, real_path

EXTRA = "tensorboard"
EVENTS_PREFIX = "events.out.tfevents."


def missing_note() -> str | None:
    """A line saying event files are left out, where ``tensorboard`` is not installed."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return f"note: no TensorBoard event files (install them with: pip install 'bench[{EXTRA}]')"
    return None


def job_folder(run_dir: Path, job_id: str) -> Path:
    """Where a job's event file lies."""
    return run_dir / TENSORBOARD_DIR / job_id


def write_job_events(run: Run, job: Mapping[str, Any]) -> Path | None:
    """The event file of ``job`` (a job record of ``run``), written where the job finished and
    has none yet; ``None`` where nothing was written."""
    folder = job_folder(run.path, str(job["job_id"]))
    if job["status"] not in FINISHED_STATUSES or _events(folder):
        return None
    require("tensorboard", EXTRA)
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    if not real_path(folder).is_relative_to(real_path(run.path)):
        raise BenchError(f"{folder}: leads out of the run directory {run.path}")
    with os_errors(folder, "write", WriteError):
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=folder.parent))
        try:
            with SummaryWriter(log_dir=str(staging)) as writer:
                for scalar in epoch_scalars(job_epochs(run, str(job["job_id"]))):
                    writer.add_scalar(
                        scalar.tag, scalar.value, scalar.step, walltime=scalar.wall_time
                    )
                metrics = final_metrics(job)
                for summary in hparams(job_params(run, job), metrics):
                    writer.file_writer.add_summary(summary)
                for tag, value in metrics.items():
                    writer.add_scalar(tag, value, int(job["epochs"]))
            (written,) = _events(staging)
            os.replace(written, folder / written.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder / written.name


def export_run(run: Run) -> list[Path]:
    """The event files of every finished job of ``run`` that has none yet."""
    return [path for job in run.jobs if (path := write_job_events(run, job)) is not None]


def _events(folder: Path) -> list[Path]:
    return sorted(folder.glob(EVENTS_PREFIX + "*")) if folder.is_dir() else []
