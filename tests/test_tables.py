"""A run directory's tables as query engines and pandas read them (``bench.results.columns``,
``bench.load_run``): keys never empty, the same types on every machine, names with units."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from run_fixtures import write_run

import bench
from bench.errors import BenchError
from bench.measure.roofline import DevicePeaks, RooflinePoint
from bench.report.build import write_report
from bench.results.columns import (
    INFERENCE_ROW_COLUMNS,
    INFERENCE_TABLE_COLUMNS,
    JOB_COLUMNS,
    ROOFLINE,
    record_columns,
)
from bench.results.rundir import RunDir, read_runs


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two models × two seeds on the CPU: every GPU figure unmeasured."""
    return write_run(tmp_path_factory.mktemp("cpu") / "run", seeds=(0, 1), gpu=False)


@pytest.fixture(scope="module")
def gpu_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("gpu") / "run", seeds=(0, 1), artifacts=False)


def test_pandas_groups_a_cpu_runs_jobs_by_model_and_variant(cpu_run: Path) -> None:
    groups = pd.read_csv(cpu_run / "results.csv").groupby(["model", "variant"])
    assert groups.size().to_dict() == {("lenet5", "default"): 2, ("vgg16", "default"): 2}
    loaded = bench.load_run(cpu_run).jobs.groupby(["model", "variant"])
    assert loaded.size().to_dict() == {("lenet5", "default"): 2, ("vgg16", "default"): 2}


def test_duckdb_sums_power_over_the_parquet_tables(cpu_run: Path, gpu_run: Path) -> None:
    query = "select sum(power_w), count(*) from '{}/results.parquet'"
    assert duckdb.sql(query.format(cpu_run)).fetchall() == [(None, 4)]
    jobs = RunDir.open(gpu_run).read().jobs
    ((total, count),) = duckdb.sql(query.format(gpu_run)).fetchall()
    assert count == 4 and total == pytest.approx(sum(j["power_w"] for j in jobs))
    epochs = duckdb.sql(f"select sum(energy_j) from '{cpu_run}/epochs.parquet'").fetchall()
    assert epochs == [(None,)]


def test_tables_have_the_same_types_on_a_cpu_and_a_gpu(cpu_run: Path, gpu_run: Path) -> None:
    for name in ("results", "epochs", "inference"):
        assert pq.read_schema(cpu_run / f"{name}.parquet") == pq.read_schema(
            gpu_run / f"{name}.parquet"
        )
    schema = pq.read_schema(cpu_run / "results.parquet")
    assert (str(schema.field("power_w").type), str(schema.field("seed").type)) == (
        "double",
        "int64",
    )
    assert schema.field("mfu_pct").metadata == {b"unit": b"%"}
    frame = bench.load_run(cpu_run).jobs
    assert (frame["power_w"].dtype, frame["seed"].dtype) == ("float64", "Int64")


def test_columns_carry_units_and_mfu_is_a_percentage(gpu_run: Path) -> None:
    jobs = {j["job_id"]: j for j in RunDir.open(gpu_run).read().jobs}
    frame = bench.load_run(gpu_run).jobs.set_index("job_id")
    record = jobs["vgg16-s1"]
    row = frame.loc["vgg16-s1"]
    assert row["mfu_pct"] == pytest.approx(100 * record["mfu"])
    assert row["test_acc_pct"] == record["test_acc"]
    assert row["forward_macs_per_image"] == record["macs"] == 15_470_000_000
    assert row["forward_flops_per_image"] == record["flops"]
    assert row["input_size"] == "x".join(map(str, record["input_size"]))
    assert not {"macs", "flops", "test_acc", "mfu", "achieved_tflops"} & set(frame.columns)
    assert "achieved_tflop_per_s" in frame.columns


def test_inference_table_flattens_the_roofline_as_bench_infer_does(gpu_run: Path) -> None:
    with (gpu_run / "inference.csv").open() as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == [c.name for c in INFERENCE_TABLE_COLUMNS]
    assert reader.fieldnames[4:] == [c.name for c in INFERENCE_ROW_COLUMNS]
    assert "roofline" not in reader.fieldnames and "pass_ms" not in reader.fieldnames
    point = RunDir.open(gpu_run).read().inference[0]["roofline"]
    first = rows[0]
    assert float(first["roofline_intensity_flop_per_byte"]) == point["intensity_flop_per_byte"]
    assert float(first["roofline_roof_pct"]) == pytest.approx(100 * point["roof_fraction"])
    assert first["roofline_bound"] == point["bound"]


