"""``bench history --html``: the history dashboard, self-contained, with series and steps."""

from __future__ import annotations

import base64
import io
import re
import struct
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from cli_errors import one_line_error
from compare_fixtures import write_run
from test_report_html import CHROMIUM, markup_errors, screenshot

from bench.cli import main
from bench.regress.dashboard import collect
from bench.regress.history import record_run
from bench.report.dashboard import chart_figure
from bench.report.figures import STYLE

# Three commits, two seeds each, the first measured again last; the third is 31 % slower (a
# step), accuracy does not move.
COMMITS = (
    ("aaa1111", [1.0, 1.02]),
    ("bbb2222", [0.99, 1.01]),
    ("ccc3333", [1.3, 1.32]),
    ("aaa1111", [1.01, 1.03]),
)
WORSE_RED = np.array([0xD6, 0x27, 0x28]) / 255  # matplotlib's C3, the colour of a worse step


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dashboard of the planted commits (and one run on a second machine), with the first
    run as the baseline."""
    folder = tmp_path_factory.mktemp("dashboard")
    db = folder / "history.sqlite"
    runs = [
        write_run(
            folder / f"run{day}",
            {"lenet5": {"epoch_time_s": times, "test_acc": [97.0, 97.2]}},
            commit=commit,
            created_utc=f"2026-01-0{day}T00:00:00+00:00",
            suite="smoke",
        )
        for day, (commit, times) in enumerate(COMMITS, start=1)
    ]
    runs.append(
        write_run(folder / "other", {"vgg16": {"epoch_time_s": [9.0]}}, machine_id="gpu-box")
    )
    for run in runs:
        record_run(db, run)
    out = folder / "site"
    argv = ["history", "--db", str(db), "--html", str(out), "--baseline", str(runs[0])]
    assert main(argv) == 0
    return out


def page_of(site: Path) -> str:
    return (site / "smoke-on-cpu-0a1b2c3d.html").read_text()


def charts(text: str) -> dict[str, tuple[str, np.ndarray]]:
    """Each chart's title → (caption, pixels)."""
    found = re.findall(
        r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)" title="[^"]*">\s*'
        r"<figcaption>([^<]*)</figcaption>",
        text,
    )
    return {
        alt: (caption, matplotlib.image.imread(io.BytesIO(base64.b64decode(data))))
        for data, alt, caption in found
    }


def has_colour(pixels: np.ndarray, colour: np.ndarray) -> bool:
    return bool((np.abs(pixels[..., :3] - colour).max(axis=-1) < 0.03).any())


def test_index_lists_every_suite_and_machine(site: Path) -> None:
    text = (site / "index.html").read_text()
    links = [v for tag, attr, v in markup_errors(text)[1] if tag == "a"]
    assert links == ["fixture-on-gpu-box.html", "smoke-on-cpu-0a1b2c3d.html"]
    assert all((site / link).is_file() for link in links)
    row = re.search(r'<a href="smoke-on-cpu-0a1b2c3d.html">smoke</a>.*?</tr>', text)
    assert row is not None
    cells = re.findall(r">([^<>]*)</td>", row.group(0))
    assert cells[1:] == ["cpu-0a1b2c3d", "4", "3", "2", "1", "ccc3333 (2026-01-03T00:00:00+00:00)"]


def test_page_shows_the_series_and_marks_the_step(site: Path) -> None:
    text = page_of(site)
    shown = charts(text)
    assert set(shown) == {"lenet5 · epoch_time_s (s)", "lenet5 · test_acc (%)"}
    caption, pixels = shown["lenet5 · epoch_time_s (s)"]
    assert caption == (
        "Steady-state epoch time (s): 3 commits, latest 1.31, baseline 1.01; "
        "step at #3 +31.0% (worse)"
    )
    assert has_colour(pixels, WORSE_RED)  # the step's dashed line
    caption, pixels = shown["lenet5 · test_acc (%)"]
    assert caption == "Final test accuracy (%): 3 commits, latest 97.1, baseline 97.1"
    assert not has_colour(pixels, WORSE_RED)
    assert re.findall(
        r'<figure id="chart-\d+" class="step worse">\s*<img [^>]* alt="([^"]+)"', text
    ) == ["lenet5 · epoch_time_s (s)"]
    row = re.search(r"<tr><td[^>]*>lenet5</td><td[^>]*>epoch_time_s</td>.*?</tr>", text)
    assert row is not None
    cells = re.findall(r">([^<>]*)</td>", row.group(0))
    assert cells[2:] == ["s", "3", "ccc3333", "1.31", "1.01", "+29.7", "3", "+31.0", "worse"]
    for commit, day in (("aaa1111", 1), ("bbb2222", 2), ("ccc3333", 3)):
        assert f'>{commit}</td><td data-sort="2026-01-0{day}T00:00:00+00:00">' in text
    assert "#3 ccc3333 2026-01-03T00:00:00+00:00: median 1.31 (n=2)" in text  # hover


