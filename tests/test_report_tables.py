"""Report building blocks: aggregation over seeds, formatting, grouping, image grids, Markdown."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bench.errors import BenchError
from bench.report import parse_formats
from bench.report.frames import job_frame, unique_slugs
from bench.report.images import filter_grid, image_grid
from bench.report.markdown import markdown_table
from bench.report.tables import mean_std, model_table
from bench.results.records import JobRecord, to_json_dict
from bench.results.rundir import Run


def job(job_id: str, seed: int, status: str = "ok", **fields: object) -> dict:
    record = JobRecord(
        job_id=job_id,
        suite=str(fields.pop("suite", "s")),
        model=str(fields.pop("model", "resnet18")),
        seed=seed,
        variant=str(fields.pop("variant", "")),
        status=status,
        error=None if status == "ok" else "boom",
        dataset=str(fields.pop("dataset", "cifar10")),
        recipe="classify",
        device="cuda",
        precision="fp32",
        batch_size=64,
        epochs=2,
        **fields,  # type: ignore[arg-type]
    )
    return to_json_dict(record)


def run_of(*jobs: dict, name: str = "r") -> Run:
    info = {"run_id": name, "jobs": []}
    return Run(path=Path(name), info=info, records=jobs, jobs=jobs, epochs=())


def test_mean_std_writes_the_std_to_the_means_decimals() -> None:
    assert mean_std(81.0, math.sqrt(2), "{:.2f}") == "81.00 ± 1.41"
    assert mean_std(19.2, 0.017, "{:.3g}") == "19.2 ± 0.0"
    assert mean_std(9617.0, 370.4, "{:,.0f}") == "9,617 ± 370"
    assert mean_std(5.0, math.nan, "{:.2f}") == "5.00"
    assert mean_std(math.nan, math.nan, "{:.2f}") == "n/a"


def test_model_table_aggregates_jobs_that_ended_ok_over_seeds() -> None:
    jobs = job_frame(
        [
            run_of(
                job("a", 0, test_acc=80.0, params=11_181_642, year=2015, mfu=0.25),
                job("b", 1, test_acc=82.0, params=11_181_642, year=2015, mfu=0.35),
                job("c", 2, "diverged", test_acc=10.0, params=11_181_642, year=2015),
            )
        ]
    )
    table = model_table(jobs)
    row = table.display.iloc[0]
    assert row["Network"] == "resnet18"
    assert row["Final test acc (%)"] == "81.00 ± 1.41"
    assert row["MFU (%)"] == "30 ± 7"
    assert row["Params"] == "11,181,642"
    assert row["Year"] == "2015"
    assert row["Peak GPU mem (MiB)"] == "n/a"
    assert row["Seeds (n)"] == "2"
    assert table.data.loc[0, "test_acc_pct_mean"] == 81.0
    assert table.rows()[0][6] == ("81.00 ± 1.41", 81.0)
    assert table.rows()[0][10] == ("n/a", "")


def test_groups_name_suite_and_dataset_only_where_they_differ() -> None:
    jobs = job_frame(
        [
            run_of(
                job("a", 0, variant="amp"),
                job("b", 0, dataset="mnist"),
                job("c", 0, dataset="mnist", model="lenet5"),
            )
        ]
    )
    assert jobs["group"].tolist() == [
        "resnet18 (amp) [cifar10]",
        "resnet18 [mnist]",
        "lenet5 [mnist]",
    ]
    assert unique_slugs(["a b", "a-b", "A.B"]) == {"a b": "a-b", "a-b": "a-b-2", "A.B": "a.b"}


def test_filter_grid_puts_eight_filters_to_a_row_scaled_to_unit_range() -> None:
    weights = np.arange(16 * 3 * 3 * 3, dtype=np.float32).reshape(16, 3, 3, 3) - 100
    grid = filter_grid(weights)
    assert grid.shape == (2 * 4 + 1, 8 * 4 + 1, 3)
    assert grid[1:4, 1:4].min() == 0.0  # first filter holds the smallest weight
    assert grid[5:8, 29:32].max() == 1.0  # last filter holds the largest
    assert grid[0].tolist() == [[1.0, 1.0, 1.0]] * 33  # padding is white


def test_filter_grid_of_one_input_channel_is_grey() -> None:
    grid = filter_grid(np.random.default_rng(0).normal(size=(6, 1, 5, 5)))
    assert grid.shape == (7, 6 * 6 + 1, 1)


def test_image_grid_scales_normalised_images_and_keeps_unit_ones() -> None:
    unit = np.full((2, 3, 4, 4), 0.25, np.float32)
    assert image_grid(unit)[1:5, 1:5].tolist() == [[[0.25] * 3] * 4] * 4
    normalised = np.stack([np.full((3, 4, 4), -2.0), np.full((3, 4, 4), 2.0)])
    grid = image_grid(normalised)
    assert (grid[1, 1, 0], grid[1, 6, 0]) == (0.0, 1.0)


def test_markdown_table_escapes_markup_and_pipes_and_aligns_numbers() -> None:
    jobs = job_frame([run_of(job("a", 0, salient_feature="a|b <i>", test_acc=90.0))])
    text = markdown_table(model_table(jobs))
    header, rule, row = text.splitlines()
    assert header.startswith("| Network | Year | Salient feature | Params |")
    assert rule.startswith("|---|---:|---|---:|")
    assert "| a\\|b &lt;i&gt; |" in row


def test_parse_formats_accepts_known_names_and_names_an_unknown_one() -> None:
    assert parse_formats("html, csv") == {"html", "csv"}
    with pytest.raises(BenchError, match=r"^--format: unknown format 'pdf'; known: html, csv, md$"):
        parse_formats("html,pdf")
    with pytest.raises(BenchError, match="--format: expected some of"):
        parse_formats(" , ")
