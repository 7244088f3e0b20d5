"""The report's tables (pure functions of the job frame): seeds aggregated as mean ± std.

Each table keeps three aligned views: ``data`` (numbers, mean and std apart, for CSV and JSON,
under the machine names of ``bench.results.columns`` with ``_mean`` and ``_std``: values in
that column's unit, whatever the display shows), ``display`` (text under labels with units,
"n/a" where unmeasured) and ``sort_keys`` (what a sortable HTML column orders by).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.report.frames import MISSING_STATUS
from bench.results.columns import job_column
from bench.results.rundir import Run

NA = "n/a"


@dataclass(frozen=True)
class Column:
    """One column: a job field, its header with unit, how to show it and how to aggregate it.

    ``per_seed`` columns are measured per job and shown as mean ± std over the jobs that
    ended ``ok``; the others are facts of the model, taken from any of its jobs.
    """

    key: str
    header: str
    fmt: str = "{:.2f}"
    scale: float = 1.0
    per_seed: bool = True


@dataclass(frozen=True)
class Table:
    """A table in three aligned views; see the module docstring."""

    name: str
    title: str
    data: pd.DataFrame
    display: pd.DataFrame
    sort_keys: pd.DataFrame
    note: str = ""
    sortable: bool = True

    def rows(self) -> list[list[tuple[str, Any]]]:
        """Display rows as (text, sort key) cells; the sort key is ``""`` for n/a."""
        keys = self.sort_keys.apply(lambda column: column.map(_sort_key))
        return [
            list(zip(texts, sorts, strict=True))
            for texts, sorts in zip(
                self.display.itertuples(index=False), keys.itertuples(index=False), strict=True
            )
        ]

    def numeric_columns(self) -> list[bool]:
        """Whether each display column sorts (and aligns) as numbers."""
        return [pd.api.types.is_numeric_dtype(self.sort_keys[c]) for c in self.sort_keys]

    def csv_text(self) -> str:
        """The data view as CSV, an empty cell where unmeasured."""
        return self.data.convert_dtypes().to_csv(index=False)

    def records(self) -> list[dict[str, Any]]:
        """The data view's rows as JSON-ready dicts, ``None`` where unmeasured."""
        data = self.data.astype(object)
        return data.where(data.notna(), None).to_dict(orient="records")

    def text(self) -> str:
        """The display view as aligned plain text."""
        return self.display.to_string(index=False)


YEAR = Column("year", "Year", "{:.0f}", per_seed=False)
SALIENT = Column("salient_feature", "Salient feature", "{}", per_seed=False)
TEST_ACC = Column("test_acc", "Final test acc (%)")
MODEL_COLUMNS = (
    YEAR,
    SALIENT,
    Column("params", "Params", "{:,.0f}", per_seed=False),
    Column("macs", "GMACs (multiply-add = 1)", "{:.3g}", 1e-9, per_seed=False),
    Column("flops", "GFLOPs (multiply-add = 2)", "{:.3g}", 1e-9, per_seed=False),
    TEST_ACC,
    Column("best_test_acc", "Best test acc (%)"),
    Column("test_top5", "Final test top-5 (%)"),
    Column("epoch_time_s", "Epoch time, steady (s)", "{:.3g}"),
    Column("images_per_s", "Throughput (images/s)", "{:,.0f}"),
    Column("peak_mem_mib", "Peak GPU mem (MiB)", "{:,.0f}"),
    Column("gpu_util_pct", "GPU util (%)", "{:.1f}"),
    Column("energy_per_epoch_j", "Energy per epoch (J)", "{:,.0f}"),
    Column("mfu", "MFU (%)", "{:.3g}", 100.0),
)
# Shown where some job was trained by several processes (torchrun).
DISTRIBUTED_COLUMNS = (
    Column("world_size", "Processes (world size)", "{:.0f}", per_seed=False),
    Column("images_per_s_per_process", "Throughput per process (images/s)", "{:,.0f}"),
)
LECTURE_FIXED = (
    Column("published_top5", "ImageNet top-5, published (%)", per_seed=False),
    Column("paper_top5", "ImageNet top-5, paper (%)", per_seed=False),
    Column("params", "Parameters (M)", "{:.4g}", 1e-6, per_seed=False),
    Column("macs", "MACs (G, multiply-add = 1)", "{:.4g}", 1e-9, per_seed=False),
    Column("flops", "FLOPs (G, multiply-add = 2)", "{:.4g}", 1e-9, per_seed=False),
    Column("flops_per_mac", "FLOPs/MACs", "{:.3f}", per_seed=False),
)
# Shown where some job measured inference (``[inference]``).
INFERENCE_COLUMNS = (
    Column("latency_ms_p50", "Inference latency, batch 1, p50 (ms)", "{:.3g}"),
    Column("inference_images_per_s", "Inference throughput, largest batch (images/s)", "{:,.0f}"),
)
SEEDS_HEADER = "Seeds (n)"
NETWORK, SEEDS_OK = "network", "seeds_ok"
"""The data view's names for the table line's label and for how many jobs ended ok."""


