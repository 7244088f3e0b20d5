"""report.html: well-formed, self-contained (no network), escaped, and rendered by a browser."""

from __future__ import annotations

import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import pytest
from run_fixtures import write_run

from bench.report import write_report
from bench.results.rundir import read_runs

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)


class StrictHTML(HTMLParser):
    """Every element closed, in order (no implied end tags); collects src/href values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, tuple[int, int]]] = []
        self.errors: list[str] = []
        self.links: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [(tag, k, v or "") for k, v in attrs if k in ("src", "href")]
        if tag not in VOID:
            self.open.append((tag, self.getpos()))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [(tag, k, v or "") for k, v in attrs if k in ("src", "href")]

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            where = f"<{self.open[-1][0]}> from {self.open[-1][1]}" if self.open else "nothing"
            self.errors.append(f"</{tag}> at {self.getpos()} closes {where}")
        else:
            self.open.pop()


def markup_errors(text: str) -> tuple[list[str], list[tuple[str, str, str]]]:
    parser = StrictHTML()
    parser.feed(text)
    parser.close()
    unclosed = [f"<{tag}> from {pos} never closed" for tag, pos in parser.open]
    return parser.errors + unclosed, parser.links


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """report.html of a run whose suite name and error message carry markup."""
    run = write_run(
        tmp_path_factory.mktemp("html") / "run",
        suite='<script>alert("suite")</script>',
        models=("lenet5", "conv-autoencoder"),
        seeds=(0, 1),
        failures={("lenet5", 1): "error"},
    )
    paths = write_report(read_runs([run]), run, {"html", "md"})
    assert paths.html is not None
    return paths.html


def test_strict_checker_rejects_malformed_markup() -> None:
    assert markup_errors("<div><p>text</div>")[0] == [
        "</div> at (1, 12) closes <p> from (1, 5)",
        "<div> from (1, 0) never closed",
        "<p> from (1, 5) never closed",
    ]
    assert markup_errors("<ul><li>a</li></ul><img src='x'>")[0] == []


def test_report_html_is_well_formed(page: Path) -> None:
    text = page.read_text()
    assert text.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert markup_errors(text)[0] == []


def test_report_html_is_self_contained(page: Path) -> None:
    text = page.read_text()
    links = markup_errors(text)[1]
    images = [value for tag, attr, value in links if tag == "img"]
    assert len(images) == 16  # the fixture run's fifteen figures and its roofline
    assert all(v.startswith("data:image/png;base64,") for v in images)
    assert not [v for _, _, v in links if v.lower().startswith(("http:", "https:", "//"))]
    # the page's own anchors and inlined images; its captions link the figure files beside it
    assert all(
        v.startswith(("#", "data:")) or (tag == "a" and v.startswith("figures/"))
        for tag, _, v in links
    )
    assert "http://" not in text
    assert "https://" not in text
    assert "url(" not in text
    assert "<link" not in text


def test_suite_name_with_markup_is_escaped(page: Path) -> None:
    text = page.read_text()
    assert "&lt;script&gt;alert(&#34;suite&#34;)&lt;/script&gt;" in text
    assert "<script>alert" not in text
    assert text.count("<script>") == 1  # the page's own table-sorting script
    summary = (page.parent / "summary.md").read_text()
    assert '# Benchmark report: &lt;script&gt;alert("suite")&lt;/script&gt;' in summary
    assert "<script>" not in summary


def test_failed_job_is_listed_in_the_page(page: Path) -> None:
    text = page.read_text()
    assert "Failed jobs (1)" in text
    assert "lenet5-s1 (seed 1): error: RuntimeError: synthetic error in fixture job" in text


def screenshot(page: Path, tmp_path: Path) -> Path:
    """A 1280 × 2000 PNG of ``page`` rendered by headless Chromium (with no network)."""
    shot = tmp_path / f"{page.stem}.png"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        page.as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return shot


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_report_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    shot = screenshot(page, tmp_path)
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 2000)
    pixels = matplotlib.image.imread(shot)
    assert pixels[..., :3].std() > 0.05  # text, tables and figures, not a blank page
