"""The tables of a run directory as a query engine reads them: each record field's column name,
unit and type, in one declarative table, and the rows, CSV, Parquet and DataFrames made from it.

A run directory keeps three tables, each as CSV and as Parquet with the same columns:
``results`` (one row per job, from its job record), ``epochs`` (one row per epoch record) and
``inference`` (one row per inference measurement, after its job's identity). The records
(one JSON line each) are the source of truth; the tables are derived from them, so a run
directory written before the tables took this form reads the same (``bench.load_run``).

A field's column follows one rule, so that a new record field needs no line here unless its
name says too little:

1. ``OVERRIDES`` names it (a count that needs its convention, a unit the name lacks): that name,
   unit and scale.
2. A percentage (``%`` in ``METRICS``, or a name ending in ``_acc``) gains ``_pct``; a fraction
   (``fraction`` in ``METRICS``) is shown as a percentage: ``_pct``, times 100.
3. Otherwise the field's own name, which by the house rule carries its unit
   (``epoch_time_s``, ``peak_mem_mib``); the unit comes from ``METRICS`` or the name's suffix.

The type comes from the field's annotation: ``int`` → int64, ``float`` → float64 (null where
not measured: never an empty string read as text), ``str`` → string, ``bool`` → bool; a
``list[int]`` (``input_size``) is text like ``3x32x32``; an inference row's ``roofline`` is
flattened into ``roofline_*`` columns (``ROOFLINE``); every other list or object (the per-step
``step_ms`` and per-pass ``pass_ms`` times, ``samples``, ``confusion_matrix``, ``extra``) stays
in the records only. A job without a variant is ``default`` in the ``variant`` column (its
records and job id keep none), so that no key of a table is empty.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError, first_line
from bench.results.records import METRICS, EpochRecord, InferenceRow, JobRecord

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

DEFAULT_VARIANT = "default"
"""The ``variant`` column's value for a job without a variant."""


@dataclass(frozen=True)
class Column:
    """One column of a table: the record ``field`` it holds (``roofline.KEY`` for a key of an
    inference row's roofline), its ``name``, ``unit`` (``""`` for a count or a name), ``dtype``
    (``int64``, ``float64``, ``string`` or ``bool``) and the ``scale`` its values are multiplied
    by (a fraction shown as a percentage)."""

    field: str
    name: str
    unit: str
    dtype: str
    scale: float = 1.0

    def cell(self, record: Mapping[str, Any]) -> Any:
        """This column's value in ``record`` (a record as JSON holds it); ``None`` where absent."""
        head, _, key = self.field.partition(".")
        value = record.get(head)
        if key:
            value = value.get(key) if isinstance(value, Mapping) else None
        if self.field == "variant":
            return value or DEFAULT_VARIANT
        if isinstance(value, list):
            return "x".join(map(str, value))
        if value is None or self.scale == 1.0:
            return value
        return value * self.scale


@dataclass(frozen=True)
class Naming:
    """How ``OVERRIDES`` names a field: its column's name, unit and scale."""

    name: str
    unit: str
    scale: float = 1.0


OVERRIDES: Mapping[str, Naming] = {
    "macs": Naming("forward_macs_per_image", "MACs per image (multiply-add = 1)"),
    "flops": Naming("forward_flops_per_image", "FLOP per image (multiply-add = 2)"),
    "train_step_flops": Naming("train_step_flops_per_image", "FLOP per image"),
    "achieved_tflops": Naming("achieved_tflop_per_s", "TFLOP/s"),
    "published_top5": Naming("published_top5_pct", "%"),
    "paper_top5": Naming("paper_top5_pct", "%"),
    "roofline.flops": Naming("roofline_flop", "FLOP"),
    "roofline.seconds": Naming("roofline_time_s", "s"),
    "roofline.min_bytes": Naming("roofline_min_bytes", "bytes"),
    "roofline.achieved_flops_per_s": Naming("roofline_achieved_flop_per_s", "FLOP/s"),
    "roofline.peak_flops_per_s": Naming("roofline_peak_flop_per_s", "FLOP/s"),
    "roofline.roof_flops_per_s": Naming("roofline_roof_flop_per_s", "FLOP/s"),
    "roofline.roof_fraction": Naming("roofline_roof_pct", "%", 100.0),
}
"""The fields whose column the general rule (module docstring) would name badly."""

ROOFLINE: Mapping[str, str] = {
    **dict.fromkeys(("flops", "seconds", "min_bytes"), "float64"),
    "precision": "string",
    **dict.fromkeys(("peak_flops_per_s", "peak_bytes_per_s"), "float64"),
    "peaks_source": "string",
    **dict.fromkeys(
        ("achieved_flops_per_s", "intensity_flop_per_byte", "roof_flops_per_s"), "float64"
    ),
    "bound": "string",
    "roof_fraction": "float64",
}
"""The keys of a roofline point as records keep it (``RooflinePoint.to_dict``), by type."""

