"""``bench profile``: static profile of one model, or of every model of a profile suite."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.commands.run import integer_within
from bench.errors import BenchError
from bench.suite.matrix import JOB_SCHEMA
from bench.suite.profile_suite import PROFILE_SUITE_SCHEMA
from bench.suite.schema import lookup

if TYPE_CHECKING:
    from bench.measure.static_profile import StaticProfile
    from bench.models.registry import ModelInfo

FORMATS = ("table", "json", "csv")
TRACE_STEPS = 20
TRACE_BATCH = 32
_SIZE = re.compile(r"(\d+)x(\d+)x(\d+)")
# A job's trace_steps, less its 0 (no trace): the steps --trace takes.
_TRACE_STEPS = dataclasses.replace(lookup(JOB_SCHEMA, "trace_steps"), minimum=1)


def add_parser(subparsers: Any) -> None:
    """Register ``profile``."""
    parser = subparsers.add_parser(
        "profile",
        help="parameters, MACs and FLOPs of a model (or of a profile suite)",
        description="Count parameters, MACs (fvcore: multiply-add = 1), forward FLOPs and "
        "training-step FLOPs (torch.utils.flop_counter: multiply-add = 2) of MODEL at its "
        "input size, per image; or build the summary table of a profile suite.",
    )
    parser.add_argument("model", nargs="?", metavar="MODEL", help="registered model name")
    parser.add_argument("--suite", help="a profile suite (name in suites/ or a .toml path)")
    parser.add_argument("--num-classes", type=int, metavar="N", help="classifier outputs")
    parser.add_argument(
        "--input-size", metavar="CxHxW", help="input size, e.g. 3x224x224 (default: the model's)"
    )
    parser.add_argument(
        "--batch-size", type=int, metavar="B", help="images per counted batch (default 1)"
    )
    parser.add_argument(
        "--layers", action="store_true", help="per-layer table (with csv: the layer rows)"
    )
    parser.add_argument(
        "--trace",
        nargs="?",
        const=TRACE_STEPS,
        type=integer_within(_TRACE_STEPS),
        metavar="STEPS",
        help=f"trace STEPS (default {TRACE_STEPS}) training steps of MODEL with torch.profiler "
        f"on one random batch (default {TRACE_BATCH} images), after warm-up; print the top "
        "operators and the time per top-level module, write the Chrome trace and both tables "
        "to a folder named traces in DIR (--out; default: the current directory)",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="with --suite: write CSV and MD; with --trace: write the trace files",
    )
    parser.set_defaults(handler=profile_command)


def profile_command(args: argparse.Namespace) -> int:
    """Handler of ``bench profile``."""
    if (args.model is None) == (args.suite is None):
        raise BenchError("give exactly one of MODEL or --suite")
    if args.batch_size is not None:  # held to a profile suite's bounds
        lookup(PROFILE_SUITE_SCHEMA, "batch_size").check(args.batch_size, "--batch-size")
    if args.suite is not None:
        sizes = ("num_classes", "input_size", "batch_size", "trace")
        given = [f for f in sizes if getattr(args, f) is not None]
        given += ["layers"] if args.layers else []
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise BenchError(f"{flag} does not apply with --suite (the suite file sets the sizes)")
        return _profile_suite(args)
    if args.trace is not None:
        return _trace_one(args)
    if args.out is not None:
        raise BenchError("--out applies only with --suite or --trace")
    return _profile_one(args)


def parse_input_size(text: str) -> tuple[int, int, int]:
    """``"3x224x224"`` as ``(3, 224, 224)``, each within a profile suite's bounds; anything
    else raises naming ``--input-size``."""
    match = _SIZE.fullmatch(text.strip().lower())
    if match is None or min(int(g) for g in match.groups()) < 1:
        raise BenchError(f"--input-size: expected CxHxW of three positive integers, got {text!r}")
    sizes = [int(g) for g in match.groups()]
    channels, height, width = lookup(PROFILE_SUITE_SCHEMA, "input_size").check(
        sizes, "--input-size"
    )
    return channels, height, width


def model_sizes(
    info: ModelInfo, input_size: str | None, num_classes: int | None
) -> tuple[tuple[int, int, int], int]:
    """The input size (``--input-size`` text) and classes (``--num-classes``) to build ``info``'s
    model for: the flags where given, else the model's own."""
    size = info.input_size if input_size is None else parse_input_size(input_size)
    if num_classes is None:
        return size, info.num_classes
    return size, lookup(PROFILE_SUITE_SCHEMA, "num_classes").check(num_classes, "--num-classes")


