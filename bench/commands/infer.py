"""``bench infer``: inference latency, throughput, memory and power of models across batch
sizes and precisions, with random weights."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.commands.profile import model_sizes
from bench.errors import BenchError, OutOfMemory, UnknownNameError
from bench.results.atomic import write_atomic
from bench.suite.profile_suite import PROFILE_SUITE_SCHEMA
from bench.suite.schema import lookup, schema_of
from bench.suite.settings import COMPILE_MODES, DEVICES, PRECISIONS, InferenceConfig, JobConfig

if TYPE_CHECKING:
    import torch
    from torch import nn

    from bench.measure.static_profile import StaticProfile
    from bench.results.records import InferenceRow

FORMATS = ("table", "csv", "json")
DEFAULTS = InferenceConfig()
CSV_FILE, JSON_FILE = "infer.csv", "infer.json"
WEIGHTS_NOTE = (
    "weights: random (timing does not depend on weight values); inputs: random images; "
    "forward pass in eval mode without gradients"
)
ROOFLINE_NOTE = (
    "FLOP/byte: forward FLOPs over the minimum bytes moved (weights read once, activations "
    "written and read once); % of roof: achieved FLOP/s (time per batch = batch / images/s) "
    "over min(peak compute, FLOP/byte × peak bandwidth); peaks: datasheet on a GPU, measured "
    "on the CPU (docs/profiling.md)"
)


def add_parser(subparsers: Any) -> None:
    """Register ``infer``."""
    parser = subparsers.add_parser(
        "infer",
        help="inference latency, throughput, memory and power across batch sizes",
        description="Time the forward pass of each MODEL (random weights, eval mode, no "
        "gradients) at each precision and batch size: after a warm-up, at least "
        f"{DEFAULTS.min_iterations} passes and {DEFAULTS.min_time_s:g} s (by default). Latency "
        "p50/p95/p99 in ms per batch, images/s, peak memory in MiB, and on a GPU mean power "
        "(W) and energy per image (J); each batch's place on the roofline (FLOP/byte, compute- "
        "or memory-bound, % of the roof). A batch size that runs out of memory gives an 'oom' "
        "row and the larger ones are skipped.",
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help="registered model names")
    parser.add_argument(
        "--batch-sizes", default="1,16,128", metavar="B,B,...", help="default: 1,16,128"
    )
    parser.add_argument(
        "--precision",
        default="fp32",
        metavar="P,P,...",
        help=f"some of {', '.join(PRECISIONS)} (default fp32)",
    )
    parser.add_argument("--channels-last", action="store_true", help="NHWC memory layout")
    parser.add_argument(
        "--compile",
        nargs="?",
        const="default",
        choices=COMPILE_MODES,
        help="torch.compile the model (compilation lands in the warm-up)",
    )
    parser.add_argument(
        "--input-size", metavar="CxHxW", help="input size, e.g. 3x224x224 (default: the model's)"
    )
    parser.add_argument("--num-classes", type=int, metavar="N", help="classifier outputs")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="default: auto")
    parser.add_argument(
        "--min-iterations",
        type=int,
        default=DEFAULTS.min_iterations,
        metavar="N",
        help=f"time at least N forward passes (default {DEFAULTS.min_iterations})",
    )
    parser.add_argument(
        "--min-time",
        type=float,
        default=DEFAULTS.min_time_s,
        metavar="S",
        help=f"and at least S seconds of them (default {DEFAULTS.min_time_s:g})",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help=f"also write {CSV_FILE} and {JSON_FILE} there"
    )
    parser.set_defaults(handler=infer_command)


def infer_command(args: argparse.Namespace) -> int:
    """Handler of ``bench infer``."""
    from bench.measure.collectors import JobCollectors
    from bench.measure.memory import out_of_memory_named
    from bench.models.registry import get_model_info
    from bench.results.outputs import output_dir
    from bench.run.inference import Subject, sweep, unfit_rows
    from bench.run.job import resolve_device

    limits = schema_of(InferenceConfig)  # the bounds a suite's [inference] is held to
    iterations = lookup(limits, "min_iterations").check(args.min_iterations, "--min-iterations")
    plan = InferenceConfig(
        batch_sizes=tuple(
            lookup(limits, "batch_sizes").check(
                parse_batch_sizes(args.batch_sizes), "--batch-sizes"
            )
        ),
        precisions=tuple(
            lookup(limits, "precisions").check(parse_precisions(args.precision), "--precision")
        ),
        min_iterations=iterations,
        min_time_s=lookup(limits, "min_time_s").check(args.min_time, "--min-time"),
    )
    lookup(PROFILE_SUITE_SCHEMA, "models").check(args.models, "MODEL")  # each one once
    if args.out is not None:
        output_dir(args.out, create=False)  # checked before anything is timed
    models = [get_model_info(name) for name in args.models]
    sizes = [model_sizes(info, args.input_size, args.num_classes) for info in models]
    # counted before anything is timed: this also checks that each model takes its input size
    profiles = [_count(i.name, *size) for i, size in zip(models, sizes, strict=True)]
    device = resolve_device(args.device)
    config = JobConfig(channels_last=args.channels_last, compile=args.compile or "")
    rows: list[InferenceRow] = []
    collectors = JobCollectors(device)
    with collectors:
        for info, (size, classes), profile in zip(models, sizes, profiles, strict=True):
            print(f"timing {info.name} on {device}", file=sys.stderr, flush=True)
            counted = None if isinstance(profile, OutOfMemory) else profile
            subject = Subject(
                info.name, device, size, "random", config.channels_last, args.compile, counted
            )
            # a model counted or built out of memory is as a batch that does not fit: oom rows
            if isinstance(profile, OutOfMemory):
                rows += unfit_rows(subject, plan, str(profile))
                continue
            try:
                with out_of_memory_named(f"{info.name}: building the model"):
                    model = _random_weight_model(info.name, classes, size[0], device, config)
            except OutOfMemory as err:
                rows += unfit_rows(subject, plan, str(err))
                continue
            rows += sweep(model, subject, plan, collectors.sampler)
    records = [dataclasses.asdict(row) for row in rows]
    if args.format == "json":
        print(json.dumps(records, indent=2))
    elif args.format == "csv":
        print(_csv_text(records), end="")
    else:
        print(rows_text(rows))
    if args.out is not None:
        output_dir(args.out)
        write_atomic(args.out / CSV_FILE, _csv_text(records))
        write_atomic(args.out / JSON_FILE, json.dumps(records, indent=2) + "\n")
        print(f"wrote {args.out / CSV_FILE} and {args.out / JSON_FILE}", file=sys.stderr)
    return 0


def _count(name: str, size: tuple[int, int, int], classes: int) -> StaticProfile | OutOfMemory:
    """``name``'s static profile at ``size`` (which also checks that it takes that size), or
    the allocation failure that stopped the count."""
    from bench.measure.memory import out_of_memory_named
    from bench.measure.static_profile import profile_registered

    try:
        with out_of_memory_named(f"{name}: counting MACs and FLOPs"):
            return profile_registered(name, size, classes)
    except OutOfMemory as err:
        return err


def _random_weight_model(
    name: str, classes: int, in_channels: int, device: torch.device, config: JobConfig
) -> nn.Module:
    """``name`` built as a job builds it (device, layout, compilation of ``config``), with
    random weights (seeded)."""
    from bench.run.job import ModelBuilder, configure_torch, seed_everything

    configure_torch(config, device)
    seed_everything(0)
    return ModelBuilder(config, classes, in_channels, device)(name)


def parse_batch_sizes(text: str) -> list[int]:
    """``"1,16,128"`` → ``[1, 16, 128]``; anything but positive integers names ``--batch-sizes``."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise BenchError(f"--batch-sizes: expected comma-separated positive integers, got {text!r}")
    return [int(p) for p in parts]


