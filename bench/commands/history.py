"""``bench history``: a metric over commits from the history database, with its steps."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.errors import BenchError

DEFAULT_DB = Path("reports/history.sqlite")
PLOT_FORMATS = (".png", ".svg")


def add_parser(subparsers: Any) -> None:
    """Register ``history``."""
    parser = subparsers.add_parser(
        "history",
        help="a metric over commits with detected steps; the machine's noise; a static site",
        description="Print (and plot) a metric's values per commit, in the order commits were "
        "first measured, and mark steps beyond the noise (docs/regressions.md).",
    )
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="history database")
    parser.add_argument(
        "--record",
        type=Path,
        nargs="+",
        default=[],
        metavar="RUN_DIR",
        help="first record these run directories (bench run records its own)",
    )
    parser.add_argument("--suite", help="suite name")
    parser.add_argument("--model", help="model name")
    parser.add_argument("--metric", help="a metric name, e.g. epoch_time_s")
    parser.add_argument("--machine", help="machine id (needed when several are recorded)")
    parser.add_argument("--variant", help="variant (needed when several are recorded)")
    parser.add_argument("--plot", type=Path, metavar="FILE", help="write a .png or .svg figure")
    parser.add_argument(
        "--html",
        type=Path,
        metavar="DIR",
        help="write the history as a static site: index.html and a page per suite and machine",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        action="append",
        default=[],
        metavar="FILE_OR_RUN",
        help="with --html: draw this baseline's values on its suite and machine (repeatable)",
    )
    parser.add_argument(
        "--noise",
        action="store_true",
        help="print the run-to-run noise of every model and metric of --suite (per machine)",
    )
    parser.set_defaults(handler=history_command)


def history_command(args: argparse.Namespace) -> int:
    """Handler of ``bench history``."""
    from bench.regress.history import record_run

    query = (args.suite, args.model, args.metric)
    if args.baseline and args.html is None:
        raise BenchError("--baseline goes with --html DIR")
    if args.html is not None:
        if any(query) or args.noise or args.plot or args.machine or args.variant:
            raise BenchError("--html DIR takes the whole database: drop the other options")
    elif args.noise:
        if not args.suite or args.model or args.metric or args.plot:
            raise BenchError(
                "--noise takes --suite (and --machine), not --model, --metric or --plot"
            )
    elif not args.record and not all(query):
        raise BenchError(
            "--suite, --model and --metric are required (or --noise --suite, or --record RUN_DIR)"
        )
    elif any(query) and not all(query):
        raise BenchError("--suite, --model and --metric go together")
    if args.plot is not None and args.plot.suffix.lower() not in PLOT_FORMATS:
        raise BenchError(f"--plot {args.plot}: the file name must end in .png or .svg")
    _check_outputs(args)
    for run_dir in args.record:
        print(f"recorded {record_run(args.db, run_dir)} jobs of {run_dir} in {args.db}")
    if args.html is not None:
        _write_dashboard(args)
    elif args.noise:
        from bench.regress.noise import format_noise, suite_noise

        print(format_noise(args.suite, suite_noise(args.db, args.suite, args.machine)))
    elif all(query):
        _print_series(args)
    return 0


def _check_outputs(args: argparse.Namespace) -> None:
    """The database ``--record`` writes, the site of ``--html`` and the figure of ``--plot``,
    checked before anything is read or written: none may land on what the command reads."""
    from bench.regress.history import check_db_to_write
    from bench.results.outputs import output_dir, output_file

    if args.record:
        check_db_to_write(args.db, "--db", reads=args.record)
    reads = [*args.record, args.db, *args.baseline]
    if args.html is not None:
        from bench.report.dashboard import INDEX

        output_dir(args.html, "--html", create=False, reads=reads, writes=[INDEX])
    if args.plot is not None:
        output_file(args.plot, "--plot", create=False, reads=reads)


def _write_dashboard(args: argparse.Namespace) -> None:
    """The static site of ``--html``."""
    from bench.regress.dashboard import collect
    from bench.report.dashboard import INDEX, site_files, write_dashboard
    from bench.results.baseline import load_results
    from bench.results.outputs import output_dir

    baselines = [load_results(path) for path in args.baseline]
    boards = collect(args.db, baselines)
    pages = [INDEX, *site_files(boards).values()]
    reads = [args.db, *args.baseline]
    files = write_dashboard(boards, output_dir(args.html, "--html", reads=reads, writes=pages))
    print(f"dashboard: {files[0]} ({len(files) - 1} suite page(s))")


def _print_series(args: argparse.Namespace) -> None:
    """One metric's series, its steps and, with ``--plot``, its figure."""
    from bench.regress.history import detect_steps, format_series, load_series, noise_scale
    from bench.results.records import METRICS

    series = load_series(
        args.db, args.suite, args.model, args.metric, machine_id=args.machine, variant=args.variant
    )
    metric = METRICS[args.metric]
    steps = detect_steps(series.points, metric.higher_is_better)
    print(format_series(series, steps, noise_scale(series.points)))
    if args.plot is not None:
        from bench.regress.history_plot import plot_series
        from bench.results.outputs import output_file

        plot_series(series, steps, output_file(args.plot, "--plot"))
        print(f"plot: {args.plot}")
