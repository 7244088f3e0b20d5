"""``bench merge RUN_DIR ... --out DIR``: run directories of one suite (shards) → one run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``merge`` (the merging code is imported only when the command runs)."""
    parser = subparsers.add_parser(
        "merge",
        help="join run directories of one suite (e.g. --shard runs) into one run and report",
        description="Join run directories of one suite document, such as the shards of "
        "'bench run --shard I/N', into one run directory with every job's records, artifacts "
        "and telemetry, the results tables and a report. The same job in two inputs is "
        "an error unless its record lines are identical. Exits 1 when jobs of the suite "
        "are in none of the runs (the merged run is written all the same), unless --partial. "
        "Needs no torch.",
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run directory")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="the merged run directory (new)"
    )
    parser.add_argument("--no-report", action="store_true", help="skip the report")
    parser.add_argument(
        "--partial",
        action="store_true",
        help="exit 0 even when jobs of the suite are in none of the runs (listed all the same)",
    )
    parser.set_defaults(handler=merge_command)


def merge_command(args: argparse.Namespace) -> int:
    """Handler of ``bench merge``."""
    from bench.run.merge import merge_runs

    result = merge_runs(args.run_dirs, args.out, sys.argv)
    print(f"merged {result.inputs} runs ({len(result.jobs)} jobs) into {result.path}")
    if not args.no_report:
        from bench.report import write_report

        print(f"report: {write_report([result.run], result.path).html}")
    if not result.absent:
        return 0
    absent = f"{len(result.absent)} jobs of the suite are in none of the runs: " + ", ".join(
        result.absent
    )
    if args.partial:
        print(f"note: {absent}", file=sys.stderr)
        return 0
    print(
        f"bench merge: incomplete: {absent} (merged run written all the same; "
        "--partial accepts a partial merge)",
        file=sys.stderr,
    )
    return 1
