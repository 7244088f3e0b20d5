"""``bench list``: the registered models with their facts and parameter counts.

Parameters are counted on the meta device (no memory, no weight initialisation). MACs need
a traced forward pass of each model at its input size on zero weights: about 5 s for the
whole zoo on two CPU cores, on top of about 5 s of start-up; ``--no-macs`` skips them.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.errors import BenchError

FORMATS = ("table", "json", "csv")


def add_parser(subparsers: Any) -> None:
    """Register ``list``."""
    parser = subparsers.add_parser(
        "list",
        help="registered models: family, year, feature, input size, parameters",
        description="List the registered models whose name matches PATTERN (shell-style, "
        "e.g. 'resnet*'), with parameters at their registered input size and classes.",
    )
    parser.add_argument("pattern", nargs="?", default="*", metavar="PATTERN")
    parser.add_argument(
        "--no-macs",
        dest="macs",
        action="store_false",
        help="leave out GMACs per image (fvcore, multiply-add = 1), which trace every model",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.set_defaults(handler=list_command)


def list_command(args: argparse.Namespace) -> int:
    """Handler of ``bench list``."""
    from bench.measure.static_profile import registered_facts
    from bench.models.registry import list_models

    infos = list_models(args.pattern)
    if not infos:
        raise BenchError(f"no model matches {args.pattern!r} (see `bench list`)")
    records = [registered_facts(info.name, args.macs) for info in infos]
    if args.format == "json":
        print(json.dumps(records, indent=2))
    elif args.format == "csv":
        import pandas as pd

        frame = pd.DataFrame.from_records(records)
        frame["input_size"] = frame["input_size"].map(_size_text)
        print(frame.to_csv(index=False), end="")
    else:
        print("\n".join(_table(records)))
    return 0


def _table(records: list[dict[str, Any]]) -> list[str]:
    """The terminal view, one line per model: units in the headers, sizes as CxHxW."""
    from bench.text_table import align_columns

    header = ["Name", "Family", "Year", "Salient feature", "Input (CxHxW)", "Classes", "Params"]
    header += ["GMACs"] if records and "macs" in records[0] else []
    rows = [
        [
            r["name"],
            r["family"],
            str(r["year"]),
            r["salient_feature"],
            _size_text(r["input_size"]),
            str(r["num_classes"]),
            f"{r['params']:,}",
            *([f"{r['macs'] / 1e9:.4g}"] if "macs" in r else []),
        ]
        for r in records
    ]
    return align_columns([header, *rows])


def _size_text(size: list[int]) -> str:
    return "x".join(map(str, size))