def test_the_roofline_columns_are_every_key_a_point_keeps() -> None:
    point = RooflinePoint(1e9, 1e-3, 1e8, "fp32", DevicePeaks(1e12, 1e11, "datasheet"))
    assert list(ROOFLINE) == list(point.to_dict())


def test_a_new_record_field_gets_a_column_by_the_rule() -> None:
    @dataclasses.dataclass
    class Future:
        test_acc: float | None  # % in METRICS
        mfu: float | None  # a fraction in METRICS
        predicted_time_s: float | None
        train_acc: float | None
        new_count: int | None
        label: str | None
        step_ms: list[float] | None
        flops: int | None

    columns = [(c.name, c.unit, c.dtype, c.scale) for c in record_columns(Future)]
    assert columns == [
        ("test_acc_pct", "%", "float64", 1.0),
        ("mfu_pct", "%", "float64", 100.0),
        ("predicted_time_s", "s", "float64", 1.0),
        ("train_acc_pct", "%", "float64", 1.0),
        ("new_count", "", "int64", 1.0),
        ("label", "", "string", 1.0),
        ("forward_flops_per_image", "FLOP per image (multiply-add = 2)", "int64", 1.0),
    ]


def test_every_column_name_is_a_plain_lowercase_identifier(tmp_path: Path, cpu_run: Path) -> None:
    names = [c.name for c in (*JOB_COLUMNS, *INFERENCE_TABLE_COLUMNS)]
    report = write_report(read_runs([cpu_run]), tmp_path, {"csv"})
    for path in report.tables:
        with path.open() as handle:
            names += next(csv.reader(handle))
    assert [n for n in names if not re.fullmatch(r"[a-z][a-z0-9_]*", n)] == []
    models = pd.read_csv(report.tables[0])
    assert models["test_acc_pct_mean"].dtype == "float64"
    assert models["peak_mem_mib_mean"].isna().all()  # unmeasured: empty, not "n/a"


def test_load_run_reads_a_run_directory_of_the_old_format(tmp_path: Path) -> None:
    """Records without the fields added since, CSVs under the old headers, no Parquet."""
    run = write_run(tmp_path / "run", models=("lenet5",), artifacts=False)
    newer = {"step_ms", "samples", "inference", "latency_ms_p50", "inference_images_per_s"}
    records = [{k: v for k, v in r.items() if k not in newer} for r in RunDir.open(run).records()]
    RunDir.open(run).write_records(records)
    for path in run.glob("*.parquet"):
        path.unlink()
    (run / "inference.csv").unlink()
    old_header = "job_id,suite,model,seed,variant,status,macs,flops,test_acc,mfu\n"
    (run / "results.csv").write_text(old_header + "lenet5-s0,fixture-suite,lenet5,0,,ok,,,,\n")
    (job,) = (r for r in records if r["type"] == "job")
    tables = bench.load_run(run)
    row = tables.jobs.iloc[0]
    assert (row["job_id"], row["variant"], row["test_acc_pct"]) == (
        "lenet5-s0",
        "default",
        job["test_acc"],
    )
    assert row["forward_macs_per_image"] == job["macs"] and pd.isna(row["latency_ms_p50"])
    assert len(tables.epochs) == 3 and tables.epochs["variant"].tolist() == ["default"] * 3
    assert tables.inference.empty and "roofline_bound" in tables.inference.columns


def test_load_run_of_a_damaged_run_directory_is_one_line(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",), artifacts=False, inference=False)
    lines = (run / "records.jsonl").read_text().splitlines(keepends=True)
    damaged = json.loads(lines[1])
    damaged["power_w"] = "150 W"
    lines[1] = json.dumps(damaged) + "\n"
    (run / "records.jsonl").write_text("".join(lines))
    with pytest.raises(BenchError) as raised:
        bench.load_run(run)
    assert str(raised.value) == (
        f"{run / 'records.jsonl'}: line 2: field 'power_w' not a number: '150 W'"
    )
    with pytest.raises(BenchError, match=r"no such run directory$"):
        bench.load_run(tmp_path / "absent")


def test_a_roofline_value_of_the_wrong_type_is_refused_where_read(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", models=("lenet5",), artifacts=False)
    lines = (run / "records.jsonl").read_text().splitlines(keepends=True)
    job = json.loads(lines[-1])
    job["inference"][0]["roofline"]["flops"] = "many"
    lines[-1] = json.dumps(job) + "\n"
    (run / "records.jsonl").write_text("".join(lines))
    with pytest.raises(BenchError) as raised:
        bench.load_run(run)
    assert str(raised.value) == (
        f"{run / 'records.jsonl'}: line {len(lines)}: field 'inference[0].roofline.flops' "
        "not a number: 'many'"
    )
