"""The checks every reader of bench's files applies to what it reads: records, inference rows,
trace tables, baselines and history rows.

Everything read is untrusted. A JSON document may nest at most ``MAX_DEPTH`` levels; every
number anywhere in it must be finite and within ``MAX_MAGNITUDE`` (JSON's ``NaN`` and
``Infinity``, which Python's reader accepts, are refused, as are ``1e400`` and ``10**400``). A
known field must have its type (a number is never a string or ``true``), a figure must not be
negative (nor above 100 for a percentage), a status must be one of its kind's, a list or an
object what its items or fields must be (a sample of pass or step times: at most
``SAMPLE_CAP`` numbers of ms). What fails is a one-line ``BenchError`` naming the file, line or
row and field (``samples.epoch_time_s[3]``), raised where the file is read, so that no bad number
reaches a table, a figure or a gate.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from bench.errors import BenchError
from bench.results.columns import ROOFLINE
from bench.results.records import (
    INFERENCE_STATUSES,
    METRICS,
    EpochRecord,
    InferenceRow,
    JobRecord,
    Status,
)
from bench.results.samples import SAMPLE_CAP, SAMPLED_METRICS

MAX_DEPTH = 32
"""The deepest nesting of lists and objects a file may hold (bench writes a few levels)."""
MAX_MAGNITUDE = 2.0**63
"""The largest magnitude of any number read (a 64-bit integer's range)."""
SIGNED_FIELDS = frozenset({"temperature_c"})
"""Numeric fields that may be negative; every other figure bench keeps is at least 0."""

_KINDS: Mapping[str, type] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
}
_WORDS: Mapping[type, str] = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    list: "a list",
    dict: "an object",
}