def _profile_one(args: argparse.Namespace) -> int:
    from bench.measure.memory import out_of_memory_named
    from bench.measure.static_profile import profile_registered

    info, size, classes = _model_sizes(args)
    batch = 1 if args.batch_size is None else args.batch_size
    with out_of_memory_named(f"{info.name} at {_size_text(size)}, batch {batch}"):
        profile = profile_registered(info.name, size, classes, batch, args.layers)
    if args.format == "json":
        print(
            json.dumps({"model": info.name, "num_classes": classes, **profile.to_dict()}, indent=2)
        )
    elif args.format == "csv":
        _print_csv(info.name, classes, profile)
    else:
        print(_profile_text(info.name, classes, profile))
    return 0


def _model_sizes(args: argparse.Namespace) -> tuple[ModelInfo, tuple[int, int, int], int]:
    """MODEL's registry entry, and the input size and classes asked for (else its own)."""
    from bench.models.registry import get_model_info

    info = get_model_info(args.model)
    return (info, *model_sizes(info, args.input_size, args.num_classes))


def _trace_one(args: argparse.Namespace) -> int:
    from bench.measure.memory import out_of_memory_named
    from bench.results.outputs import output_dir
    from bench.results.rundir import TRACES_DIR, save_trace_files
    from bench.run.job import resolve_device
    from bench.run.job_trace import trace_model
    from bench.text_table import align_columns

    if args.layers or args.format != "table":
        raise BenchError("--trace prints its own tables; drop --layers and --format")
    folder = (args.out or Path(".")) / TRACES_DIR
    output_dir(folder, create=False)  # before anything is traced
    info, size, classes = _model_sizes(args)
    batch = TRACE_BATCH if args.batch_size is None else args.batch_size
    device = resolve_device("auto")
    with out_of_memory_named(f"tracing {info.name} at {_size_text(size)}, batch {batch}"):
        trace = trace_model(info.name, size, classes, batch, args.trace, device)
    clock = "GPU kernel time" if trace.clock == "device" else "CPU time"
    heading = f"{info.name}, {_size_text(size)}, batch {batch}, {trace.steps} traced steps"
    for title, rows in (
        (f"Top operators by self time ({clock}, ms per step)", trace.operators),
        (f"Forward time per top-level module ({clock}, ms per step)", trace.modules),
    ):
        cells = [[str(v) for v in row.values()] for row in rows]
        header = list(rows[0]) if rows else ["(none)"]
        print("\n".join([f"{heading}: {title}", *align_columns([header, *cells]), ""]))
    paths = save_trace_files(folder, info.name, trace.files())
    print(f"wrote {paths.chrome_trace}, {paths.operators}, {paths.modules}", file=sys.stderr)
    return 0


def _profile_suite(args: argparse.Namespace) -> int:
    from bench.measure.memory import out_of_memory_named
    from bench.measure.static_profile import profile_registered
    from bench.models.registry import get_model_info
    from bench.report.profiles import profile_markdown, profile_notes, profile_table
    from bench.results.atomic import write_atomic
    from bench.results.outputs import output_dir
    from bench.suite.files import find_suite
    from bench.suite.profile_suite import load_profile_suite
    from bench.text_table import file_name_part

    suite = load_profile_suite(args.suite)
    stem = file_name_part(suite.name, "profile")
    csv_name, md_name = f"{stem}.csv", f"{stem}.md"
    if args.out is not None:
        output_dir(args.out, reads=[find_suite(args.suite)], writes=[csv_name, md_name])
    rows: list[tuple[ModelInfo, StaticProfile]] = []
    for i, name in enumerate(suite.models, 1):
        print(f"profiling {name} ({i}/{len(suite.models)})", file=sys.stderr, flush=True)
        with out_of_memory_named(
            f"{name} at {_size_text(suite.input_size)}, batch {suite.batch_size}"
        ):
            profile = profile_registered(
                name, suite.input_size, suite.num_classes, suite.batch_size
            )
        rows.append((get_model_info(name), profile))
    table, notes = profile_table(rows), profile_notes(rows)
    if args.format == "json":
        payload = {
            "suite": suite.name,
            "rows": table.records(),
            "notes": notes,
            "profiles": {info.name: profile.to_dict() for info, profile in rows},
        }
        print(json.dumps(payload, indent=2))
    elif args.format == "csv":
        print(table.csv_text(), end="")
    else:
        print("\n".join([table.text(), "", *notes]))
    if args.out is not None:
        csv_path, md_path = args.out / csv_name, args.out / md_name
        write_atomic(csv_path, table.csv_text())
        write_atomic(md_path, profile_markdown(table, notes, suite.description or suite.name))
        print(f"wrote {csv_path} and {md_path}", file=sys.stderr)
    return 0


