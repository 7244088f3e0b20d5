"""``bench compare``: a new run against a baseline; exit 1 when something regressed."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.commands.history import DEFAULT_DB

FORMATS = ("table", "md", "json", "junit")


def add_parser(subparsers: Any) -> None:
    """Register ``compare``."""
    parser = subparsers.add_parser(
        "compare",
        help="compare a run with a baseline; exit 1 on a regression",
        description="Compare every metric of every model of NEW with BASE (run directories "
        "or baseline files). Exit 0 when nothing regressed, 1 when something did, 2 for a "
        "usage error. The rule is in docs/regressions.md.",
    )
    parser.add_argument("new", type=Path, metavar="NEW", help="the run to judge")
    parser.add_argument("base", type=Path, metavar="BASE", help="the baseline")
    parser.add_argument(
        "--fail-on",
        default="",
        metavar="SPEC",
        help="thresholds overriding the suite's and the defaults, e.g. "
        "'epoch_time_s:+10%%,test_acc:-1.0' (relative %% or absolute; the sign names the bad "
        "direction); 'none' turns gating off",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument(
        "--allow-cross-machine",
        action="store_true",
        help="compare runs from different machine ids (flagged in the output)",
    )
    parser.add_argument(
        "--allow-cross-suite",
        action="store_true",
        help="compare runs of different suites (flagged in the output)",
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="write the output there (stdout gets the table)"
    )
    parser.add_argument(
        "--history-db",
        type=Path,
        default=DEFAULT_DB,
        metavar="DB",
        help="history database whose earlier runs give the machine's run-to-run noise "
        f"(default: {DEFAULT_DB}; 'none' to ignore the history)",
    )
    parser.set_defaults(handler=compare_command)


def compare_command(args: argparse.Namespace) -> int:
    """Handler of ``bench compare``."""
    from bench.regress.compare import compare_runs, resolve_thresholds
    from bench.regress.compare_formats import RENDERERS, format_table
    from bench.regress.noise import machine_noise
    from bench.results.atomic import write_atomic
    from bench.results.baseline import load_results
    from bench.results.outputs import output_file
    from bench.suite.thresholds import parse_fail_on

    fail_on = parse_fail_on(args.fail_on)
    db = None if str(args.history_db) == "none" else args.history_db
    if args.out is not None:
        output_file(args.out, create=False, reads=[args.new, args.base, *([db] if db else [])])
    new, base = load_results(args.new), load_results(args.base)
    comparison = compare_runs(
        new,
        base,
        resolve_thresholds(new, base, fail_on),
        allow_cross_machine=args.allow_cross_machine,
        allow_cross_suite=args.allow_cross_suite,
        noise=machine_noise(db, new),
    )
    text = RENDERERS[args.format](comparison)
    if args.out is None:
        print(text, end="")
    else:
        write_atomic(output_file(args.out), text)
        print(format_table(comparison), end="")
    return 1 if comparison.regressed else 0