@dataclass(frozen=True)
class Field:
    """What a field must hold: its JSON type (``float``: any number), whether it must be
    present (not null), its bounds (numbers), its choices (strings), the field each item must
    fit and how many there may be (lists), and the fields it holds (objects)."""

    kind: type
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: frozenset[str] = frozenset()
    exclusive: bool = False
    """Whether the minimum itself is out of bounds."""
    item: Field | None = None
    max_items: int | None = None
    fields: Mapping[str, Field] | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` itself does not fit this field (not its items or fields: ``fault``),
        or ``None`` where it does."""
        if value is None:
            return f"missing or not {_WORDS[self.kind]}" if self.required else None
        if not _has_kind(value, self.kind):
            if self.required:
                return f"missing or not {_WORDS[self.kind]}"
            return f"not {_WORDS[self.kind]}: {shown(value)}"
        if self.kind in (int, float):
            return number_problem(value) or self._bounds_problem(value)
        if self.choices and value not in self.choices:
            return f"not one of {', '.join(sorted(self.choices))}: {shown(value)}"
        if self.max_items is not None and len(value) > self.max_items:
            return f"more than {self.max_items} items: {len(value)}"
        return None

    def fault(self, value: Any, name: str, listed: bool = False) -> tuple[str, str] | None:
        """The first part of ``value``, the field ``name``, that does not fit: its name
        (``name``, ``name[3]``, ``name.key``) and why; ``None`` where all of it fits. An item
        of a list (``listed``) is never null."""
        if listed and value is None:
            return name, f"not {_WORDS[self.kind]}: null"
        problem = self.problem(value)
        if problem is not None:
            return name, problem
        if value is None:
            return None
        parts: list[tuple[Field, Any, str, bool]] = []
        if self.item is not None:
            parts += [(self.item, v, f"{name}[{i}]", True) for i, v in enumerate(value)]
        if self.fields is not None:
            parts += [(f, value.get(k), f"{name}.{k}", False) for k, f in self.fields.items()]
        for field, part, part_name, in_list in parts:
            if found := field.fault(part, part_name, in_list):
                return found
        return None

    def _bounds_problem(self, value: float) -> str | None:
        low, high = self.minimum, self.maximum
        if low is not None and (value <= low if self.exclusive else value < low):
            return f"{'not above' if self.exclusive else 'below'} {low:g}: {shown(value)}"
        if high is not None and value > high:
            return f"above {high:g}: {shown(value)}"
        return None


Fields = Mapping[str, Field]
SAMPLE_FIELD = Field(list, item=Field(float, minimum=0.0), max_items=SAMPLE_CAP)
"""A sample of pass or step times (``bench.results.samples``): at most ``SAMPLE_CAP`` numbers
of ms, none negative; every ``list[float]`` field of a record is one."""
SAMPLES_FIELD = Field(dict, fields={metric: SAMPLE_FIELD for metric in SAMPLED_METRICS})
"""A job's ``samples``: the sample of each metric of ``SAMPLED_METRICS`` (other keys are not
read)."""


def fields_of(
    cls: type,
    required: Iterable[str] = (),
    choices: Mapping[str, Iterable[str]] | None = None,
    positive: Iterable[str] = (),
) -> dict[str, Field]:
    """The fields of the record dataclass ``cls`` with the types their annotations give:
    numbers at least 0 (``SIGNED_FIELDS`` aside; above 0 where ``positive``), percentages
    (``*_pct``, ``*_acc``, ``*_top5``) at most 100, ``list[float]`` samples
    (``SAMPLE_FIELD``); ``required`` ones present, ``choices`` for strings."""
    needed, options, above_zero = set(required), choices or {}, set(positive)
    out = {}
    for field in dataclasses.fields(cls):
        annotation = str(field.type).split(" | ")[0]
        kind = _KINDS[annotation.split("[")[0]]
        out[field.name] = number_field(field.name, kind, field.name in needed)
        if annotation == "list[float]":
            out[field.name] = dataclasses.replace(SAMPLE_FIELD, required=field.name in needed)
        if field.name in options:
            out[field.name] = dataclasses.replace(
                out[field.name], choices=frozenset(options[field.name])
            )
        if field.name in above_zero:
            out[field.name] = dataclasses.replace(out[field.name], exclusive=True)
    return out


def number_field(name: str, kind: type = float, required: bool = False) -> Field:
    """The field ``name`` of ``kind``, bounded as a figure named so is (see ``fields_of``)."""
    if kind not in (int, float):
        return Field(kind, required)
    percentage = name.endswith(("_pct", "_acc", "_top5"))
    return Field(
        kind,
        required,
        minimum=None if name in SIGNED_FIELDS else 0.0,
        maximum=100.0 if percentage else None,
    )


INFERENCE_FIELDS = {
    **fields_of(
        InferenceRow,
        required=("model", "precision", "batch_size", "status"),
        choices={"status": INFERENCE_STATUSES},
        positive=(
            "batch_size",
            "iterations",
            "images_per_s",
            *(f"latency_ms_p{p}" for p in (50, 95, 99)),
        ),
    ),
    "roofline": Field(
        dict,
        fields={
            key: Field(str) if dtype == "string" else number_field(key)
            for key, dtype in ROOFLINE.items()
        },
    ),
}
"""An inference row's fields (the ``inference`` list of a job record); its batch size, count,
latencies and throughput above 0 (the report draws them on log scales), and its roofline
point's keys (``ROOFLINE``; each may be absent)."""
JOB_FIELDS = {
    **fields_of(
        JobRecord,
        required=("job_id", "model", "seed", "status"),
        choices={"status": get_args(Status)},
    ),
    "inference": Field(list, item=Field(dict, fields=INFERENCE_FIELDS)),
    "samples": SAMPLES_FIELD,
}
"""A job record's fields, its inference rows' and samples' included."""
EPOCH_FIELDS = fields_of(EpochRecord, required=("job_id", "phase", "epoch"))
"""An epoch record's fields."""
METRIC_FIELDS = {name: number_field(name) for name in METRICS}
"""The metrics a comparison, a baseline and the history keep: numbers, or null."""
TRACE_CLOCKS = frozenset({"device", "cpu"})
"""The clocks a trace's times are read on: GPU kernel time, or the CPU's."""
OPERATOR_FIELDS: Fields = {
    "operator": Field(str, required=True),
    **{
        name: number_field(name, required=True)
        for name in ("calls_per_step", "self_ms_per_step", "self_pct", "total_ms_per_step")
    },
    "clock": Field(str, required=True, choices=TRACE_CLOCKS),
}
"""The columns of a trace's operator table."""
MODULE_FIELDS: Fields = {
    "module": Field(str, required=True),
    **{
        name: number_field(name, required=True)
        for name in ("calls_per_step", "forward_ms_per_step")
    },
    "clock": Field(str, required=True, choices=TRACE_CLOCKS),
}
"""The columns of a trace's module table."""
TELEMETRY_FIELDS: Fields = {
    "time_s": number_field("time_s", required=True),
    "phase": Field(str),
    "epoch": number_field("epoch", int),
    **{
        name: number_field(name)
        for name in (
            "gpu_util_pct",
            "mem_util_pct",
            "mem_used_mib",
            "power_w",
            "temperature_c",
            "sm_clock_mhz",
            "mem_clock_mhz",
        )
    },
    "clock_event_reasons": number_field("clock_event_reasons", int),
    "segment": number_field("segment", int),
    "power_source": Field(str),
}
"""The columns of a job's GPU telemetry CSV, in order (``bench.measure.telemetry`` writes
them); an empty cell is a reading NVML did not give, and a file of an older bench may lack any
column but ``time_s``."""


def check_fields(value: Any, fields: Fields, where: str, prefix: str = "") -> dict[str, Any]:
    """``value``, an object whose ``fields`` fit (other keys are left alone); a ``BenchError``
    ``where: field 'PREFIXNAME' ...`` naming the first that does not."""
    if not isinstance(value, dict):
        name = f"field '{prefix.rstrip('.')}' " if prefix else ""
        raise BenchError(f"{where}: {name}not an object: {shown(value)}")
    for name, field in fields.items():
        found = field.fault(value.get(name), f"{prefix}{name}")
        if found is not None:
            raise BenchError(f"{where}: field '{found[0]}' {found[1]}")
    return value


def check_distinct_seeds(jobs: Iterable[tuple[str, str, str, int]], where: str) -> None:
    """``jobs`` as (label, model, variant, seed): one model, variant and seed twice would count
    as a second seed, and is a ``BenchError`` naming both labels."""
    seen: dict[tuple[str, str, int], str] = {}
    for label, model, variant, seed in jobs:
        earlier = seen.setdefault((model, variant, seed), label)
        if earlier != label:
            named = f"{model} [{variant}]" if variant else model
            raise BenchError(
                f"{where}: {label} repeats {earlier} ({named}, seed {seed}); a seed is "
                "measured once"
            )


def checked_csv(text: str, fields: Fields, where: str) -> list[dict[str, Any]]:
    """The rows of the CSV ``text`` as ``fields`` hold them, numbers read as numbers and an
    empty cell as ``None``; an empty text has none. Every required field must be a column; a
    row holds the others that are. A ``BenchError`` names the line and field that does not
    fit."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = reader.fieldnames or []
        absent = [name for name, field in fields.items() if field.required and name not in header]
        if header and absent:
            raise BenchError(f"{where}: no column '{absent[0]}'")
        present = {name: field for name, field in fields.items() if name in header}
        return [_csv_row(row, present, f"{where}: line {reader.line_num}") for row in reader]
    except csv.Error as err:
        raise BenchError(f"{where}: line {reader.line_num}: not CSV: {err}") from None


def _csv_row(row: Mapping[str, str | None], fields: Fields, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in fields.items():
        cell = row.get(name) or None
        if field.kind in (int, float):
            out[name], problem = number_cell(cell or "", field)
        else:
            out[name], problem = cell, field.problem(cell)
        if problem is not None:
            raise BenchError(f"{where}: field '{name}' {problem}")
    return out


def parse_json(text: str | bytes) -> Any:
    """``json.loads``, raising ``ValueError`` for everything it cannot read, nesting deeper than
    the interpreter's recursion limit included."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None


def check_tree(document: Any, where: str) -> Any:
    """``document`` (parsed JSON) if it nests at most ``MAX_DEPTH`` levels and every number in
    it is finite and in range; else a ``BenchError`` naming the field."""
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                raise BenchError(f"{where}: field '{path}' nested deeper than {MAX_DEPTH} levels")
            if isinstance(value, dict):
                children = [(f"{path}.{k}" if path else str(k), v) for k, v in value.items()]
            else:
                children = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
            stack.extend((item, child, depth + 1) for child, item in children)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            problem = number_problem(value)
            if problem is not None:
                raise BenchError(f"{where}: field '{path}' {problem}")
    return document


def number_problem(value: float) -> str | None:
    """Why the number ``value`` cannot be read (not finite, or beyond ``MAX_MAGNITUDE``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"not a finite number: {shown(value)}"
    if abs(value) > MAX_MAGNITUDE:
        return f"out of range (beyond ±2^63): {shown(value)}"
    return None


def number_cell(text: str, field: Field) -> tuple[float | None, str | None]:
    """A CSV cell as the number ``field`` holds (``None`` for an empty cell; an integer where
    ``field`` holds one and the cell a whole number) and why it cannot be one, or ``None``."""
    if text == "":
        return None, field.problem(None)
    try:
        value: float = float(text)
    except ValueError:
        return None, f"not {_WORDS[float]}: {shown(text)}"
    if field.kind is int and math.isfinite(value) and value.is_integer():
        value = int(value)  # as pandas writes an integer column with gaps: 3.0
    return value, number_problem(value) or field.problem(value)


def shown(value: Any) -> str:
    """``value`` in a message, short: JSON's words for constants, a long text cut."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int) and abs(value) > MAX_MAGNITUDE:
        return f"a {value.bit_length()}-bit integer"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, bytes):
        return f"a blob of {len(value)} bytes"
    if isinstance(value, (list, dict)):
        return _WORDS[type(value)]
    return type(value).__name__


def _has_kind(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)
