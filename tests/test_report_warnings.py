"""The report's warnings: a run's doctor snapshot at the top, GPU-throttled jobs flagged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from run_fixtures import write_run
from test_report_html import markup_errors

from bench.report import write_report
from bench.report.cautions import run_warnings, throttle_warning
from bench.results.rundir import read_runs

DOCTOR = {
    "version": 1,
    "warnings": [
        "GPU throttled: power cap",
        "another process is using the GPU (pid 1234, 2.1 GiB)",
        "cifar10 data corrupt: /data/<b>x</b>/test_batch",
    ],
}
THROTTLED = {
    ("vgg16", 0): (12.4, ["power cap", "HW thermal"]),
    ("lenet5", 0): (5.0, ["SW thermal"]),
}


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("warned") / "run"
    write_run(run, doctor=DOCTOR, throttled=THROTTLED, artifacts=False)
    write_report(read_runs([run]), run, formats=("html", "md"))
    return run


def test_summary_md_lists_the_snapshot_warnings_and_throttled_jobs_first(reported: Path) -> None:
    lines = (reported / "summary.md").read_text().splitlines()
    assert lines[2] == "synthetic fixture"  # the suite's description
    assert lines[6:14] == [
        "## Warnings",
        "",
        "- GPU throttled: power cap",
        "- another process is using the GPU (pid 1234, 2.1 GiB)",
        "- cifar10 data corrupt: /data/&lt;b&gt;x&lt;/b&gt;/test_batch",
        "- vgg16-s0: GPU throttled in 12% of samples (power cap, HW thermal)",
        "",
        "## Summary in the lecture layout",
    ]


def test_report_html_shows_warnings_in_the_header_and_the_model_section(reported: Path) -> None:
    page = (reported / "report.html").read_text()
    header = page[page.index("<header>") : page.index("</header>")]
    assert '<ul id="warnings" class="warnings">' in header
    assert "<li>another process is using the GPU (pid 1234, 2.1 GiB)</li>" in header
    assert "/data/&lt;b&gt;x&lt;/b&gt;/test_batch" in header and "<b>" not in page
    assert markup_errors(page)[0] == []
    vgg = page[page.index('<section id="model-vgg16">') :]
    vgg = vgg[: vgg.index("</section>")]
    assert "<li>vgg16-s0: GPU throttled in 12% of samples (power cap, HW thermal)</li>" in vgg
    assert "lenet5-s0: GPU throttled" not in page  # 5% is not more than 5%


def test_runs_without_a_snapshot_report_as_before(tmp_path: Path) -> None:
    run = write_run(tmp_path / "old", artifacts=False)
    write_report(read_runs([run]), run, formats=("html", "md"))
    assert "## Warnings" not in (run / "summary.md").read_text()
    assert 'class="warnings"' not in (run / "report.html").read_text()


def test_several_runs_name_the_run_each_warning_comes_from(tmp_path: Path) -> None:
    first = write_run(tmp_path / "a", doctor=DOCTOR, artifacts=False, telemetry=False)
    second = write_run(tmp_path / "b", artifacts=False, telemetry=False)
    write_report(read_runs([first, second]), tmp_path / "out", formats=("md",))
    lines = (tmp_path / "out" / "summary.md").read_text().splitlines()
    assert lines[6:13] == [
        "## Warnings",
        "",
        "- a: GPU throttled: power cap",
        "- a: another process is using the GPU (pid 1234, 2.1 GiB)",
        "- a: cifar10 data corrupt: /data/&lt;b&gt;x&lt;/b&gt;/test_batch",
        "",
        "## Summary in the lecture layout",
    ]


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (
            {"throttled_pct": 5.01, "throttle_reasons": ["power cap"]},
            "GPU throttled in 5% of samples (power cap)",
        ),
        ({"throttled_pct": 100, "throttle_reasons": []}, "GPU throttled in 100% of samples"),
        ({"throttled_pct": 5.0, "throttle_reasons": ["power cap"]}, None),
        ({"throttled_pct": None, "throttle_reasons": []}, None),  # CPU job, or no NVML
        ({"throttled_pct": "12", "throttle_reasons": "x"}, None),
        ({"throttled_pct": True}, None),
        ({}, None),  # recorded before throttling was
    ],
)
def test_throttle_line_of_a_job(extra: dict[str, Any], line: str | None) -> None:
    assert throttle_warning({"extra": extra}) == line
    assert throttle_warning({"extra": None}) is None


@pytest.mark.parametrize(
    "info", [{}, {"doctor": None}, {"doctor": "x"}, {"doctor": {"warnings": "text"}}]
)
def test_runs_without_usable_warnings_have_none(info: dict[str, Any]) -> None:
    assert run_warnings(info) == []