def parse_precisions(text: str) -> list[str]:
    """``"fp32,amp-bf16"`` → ``["fp32", "amp-bf16"]``; an unknown one names ``--precision``."""
    names = [p.strip() for p in text.split(",")]
    for name in names:
        if name not in PRECISIONS:
            raise UnknownNameError("precision", name, PRECISIONS, where="--precision")
    return names


def rows_text(rows: Sequence[InferenceRow]) -> str:
    """The rows as aligned text, with units, followed by what they were measured on."""
    from bench.text_table import align_columns

    header = [
        "Model",
        "Precision",
        "Batch",
        "Status",
        "p50 (ms)",
        "p95 (ms)",
        "p99 (ms)",
        "Images/s",
        "Peak mem (MiB)",
        "Power (W)",
        "J/image",
        "GFLOPs/image",
        "FLOP/byte",
        "Bound",
        "% of roof",
    ]
    cells = [_cells(r) for r in rows]
    devices = ", ".join(dict.fromkeys(r.device for r in rows))
    memory = "GPU allocated" if any(r.peak_mem_mib is not None for r in rows) else "process RSS"
    notes = [
        f"device: {devices}; {WEIGHTS_NOTE}",
        f"latency: per batch; peak mem: {memory}; power and energy: GPU only (n/a elsewhere); "
        "GFLOPs: forward, per image, multiply-add = 2",
        f"roofline of the batch: {ROOFLINE_NOTE}",
    ]
    return "\n".join([*align_columns([header, *cells]), "", *notes])


def _cells(r: InferenceRow) -> list[str]:
    """One row of the table, as text."""
    intensity, bound, share = _roofline_cells(r)
    return [
        r.model,
        r.precision,
        str(r.batch_size),
        r.status,
        _figure(r.latency_ms_p50),
        _figure(r.latency_ms_p95),
        _figure(r.latency_ms_p99),
        _figure(r.images_per_s),
        _figure(r.peak_mem_mib if r.peak_mem_mib is not None else r.peak_rss_mib),
        _figure(r.power_w),
        _figure(r.energy_per_image_j),
        _figure(None if r.flops is None else r.flops / 1e9),
        _figure(intensity),
        bound or "n/a",
        _figure(share),
    ]


def _roofline_cells(row: InferenceRow) -> tuple[float | None, str | None, float | None]:
    """The row's roofline point as (intensity in FLOP/byte, bound, % of the roof), or Nones."""
    from bench.measure.roofline import RooflinePoint

    point = RooflinePoint.from_dict(row.roofline) if row.roofline is not None else None
    if point is None:
        return None, None, None
    return point.intensity, point.bound, 100 * point.roof_fraction


def _figure(value: float | None) -> str:
    """Three significant digits, whole numbers from 100 up (``1,135``), "n/a" for ``None``."""
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _csv_text(records: Sequence[dict[str, Any]]) -> str:
    """The rows (as JSON holds them) as CSV, in the columns of a run directory's inference
    table (``bench.results.columns``: the roofline point flattened into ``roofline_*``)."""
    from bench.results.columns import INFERENCE_ROW_COLUMNS, csv_text, table_rows

    return csv_text(table_rows(records, INFERENCE_ROW_COLUMNS), INFERENCE_ROW_COLUMNS)