def model_table(jobs: pd.DataFrame) -> Table:
    """Per model (and variant): static facts and every measured figure over seeds."""
    distributed = (pd.to_numeric(jobs["world_size"], errors="coerce") > 1).any()
    return aggregate(
        jobs,
        (*MODEL_COLUMNS, *DISTRIBUTED_COLUMNS) if distributed else MODEL_COLUMNS,
        name="models",
        title="Results by model (mean ± std over seeds)",
        note="Measured figures are mean ± std over the jobs that ended ok; "
        "n/a: not measured on this machine.",
    )


def lecture_table(jobs: pd.DataFrame, trained: bool = True) -> Table:
    """The lecture summary layout: the report's (published ImageNet top-5 beside the top-1 and
    top-5 accuracy measured here, each header naming its data set) and, for models counted but
    not trained (``trained=False``, a profile suite), the same columns without accuracy and
    seeds."""
    recorded = jobs[jobs["status"] != MISSING_STATUS]
    if not trained:
        columns = (YEAR, SALIENT, *LECTURE_FIXED)
        return aggregate(jobs, columns, "lecture", "Summary in the lecture layout", seeds=False)
    datasets = sorted({d for d in recorded["dataset"] if d})
    on = datasets[0] if len(datasets) == 1 else "its data set"
    accuracy = (
        Column("test_acc", f"Top-1, {on} test set (%)"),
        Column("test_top5", f"Top-5, {on} test set (%)"),
    )
    sources = sorted({s for s in recorded["published_source"].dropna() if s})
    source = f" Source of the published figures: {'; '.join(sources)}." if sources else ""
    keys = [c.key for c in INFERENCE_COLUMNS]
    inferred = recorded[keys].apply(pd.to_numeric, errors="coerce").notna().any().any()
    inference = (
        " Inference: forward time per batch at batch 1 and images/s at the largest batch "
        "that fitted in memory, at the first precision timed, mean ± std over seeds."
        if inferred
        else ""
    )
    return aggregate(
        jobs,
        (YEAR, SALIENT, *accuracy, *LECTURE_FIXED, *(INFERENCE_COLUMNS if inferred else ())),
        name="lecture",
        title="Summary in the lecture layout",
        note=f"Top-1 and top-5: measured here on the test set of {', '.join(datasets) or 'n/a'}"
        ", final epoch, mean ± std over seeds (top-5: n/a below 5 classes and in records made "
        "before it was kept). ImageNet top-5: figures published for ImageNet-trained "
        f"weights and quoted by the papers, not measured here.{source}{inference}",
    )


def aggregate(
    jobs: pd.DataFrame,
    columns: Sequence[Column],
    name: str,
    title: str,
    note: str = "",
    seeds: bool = True,
) -> Table:
    """One line per group of ``jobs`` with ``columns`` (and, with ``seeds``, how many jobs
    ended ok); see :class:`Column`."""
    recorded = jobs[jobs["status"] != MISSING_STATUS]
    ok = recorded[recorded["status"] == "ok"]
    groups = pd.Index(recorded["group"].unique(), name="group")
    data: dict[str, Any] = {NETWORK: list(groups)}
    display: dict[str, Any] = {"Network": list(groups)}
    sort: dict[str, Any] = {"Network": list(groups)}
    for column in columns:
        machine = job_column(column.key)
        if column.per_seed:
            values = pd.to_numeric(ok[column.key], errors="coerce")
            stats = values.groupby(ok["group"]).agg(["mean", "std"]).reindex(groups)
            data[f"{machine.name}_mean"] = (stats["mean"] * machine.scale).to_numpy()
            data[f"{machine.name}_std"] = (stats["std"] * machine.scale).to_numpy()
            stats = stats * column.scale
            display[column.header] = [
                mean_std(m, s, column.fmt) for m, s in zip(stats["mean"], stats["std"], strict=True)
            ]
            sort[column.header] = stats["mean"].to_numpy()
        else:
            first = recorded.groupby("group", sort=False)[column.key].first().reindex(groups)
            if column.fmt == "{}":
                data[machine.name] = first.to_numpy()
            else:
                first = pd.to_numeric(first, errors="coerce")
                data[machine.name] = (first * machine.scale).to_numpy()
                first = first * column.scale
            display[column.header] = [fmt_value(v, column.fmt) for v in first]
            sort[column.header] = first.to_numpy()
    if seeds:
        counts = ok.groupby("group").size().reindex(groups, fill_value=0).to_numpy()
        data[SEEDS_OK] = sort[SEEDS_HEADER] = counts
        display[SEEDS_HEADER] = [str(n) for n in counts]
    return Table(
        name,
        title,
        pd.DataFrame(data),
        pd.DataFrame(display),
        pd.DataFrame(sort),
        note,
    )