def _size_text(size: tuple[int, ...]) -> str:
    return "x".join(map(str, size))


def _summary_fields(name: str, classes: int, profile: StaticProfile) -> dict[str, Any]:
    """The flat fields of one profile (CSV row); counters as ``op:count;op:count``."""
    fields = profile.to_dict()
    fields.pop("layers", None)
    flat = {
        k: ";".join(f"{op}:{n}" for op, n in v.items()) if isinstance(v, dict) else v
        for k, v in fields.items()
    }
    return {
        "model": name,
        "num_classes": classes,
        **flat,
        "input_size": _size_text(profile.input_size),
    }


def _print_csv(name: str, classes: int, profile: StaticProfile) -> None:
    import pandas as pd

    if profile.layers is None:
        frame = pd.DataFrame([_summary_fields(name, classes, profile)])
    else:
        frame = pd.DataFrame([_layer_cells(row) for row in profile.layers])
    print(frame.to_csv(index=False), end="")


def _layer_cells(row: Any) -> dict[str, Any]:
    return {
        "layer": row.name,
        "type": row.type,
        "output_shape": _size_text(row.output_shape),
        "params": row.params,
        "macs": row.macs,
    }


def _profile_text(name: str, classes: int, profile: StaticProfile) -> str:
    from bench.text_table import align_columns

    ratio = profile.flops_macs_ratio
    skipped = ", ".join(f"{op} x{n}" for op, n in profile.fvcore_unsupported_ops.items())
    pairs = [
        ("model", f"{name} ({classes} classes)"),
        ("input", f"{_size_text(profile.input_size)}, counted at batch {profile.batch_size}"),
        ("params", f"{profile.params:,} ({profile.trainable_params:,} trainable)"),
        ("MACs", f"{_count(profile.macs)} per image (fvcore: multiply-add = 1)"),
        ("FLOPs", f"{_count(profile.flops)} per image (torch flop counter: multiply-add = 2)"),
        ("train step", f"{_count(profile.train_step_flops)} FLOPs per image (forward + backward)"),
        (
            "MACs by op",
            ", ".join(f"{op} {_count(n)}" for op, n in profile.macs_by_operator.items()),
        ),
        ("FLOPs/MACs", "n/a" if ratio is None else f"{ratio:.3f}" + _ratio_flag(profile)),
        ("fvcore skipped", skipped or "none"),
    ]
    lines = align_columns([[f"{k}:", v] for k, v in pairs])
    if profile.layers is not None:
        header = ["Layer", "Type", "Output (CxHxW)", "Params", "MACs"]
        cells = [
            [r.name, r.type, _size_text(r.output_shape), f"{r.params:,}", f"{r.macs:,}"]
            for r in profile.layers
        ]
        lines += ["", *align_columns([header, *cells])]
    return "\n".join(lines)


def _count(value: int) -> str:
    """``15,470,289,408 (15.47 G)``: exact, then with a decimal prefix."""
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value:,} ({value / scale:.4g} {prefix})"
    return f"{value:,}"


def _ratio_flag(profile: StaticProfile) -> str:
    if not profile.ratio_is_unusual:
        return ""
    return "  (unusual: the two counters count different operators)"