def test_one_run_shows_one_commit_on_whole_positions_and_accuracy_up_to_100(
    tmp_path: Path,
) -> None:
    db = tmp_path / "history.sqlite"
    record_run(
        db, write_run(tmp_path / "run", {"lenet5": {"test_acc": [100.0], "epoch_time_s": [1.0]}})
    )
    (board,) = collect(db)
    by_metric = {chart.series.metric: chart for chart in board.charts}
    for metric, chart in by_metric.items():
        with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
            ax = chart_figure(board, chart).axes[0]
        ticks = [t for t in ax.get_xticks() if 0.5 <= t <= 1.5]
        assert ticks == [1.0], (metric, list(ax.get_xticks()))
        assert ax.get_ylim()[1] <= 100 if metric == "test_acc" else ax.get_ylim()[1] > 1.0
    out = tmp_path / "site"
    assert main(["history", "--db", str(db), "--html", str(out)]) == 0
    shown = charts((out / "fixture-on-cpu-0a1b2c3d.html").read_text())
    assert shown["lenet5 · test_acc (%)"][0] == "Final test accuracy (%): 1 commit, latest 100"


def test_pages_are_well_formed_and_self_contained(site: Path) -> None:
    for path in site.glob("*.html"):
        text = path.read_text()
        errors, links = markup_errors(text)
        assert errors == [], path.name
        assert all(v.startswith("data:image/png;base64,") for t, a, v in links if a == "src")
        assert all(re.fullmatch(r"#[\w-]+|[\w.-]+\.html", v) for t, a, v in links if a == "href"), (
            path.name
        )
        assert "http://" not in text and "https://" not in text and "url(" not in text
        assert "<link" not in text and text.count("<script>") == 1


def test_html_usage_errors_are_one_line(tmp_path: Path, capsys) -> None:
    assert main(["history", "--db", str(tmp_path / "no.sqlite"), "--html", str(tmp_path)]) == 2
    assert "no such history database" in capsys.readouterr().err
    argv = ["history", "--html", str(tmp_path), "--suite", "smoke"]
    assert main(argv) == 2
    assert "--html DIR takes the whole database" in capsys.readouterr().err
    assert main(["history", "--baseline", "b.json", "--suite", "s"]) == 2
    assert "--baseline goes with --html DIR" in capsys.readouterr().err


@pytest.mark.parametrize("under", ["", "x"])
def test_html_a_file_or_under_one_is_one_line(
    under: str, site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("kept\n")
    out = blocker / under if under else blocker
    db = site.parent / "history.sqlite"
    err = one_line_error(["history", "--db", str(db), "--html", str(out)], capsys)
    assert err == f"bench history: error: --html {out}: {blocker} is a file, not a directory"
    assert blocker.read_text() == "kept\n"


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_dashboard_renders_in_headless_chromium(site: Path, tmp_path: Path) -> None:
    shot = screenshot(site / "smoke-on-cpu-0a1b2c3d.html", tmp_path)
    header = shot.read_bytes()[:24]
    assert struct.unpack(">II", header[16:24]) == (1280, 2000)
    assert shot.stat().st_size > 20_000  # charts and tables, not an empty page
    pixels = matplotlib.image.imread(shot)
    assert pixels[..., :3].std() > 0.05
    assert has_colour(pixels, WORSE_RED)  # the step, as the browser draws the chart