def failures_table(jobs: pd.DataFrame) -> Table:
    """Every job that did not end ``ok``, with its status and error."""
    failed = jobs[jobs["status"] != "ok"]
    columns = {"Job": "job_id", "Network": "group", "Seed": "seed", "Status": "status"}
    if jobs["run_id"].nunique() > 1:
        columns = {"Run": "run_id", **columns}
    shown = pd.DataFrame({h: failed[k].to_numpy() for h, k in columns.items()})
    shown["Error"] = failed["error"].fillna("").to_numpy()
    display = shown.apply(lambda column: column.map(lambda v: fmt_value(v, "{}")))
    names = {h: NETWORK if k == "group" else k for h, k in columns.items()}
    data = shown.rename(columns={**names, "Error": "error"})
    return Table(
        "failures",
        "Failed jobs",
        data,
        display,
        shown,
        note="Jobs that ended oom, diverged, error or interrupted; planned jobs with no record.",
    )


_ENVIRONMENT: tuple[tuple[str, Callable[[Run, dict[str, Any]], Any]], ...] = (
    ("Suite", lambda run, env: run.suite_name),
    ("Shard", lambda run, env: run.info.get("shard")),
    ("Created (UTC)", lambda run, env: run.info.get("created_utc")),
    ("Machine id", lambda run, env: env.get("machine_id")),
    ("Host", lambda run, env: env.get("hostname")),
    ("GPU", lambda run, env: _gpu(env)),
    ("Driver", lambda run, env: env.get("driver")),
    ("CUDA", lambda run, env: env.get("cuda")),
    ("cuDNN", lambda run, env: env.get("cudnn")),
    ("NVML", lambda run, env: env.get("nvml")),
    ("CPU", lambda run, env: _cpu(env)),
    ("RAM (GiB)", lambda run, env: env.get("ram_gib")),
    ("Platform", lambda run, env: env.get("platform")),
    ("Python", lambda run, env: env.get("python")),
    ("PyTorch", lambda run, env: env.get("torch")),
    ("torchvision", lambda run, env: env.get("torchvision")),
    ("Commit", lambda run, env: _commit(env)),
    ("Command", lambda run, env: " ".join(map(str, run.info.get("command") or [])) or None),
)


def environment_table(runs: Sequence[Run]) -> Table:
    """Where and with what each run was measured: one column per run (per input run of a
    merged run, which lists them under ``environments``)."""
    sources = [source for run in runs for source in _sources(run)]
    columns: dict[str, list[str]] = {"Field": [label for label, _ in _ENVIRONMENT]}
    for run in sources:
        label, count = run.run_id, 1
        while label in columns:  # runs of one name (e.g. shards started in the same second)
            count += 1
            label = f"{run.run_id} ({count})"
        columns[label] = [fmt_value(get(run, run.environment), "{}") for _, get in _ENVIRONMENT]
    data = pd.DataFrame(columns)
    return Table("environment", "Environment", data, data, data.copy(), sortable=False)


def _sources(run: Run) -> list[Run]:
    """The runs that measured ``run``'s jobs: the inputs of a merged run, else ``run``."""
    entries = run.info.get("environments")
    if not entries:
        return [run]
    suite = run.info.get("suite", {})
    return [Run(run.path, {**entry, "suite": suite}, (), (), ()) for entry in entries]


def _gpu(env: dict[str, Any]) -> str | None:
    name, count = env.get("gpu_name"), env.get("gpu_count")
    if not name:
        return "none" if count == 0 else None
    return f"{name} × {count}" if count and count > 1 else str(name)


def _cpu(env: dict[str, Any]) -> str | None:
    model, count = env.get("cpu_model"), env.get("cpu_count")
    if not model:
        return None
    return f"{model} ({count} logical CPUs)" if count else str(model)


def _commit(env: dict[str, Any]) -> str | None:
    commit = env.get("commit")
    if not commit:
        return None
    return f"{commit} (uncommitted changes)" if env.get("dirty") else str(commit)


def is_missing(value: Any) -> bool:
    """``None``, NaN or an empty string."""
    if value is None or (isinstance(value, str) and not value):
        return True
    return isinstance(value, float) and math.isnan(value)


def fmt_value(value: Any, fmt: str) -> str:
    """``value`` formatted with ``fmt``, or "n/a"."""
    return NA if is_missing(value) else fmt.format(value)


def mean_std(mean: float, std: float, fmt: str) -> str:
    """Mean ± std with the std to the mean's decimals; the mean alone where there is one
    value; "n/a" where there is none."""
    if is_missing(mean):
        return NA
    text = fmt.format(mean)
    if is_missing(std):
        return text
    decimals = len(text.partition(".")[2]) if "e" not in text else 2
    return f"{text} ± {std:,.{decimals}f}"


def _sort_key(value: Any) -> Any:
    if is_missing(value):
        return ""
    return value.item() if hasattr(value, "item") else value
