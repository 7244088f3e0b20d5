"""``bench export {tensorboard,mlflow} RUN_DIR``: a run directory into TensorBoard or MLflow."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``export`` and its destinations (each imported only when it runs)."""
    parser = subparsers.add_parser(
        "export",
        help="put a run directory where TensorBoard or MLflow shows it",
        description="Export a run directory (docs/integrations.md). The run is read and "
        "checked as every command reads it.",
    )
    destinations = parser.add_subparsers(dest="destination", metavar="DEST", required=True)
    board = destinations.add_parser(
        "tensorboard",
        help="write the TensorBoard event files a run lacks (bench run writes them itself)",
        description="Write tensorboard/<job>/events.* in the run directory for each finished "
        "job that has none (needs: pip install 'bench[tensorboard]').",
    )
    board.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run directory")
    board.set_defaults(handler=tensorboard_command)
    flow = destinations.add_parser(
        "mlflow",
        help="log the run to MLflow: a parent run, one nested run per job",
        description="Log the run to MLflow, one run per job under a parent run; exporting "
        "again adds only the jobs not yet there (needs: pip install 'bench[mlflow]').",
    )
    flow.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run directory")
    add_mlflow_options(flow)
    flow.set_defaults(handler=mlflow_command)


def add_mlflow_options(parser: argparse.ArgumentParser) -> None:
    """``--tracking-uri`` and ``--experiment``."""
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the folder ./mlruns)",
    )
    parser.add_argument(
        "--experiment", metavar="NAME", help="MLflow experiment (default: the suite's name)"
    )


def tensorboard_command(args: argparse.Namespace) -> int:
    """Handler of ``bench export tensorboard``."""
    from bench.export.tensorboard_events import export_run
    from bench.results.rundir import read_runs

    (run,) = read_runs([args.run_dir])
    written = export_run(run)
    for path in written:
        print(path)
    print(f"{len(written)} event files written; view them with: tensorboard --logdir {run.path}")
    return 0


def mlflow_command(args: argparse.Namespace) -> int:
    """Handler of ``bench export mlflow``."""
    from bench.export.mlflow_runs import export_run, summary
    from bench.results.rundir import read_runs

    (run,) = read_runs([args.run_dir])
    print(summary(export_run(run, args.tracking_uri, args.experiment)))
    return 0
