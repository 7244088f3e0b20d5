"""``bench baseline save RUN_DIR --out FILE``: keep a run's results as a baseline file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``baseline`` and its ``save`` action."""
    parser = subparsers.add_parser(
        "baseline",
        help="save a run's results as a baseline file for bench compare",
        description="Baseline files are versioned JSON: run metadata, machine id, the suite "
        "and one row per job with every metric.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    save = actions.add_parser("save", help="write a baseline file from a run directory")
    save.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory")
    save.add_argument("--out", type=Path, required=True, metavar="FILE", help="baseline file")
    save.set_defaults(handler=save_command)


def save_command(args: argparse.Namespace) -> int:
    """Handler of ``bench baseline save``."""
    from bench.results.baseline import load_results, save
    from bench.results.outputs import output_file

    output_file(args.out, create=False, reads=[args.run_dir])  # save() creates its folder
    results = load_results(args.run_dir)
    save(results, args.out)
    print(
        f"saved {len(results.jobs)} jobs of {results.run_id} "
        f"(machine {results.machine_id}) to {args.out}"
    )
    return 0