_DTYPES: Mapping[str, str] = {"int": "int64", "float": "float64", "str": "string", "bool": "bool"}
# units named by the end of a field's name, tried in order
_SUFFIX_UNITS = tuple(
    (re.compile(pattern), unit)
    for pattern, unit in (
        (r"images_per_s_per_w$", "images/s/W"),
        (r"images_per_s(_per_process)?$", "images/s"),
        (r"_flop_per_byte$", "FLOP/byte"),
        (r"_bytes_per_s$", "bytes/s"),
        (r"_per_image_j$", "J per image"),
        (r"_pct$", "%"),
        (r"_mib$", "MiB"),
        (r"_mhz$", "MHz"),
        (r"_ms(_p\d+)?$", "ms"),
        (r"_s$", "s"),
        (r"_w$", "W"),
        (r"_j$", "J"),
        (r"_c$", "°C"),
    )
)
_LEFT_OUT = frozenset({"schema_version", "type"})
"""Scalar record fields no table needs (every list and object but ``input_size`` and
``roofline`` is left out by its type)."""


def column(field: str, dtype: str) -> Column:
    """The column of the record field ``field`` of ``dtype`` (the rule of the module docstring)."""
    if field in OVERRIDES:
        naming = OVERRIDES[field]
        return Column(field, naming.name, naming.unit, dtype, naming.scale)
    name = field.replace("roofline.", "roofline_")
    unit = METRICS[field].unit if field in METRICS else ""
    if (unit == "%" or name.endswith("_acc")) and not name.endswith("_pct"):
        return Column(field, f"{name}_pct", "%", dtype)
    if unit == "fraction":
        return Column(field, f"{name}_pct", "%", "float64", 100.0)
    suffix_unit = next((u for pattern, u in _SUFFIX_UNITS if pattern.search(name)), "")
    return Column(field, name, unit or suffix_unit, dtype)


def record_columns(cls: type) -> tuple[Column, ...]:
    """The columns of the record dataclass ``cls``, in field order (see the module docstring)."""
    out: list[Column] = []
    for field in dataclasses.fields(cls):
        annotation = str(field.type).split(" | ")[0]
        if field.name == "roofline":
            out += [column(f"roofline.{key}", dtype) for key, dtype in ROOFLINE.items()]
        elif annotation == "list[int]":
            out.append(column(field.name, "string"))
        elif annotation in _DTYPES and field.name not in _LEFT_OUT:
            out.append(column(field.name, _DTYPES[annotation]))
    return tuple(out)


JOB_COLUMNS = record_columns(JobRecord)
"""The columns of ``results`` (one row per job)."""
EPOCH_COLUMNS = record_columns(EpochRecord)
"""The columns of ``epochs`` (one row per epoch)."""
_IDENTITY = ("job_id", "suite", "seed", "variant")
INFERENCE_ROW_COLUMNS = record_columns(InferenceRow)
"""The columns of an inference row (``bench infer``'s CSV)."""
INFERENCE_TABLE_COLUMNS = (
    *(c for c in JOB_COLUMNS if c.field in _IDENTITY),
    *INFERENCE_ROW_COLUMNS,
)
"""The columns of ``inference``: the job's identity, then the row's (whose ``model`` is the
network measured: for ``autoencode`` jobs, the fine-tuned classifier)."""


def job_column(field: str) -> Column:
    """The column of a job's ``field``: a field of its record, or a figure of its ``extra``
    (``published_top5``, ``flops_per_mac``) named by the same rule."""
    return next((c for c in JOB_COLUMNS if c.field == field), None) or column(field, "float64")


def table_rows(
    records: Iterable[Mapping[str, Any]], columns: Sequence[Column]
) -> list[dict[str, Any]]:
    """``records`` (as JSON holds them) as rows of ``columns``, by column name."""
    return [{c.name: c.cell(record) for c in columns} for record in records]


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """``rows`` as CSV text with a header of column names; an unmeasured value is empty."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[c.name for c in columns])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def arrow_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], where: str
) -> pa.Table:
    """``rows`` as an Arrow table of ``columns``' types, each field's unit in its metadata; a
    value that does not fit its type is a one-line ``BenchError`` naming ``where``."""
    import pyarrow as pa

    types = {
        "int64": pa.int64(),
        "float64": pa.float64(),
        "string": pa.string(),
        "bool": pa.bool_(),
    }
    schema = pa.schema(
        [pa.field(c.name, types[c.dtype], metadata={"unit": c.unit}) for c in columns]
    )
    try:
        return pa.Table.from_pylist(list(rows), schema=schema)
    except (pa.ArrowException, OverflowError, TypeError) as err:
        raise BenchError(f"{where}: a value does not fit its column: {first_line(err)}") from None


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as a Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def data_frame(table: pa.Table) -> pd.DataFrame:
    """``table`` as a DataFrame of the same types on every machine: integers and flags that may
    be unmeasured as pandas' nullable ``Int64`` and ``boolean``, text as ``string``, numbers as
    ``float64`` (NaN where unmeasured)."""
    import pandas as pd
    import pyarrow as pa

    nullable = {
        pa.int64(): pd.Int64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
        pa.string(): pd.StringDtype(),
    }
    return table.to_pandas(types_mapper=nullable.get)
