"""Command-line entry point: ``python -m bench <command> ...``.

Each command lives in ``bench.commands.<name>`` and provides ``add_parser(subparsers)``,
which registers its arguments and sets ``handler(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from bench import __version__
from bench.errors import BenchError

COMMANDS = (
    "list",
    "profile",
    "infer",
    "run",
    "merge",
    "report",
    "compare",
    "baseline",
    "history",
    "export",
    "doctor",
)


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def get_args_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = OneLineParser(
        prog="bench",
        description="Reproducible benchmarking and profiling of convolutional networks.",
    )
    parser.add_argument("--version", action="version", version=f"bench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"bench.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user mistakes print one line and return 2."""
    parser = get_args_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except BenchError as err:
        print(f"bench {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"bench {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped, e.g. `| head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
