"""``bench report RUN_DIR [RUN_DIR ...]``: tables, figures, summary.md and report.html."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.errors import BenchError


def add_parser(subparsers: Any) -> None:
    """Register ``report`` (the reporting code is imported only when the command runs)."""
    parser = subparsers.add_parser(
        "report",
        help="write tables, figures, summary.md and report.html for run directories",
        description="Report one or more run directories: per-model tables over seeds (CSV "
        "and Markdown), figures (PNG and SVG) and one self-contained report.html. Reads only "
        "the files of the runs; needs no torch.",
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run directory")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where to write (default: the run directory; required for several)",
    )
    parser.add_argument(
        "--format",
        dest="formats",
        default="html,csv,md",
        metavar="LIST",
        help="comma-separated formats among html, csv, md (default: all)",
    )
    parser.set_defaults(handler=report_command)


def report_command(args: argparse.Namespace) -> int:
    """Handler of ``bench report``."""
    from bench.report import REPORT_ENTRIES, parse_formats, write_report
    from bench.results.outputs import output_dir
    from bench.results.rundir import read_runs

    formats = parse_formats(args.formats)
    if args.out is None and len(args.run_dirs) > 1:
        raise BenchError("--out DIR is required when reporting several run directories")
    out = args.out if args.out is not None else args.run_dirs[0]
    own = args.run_dirs[0] if len(args.run_dirs) == 1 else None  # the default: the run itself
    flag = "--out" if args.out is not None else "RUN_DIR"
    output_dir(out, flag, create=False, reads=args.run_dirs, writes=REPORT_ENTRIES, own=own)
    runs = read_runs(args.run_dirs)
    paths = write_report(runs, out, formats)
    for path in (paths.html, paths.markdown, *paths.tables):
        if path is not None:
            print(path)
    if paths.figures:
        print(f"{out / 'figures'} ({len(paths.figures)} files)")
    for note in paths.notes:
        print(f"not shown: {note}")
    return 0
