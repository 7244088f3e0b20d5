"""``bench compare``'s files as their consumers read them: the JUnit XML through junitparser
(the parser CI plugins build on) and compare.md through GitHub's own Markdown renderer
(cmark-gfm, the ``cmarkgfm`` package); both are in the dev extras."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from compare_fixtures import write_run

from bench.cli import main

LENET = {"epoch_time_s": [2.0, 2.1], "total_time_s": [3.25, 4.5], "test_acc": [97.0, 97.1]}
RESNET = {"epoch_time_s": [10.0], "total_time_s": [12.0], "test_acc": [60.0]}


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from an empty folder, so that no reports/history.sqlite of the checkout is read."""
    monkeypatch.chdir(tmp_path)


def test_junit_read_by_junitparser_times_each_model_and_fails_one_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junitparser = pytest.importorskip("junitparser")
    base = write_run(
        tmp_path / "base", {"lenet5": LENET, "resnet18-cifar": RESNET, "vgg16": RESNET}
    )
    new = write_run(
        tmp_path / "new",
        {"lenet5": LENET, "resnet18-cifar": RESNET},
        created_utc="2026-03-04T05:06:07.891+01:00",
    )
    out = tmp_path / "compare.xml"
    assert main(["compare", str(new), str(base), "--format", "junit", "--out", str(out)]) == 0
    (suite,) = junitparser.JUnitXml.fromfile(str(out))
    assert suite.timestamp == "2026-03-04T04:06:07"  # UTC, as JUnit writes it
    assert suite.hostname == "host"
    cases = {(case.classname, case.name): case for case in suite}
    status = {key[0]: case for key, case in cases.items() if key[1] == "status"}
    assert {model: case.time for model, case in status.items()} == {
        "bench.fixture.lenet5": 7.75,  # both seeds' wall time
        "bench.fixture.resnet18-cifar": 12.0,
        "bench.fixture.vgg16": 0.0,
    }
    assert all(case.is_passed for model, case in status.items() if model != "bench.fixture.vgg16")
    (missing,) = status["bench.fixture.vgg16"].result
    assert isinstance(missing, junitparser.Failure)
    assert (missing.type, missing.message) == ("missing", "in the baseline, not in the new run")
    assert (suite.tests, suite.failures, suite.errors) == (len(cases), 1, 0)
    assert len(cases) == 2 * 3 + 3  # three metrics of two models, three status cases
    assert suite.time == 19.75


@pytest.mark.parametrize(
    ("machine", "suite", "starts"),
    [
        ("cpu-0a1b2c3d", "fixture", ["machine: cpu-0a1b2c3d"]),
        ("cpu-22222222", "other", ["Warning: CROSS-MACHINE", "Warning: CROSS-SUITE"]),
    ],
)
def test_compare_md_shows_each_header_line_as_its_own_paragraph_on_github(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], machine: str, suite: str, starts: list[str]
) -> None:
    cmarkgfm = pytest.importorskip("cmarkgfm")
    base = write_run(tmp_path / "base", {"lenet5": LENET})
    new = write_run(tmp_path / "new", {"lenet5": LENET}, machine_id=machine, suite=suite)
    flags = ["--allow-cross-machine", "--allow-cross-suite"]
    assert main(["compare", str(new), str(base), "--format", "md", *flags]) == 0
    page = cmarkgfm.github_flavored_markdown_to_html(capsys.readouterr().out)
    paragraphs = [re.sub("<[^>]*>", "", p) for p in re.findall("<p>(.*?)</p>", page, flags=re.S)]
    for start in ["new run ", "thresholds: ", *starts]:
        (paragraph,) = [p for p in paragraphs if p.startswith(start)]
        assert "\n" not in paragraph, paragraph  # one line: nothing run into it
    assert page.count("<blockquote>") == len(starts) - ("machine" in starts[0])
