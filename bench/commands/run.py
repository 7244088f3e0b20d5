"""``bench run``: train and evaluate every job of a suite, writing records as they happen."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.data import DEFAULT_DATA_DIR
from bench.errors import BenchError, SuiteError
from bench.suite.matrix import JOB_SCHEMA
from bench.suite.schema import Field, SettingInfo, lookup, settings_of
from bench.suite.settings import JobConfig
from bench.suite.shard import Shard, parse_shard

DEFAULT_OUT = Path("reports")
# Job settings with a flag of their own (``--batch-size`` sets ``batch_size`` for every job).
FLAG_SETTINGS: tuple[SettingInfo, ...] = tuple(s for s in settings_of(JobConfig) if s.spec.flag)
JOB_FLAGS = tuple(s.name for s in FLAG_SETTINGS)


def add_parser(subparsers: Any) -> None:
    """Register ``run``."""
    parser = subparsers.add_parser(
        "run",
        help="train and evaluate the models of a suite",
        description="Train and evaluate every model × seed × variant of a suite under fixed "
        "seeds; records are written to a run directory as they are produced.",
    )
    parser.add_argument("--suite", help="a suite name (see suites/) or a path to a .toml file")
    parser.add_argument("--models", help="comma-separated shell patterns, e.g. 'resnet*,lenet5'")
    parser.add_argument("--seeds", type=_seeds, help="comma-separated seeds, e.g. 0,1,2")
    for info in FLAG_SETTINGS:
        _add_setting_flag(parser, info)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where data sets live, in torchvision's layout (default: $BENCH_DATA_DIR or ./data)",
    )
    parser.add_argument("--download", action="store_true", help="download missing data sets")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="root of run directories")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="finish an earlier run")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a suite field, e.g. optimizer.lr=0.1 (repeatable)",
    )
    parser.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="run only shard I of N (numbered from 1) of the job matrix, e.g. 2/4",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the job matrix and exit")
    parser.add_argument(
        "--estimate",
        action="store_true",
        help="run each kind of job for a few steps, print each job's predicted time, peak "
        "memory, GPU fit and energy, and exit; nothing is written",
    )
    parser.add_argument(
        "--predict",
        action="store_true",
        help="predict each job as --estimate does before the jobs start, and keep the "
        "prediction beside the measurement (predicted_time_s); the report shows its error",
    )
    parser.add_argument("--quiet", action="store_true", help="print only errors and the result")
    parser.add_argument("--no-report", action="store_true", help="skip the report at the end")
    parser.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        metavar="URI",
        help="at the end, log the run to MLflow as bench export mlflow does (default URI: "
        "$MLFLOW_TRACKING_URI, else ./mlruns)",
    )
    parser.add_argument(
        "--history-db",
        type=Path,
        help="history database (default: <out>/history.sqlite; 'none' to skip)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE_OR_RUN",
        help="then compare the run with this baseline file or run directory (checked before "
        "training) as bench compare does, keep the comparison in the run directory and exit 1 "
        "on a regression",
    )
    parser.add_argument(
        "--fail-on",
        metavar="SPEC",
        help="thresholds for --baseline, as bench compare takes them ('none' turns gating off)",
    )
    parser.add_argument(
        "--allow-cross-suite",
        action="store_true",
        help="judge the run against a --baseline of another suite (flagged in the comparison)",
    )
    parser.set_defaults(handler=run_command)


def flag_option(info: SettingInfo) -> str:
    """The ``bench run`` flag of a job setting (``--batch-size``, ``--trace``)."""
    return "--" + (info.spec.flag_name or info.name).replace("_", "-")


def _add_setting_flag(parser: argparse.ArgumentParser, info: SettingInfo) -> None:
    """The flag setting job setting ``name`` for every job, typed and checked as the setting
    is (its help: the setting's, up to its first semicolon); with the setting's
    ``flag_const``, the flag's value is optional."""
    spec = info.spec
    help_text = spec.help.split(";")[0] + " (every job)"
    common: dict[str, Any] = {"dest": info.name, "help": help_text}
    if spec.flag_const is not None:
        common.update(nargs="?", const=spec.flag_const)
    if info.kind is bool:
        parser.add_argument(flag_option(info), action="store_true", default=None, **common)
    elif spec.choices:
        choices = [c for c in spec.choices if c]  # "" (off) is the default, not a choice
        parser.add_argument(flag_option(info), choices=choices, **common)
    elif info.kind is int:
        field = lookup(JOB_SCHEMA, info.name)
        parser.add_argument(flag_option(info), type=integer_within(field), **common)
    else:
        raise TypeError(f"no command-line form for setting {info.name!r}")


def integer_within(field: Field) -> Callable[[str], int]:
    """An argument type: an integer that ``field`` (a setting's) takes, within its bounds; a
    value it refuses is argparse's one-line usage error, worded as the setting's check words it
    (``argument --trace: must be at most 1000, got 5000``)."""

    def check(text: str) -> int:
        try:
            value: Any = int(text)
        except ValueError:
            value = text
        try:
            return int(field.check(value, ""))
        except SuiteError as err:
            raise argparse.ArgumentTypeError(str(err).strip()) from None

    return check


def _shard(text: str) -> Shard:
    try:
        return parse_shard(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"expected comma-separated seeds like 0,1,2, got {text!r}")
    return seeds


def job_overrides(args: argparse.Namespace) -> list[str]:
    """The command line's changes to every job, as ``--set`` pairs."""
    pairs = list(args.overrides)
    for key in JOB_FLAGS:
        value = getattr(args, key)
        if value is not None:
            pairs.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    return pairs


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``bench run``."""
    if args.mlflow is not None:
        from bench.export.fields import require

        require("mlflow", "mlflow")  # before anything runs
    from bench.run.session import RunRequest, run_suite

    if args.resume is not None:
        changed = [
            f
            for f in ("suite", "models", "seeds", "shard", *JOB_FLAGS)
            if getattr(args, f) is not None
        ] + (["set"] if args.overrides else [])
        if changed:
            flags = {info.name: flag_option(info) for info in FLAG_SETTINGS}
            flag = flags.get(changed[0], "--" + changed[0].replace("_", "-"))
            raise BenchError(f"--resume takes the run's own settings; drop {flag}")
    elif not args.suite:
        raise BenchError("--suite is required (or --resume RUN_DIR)")
    if args.estimate:
        _check_estimate(args)
    elif args.predict and args.dry_run:
        raise BenchError("--predict runs the jobs; drop --dry-run (or use --estimate)")
    if args.resume is None and not args.dry_run and not args.estimate:
        from bench.results.outputs import output_dir

        reads = [args.baseline] if args.baseline is not None else []
        output_dir(args.out, create=False, reads=reads)  # created once the suite is valid
    for flag, given in (
        ("--fail-on", args.fail_on is not None),
        ("--allow-cross-suite", args.allow_cross_suite),
    ):
        if given and args.baseline is None:
            raise BenchError(f"{flag} needs --baseline FILE_OR_RUN")
    gate = None
    if args.baseline is not None:
        from bench.measure.environment import current_machine_id
        from bench.run.gate import Gate

        gate = Gate.load(
            args.baseline, args.fail_on or "", current_machine_id(), args.allow_cross_suite
        )
    signal.signal(signal.SIGTERM, _interrupt)
    request = RunRequest(
        suite=args.suite,
        overrides=job_overrides(args),
        models=args.models,
        seeds=args.seeds,
        data_dir=args.data_dir,
        download=args.download,
        out=args.out,
        resume=args.resume,
        dry_run=args.dry_run,
        quiet=args.quiet,
        report=not args.no_report,
        history_db=args.history_db,
        argv=sys.argv,
        shard=args.shard,
        gate=gate,
        mlflow=args.mlflow,
        estimate=args.estimate,
        predict=args.predict,
    )
    return run_suite(request)


def _check_estimate(args: argparse.Namespace) -> None:
    """``--estimate`` writes nothing and runs no job: a flag that writes or judges a run is a
    one-line error naming it."""
    for flag, given in (
        ("--resume", args.resume is not None),
        ("--dry-run", args.dry_run),
        ("--predict", args.predict),
        ("--baseline", args.baseline is not None),
        ("--history-db", args.history_db is not None),
        ("--no-report", args.no_report),
        ("--mlflow", args.mlflow is not None),
    ):
        if given:
            raise BenchError(f"--estimate writes nothing and runs no job; drop {flag}")


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
