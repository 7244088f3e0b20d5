"""Text from suite files, run directories and baselines renders as written in every Markdown
file ``bench`` writes (summary.md, compare.md, a profile suite's table), never as a link, an
image or other markup; report.html and JUnit XML carry the same text as inert text too.

Where GitHub's own Markdown renderer (cmark-gfm, the ``cmarkgfm`` package of the dev extras)
is installed, the files are rendered with it and their links and images counted."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from compare_fixtures import write_run as write_compared_run
from file_trees import tree_state

from bench.cli import main
from bench.results.rundir import RunDir
from bench.text_table import markdown_code, markdown_text

HOST = "e.example"
SUITE = f"![suite](https://{HOST}/suite.png) www.{HOST}"
DESCRIPTION = f"[description](https://{HOST}/d) <https://{HOST}/a> me@{HOST} _em_ `x`"
MODEL = f"[model](https://{HOST}/m)![img](https://{HOST}/m.png)"
MACHINE = f"[machine](https://{HOST}/machine)"
WARNING = f"[warning](https://{HOST}/w) ![w](https://{HOST}/w.png)"
HOSTILE = (SUITE, DESCRIPTION, MODEL, WARNING)
# The names each output shows: compare.md its runs' suite and models, summary.md all of them.
SHOWN = {"compare": [SUITE, MODEL], "report": list(HOSTILE)}


class Elements(HTMLParser):
    """The tags of an HTML page and the addresses its links and images point to."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.addresses: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in ("a", "img", "link", "script", "iframe"):
            self.addresses += [v or "" for k, v in attrs if k in ("href", "src")]


def _renamed(run: Path, old: str, new: str) -> Path:
    """``run`` with model ``old`` renamed ``new`` in run.json and every record (job ids kept:
    they must be plain names), its tables written again."""
    info = json.loads((run / "run.json").read_text())
    for job in info["jobs"]:
        job["model"] = new if job["model"] == old else job["model"]
    (run / "run.json").write_text(json.dumps(info))
    lines = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    for record in lines:
        record["model"] = new if record.get("model") == old else record.get("model")
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    RunDir.open(run).write_tables()
    return run


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    """A baseline run and a slower new run of a suite whose name, description, machine, model
    and a warning hold links and images, and a baseline file saved from the first."""
    base = write_compared_run(
        tmp_path / "base", {"lenet5": {"epoch_time_s": [2.0]}}, suite=SUITE, machine_id=MACHINE
    )
    new = write_compared_run(
        tmp_path / "new", {"lenet5": {"epoch_time_s": [3.0]}}, suite=SUITE, machine_id=MACHINE
    )
    for run in (base, new):
        info = json.loads((run / "run.json").read_text())
        info["suite"]["description"] = DESCRIPTION
        info["doctor"] = {"version": 1, "warnings": [WARNING]}
        (run / "run.json").write_text(json.dumps(info))
        _renamed(run, "lenet5", MODEL)
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", "save", str(base), "--out", str(baseline)]) == 0
    return {"base": base, "new": new, "baseline": baseline, "out": tmp_path / "out"}


def _markdown_of(case: str, runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> str:
    """The Markdown that ``case``'s command writes, after checking its exit status and that
    it left its inputs as they were."""
    before = {name: tree_state(runs[name]) for name in ("base", "new")}
    baseline = runs["baseline"].read_bytes()
    capsys.readouterr()
    if case == "compare":
        argv = ["compare", str(runs["new"]), str(runs["baseline"]), "--format", "md"]
        assert main([*argv, "--fail-on", "epoch_time_s:+10%"]) == 1
        text = capsys.readouterr().out
    else:
        argv = ["report", str(runs["new"]), "--out", str(runs["out"]), "--format", "md,html"]
        assert main(argv) == 0
        text = (runs["out"] / "summary.md").read_text()
    assert "Traceback" not in capsys.readouterr().err
    assert {name: tree_state(runs[name]) for name in ("base", "new")} == before
    assert runs["baseline"].read_bytes() == baseline
    return text


@pytest.mark.parametrize("case", ["compare", "report"])
def test_links_and_images_in_names_are_written_as_escaped_text(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], case: str
) -> None:
    text = _markdown_of(case, runs, capsys)
    assert [s for s in HOSTILE if markdown_text(s) in text] == SHOWN[case]
    assert not any(hostile in text for hostile in HOSTILE)
    prose = text.replace(markdown_code(MACHINE), "")  # a code span shows its text as code
    assert f"](https://{HOST}" not in prose and f"<https://{HOST}" not in prose
    if case == "compare":  # paths and machine ids are code spans; the regression is bold
        assert f"machine: {markdown_code(MACHINE)}" in text.splitlines()
        assert "| **REGRESSION** |" in text


@pytest.mark.parametrize("case", ["compare", "report"])
def test_github_renders_no_link_or_image_from_the_runs_and_keeps_its_own_markup(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], case: str
) -> None:
    cmarkgfm = pytest.importorskip("cmarkgfm")
    from cmarkgfm.cmark import Options

    # raw HTML kept, as GitHub renders before its sanitizer (which lets <a> and <img> through)
    text = _markdown_of(case, runs, capsys)
    page = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    elements = Elements(page)
    if case == "compare":
        assert elements.addresses == []
        assert {"h3", "table", "strong", "code"} <= set(elements.tags)
        assert "a" not in elements.tags and "img" not in elements.tags
    else:  # its only links: the figure files' own, beside it
        assert elements.addresses == [
            f"figures/epoch_time_throughput.{ext}" for ext in ("png", "svg")
        ]
        assert {"h1", "h2", "table", "ul", "li"} <= set(elements.tags)
        assert not {"img", "em", "code"} & set(elements.tags)
    shown = html.unescape(re.sub("<[^>]*>", "", page))  # the page's text, as a reader sees it
    for hostile in SHOWN[case]:
        assert " ".join(hostile.split()) in shown


def test_the_html_report_and_junit_carry_the_same_names_as_inert_text(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _markdown_of("report", runs, capsys)
    elements = Elements((runs["out"] / "report.html").read_text())
    assert [a for a in elements.addresses if HOST in a] == [
        "#model-model-https-e.example-m-img-https-e.example-m.png"  # the page's own anchor
    ]
    argv = ["compare", str(runs["new"]), str(runs["base"]), "--format", "junit"]
    assert main([*argv, "--fail-on", "epoch_time_s:+10%"]) == 1
    root = ET.fromstring(capsys.readouterr().out.encode())
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == f"bench compare {SUITE}"
    assert {case.get("classname") for case in suite.iter("testcase")} == {f"bench.{SUITE}.{MODEL}"}


def test_junit_with_a_control_character_in_a_name_still_parses(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _renamed(runs["new"], MODEL, "lenet\x015")
    _renamed(runs["base"], MODEL, "lenet\x015")
    capsys.readouterr()
    assert main(["compare", str(runs["new"]), str(runs["base"]), "--format", "junit"]) == 1
    root = ET.fromstring(capsys.readouterr().out.encode())
    assert {c.get("classname") for c in root.iter("testcase")} == {f"bench.{SUITE}.lenet\ufffd5"}


def test_a_profile_suite_description_is_escaped_in_its_markdown_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "counts.toml"
    suite.write_text(
        f'kind = "profile"\ndescription = "{DESCRIPTION}"\ninput_size = [1, 32, 32]\n'
        'models = ["lenet5"]\n'
    )
    capsys.readouterr()
    assert main(["profile", "--suite", str(suite), "--out", str(tmp_path / "out")]) == 0
    assert "Traceback" not in capsys.readouterr().err
    text = (tmp_path / "out" / "counts.md").read_text()
    assert text.splitlines()[0] == f"# {markdown_text(DESCRIPTION)}"
    assert f"](https://{HOST}" not in text


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("![x](https://e.example/i.png)", "!\\[x\\](https\\://e.example/i.png)"),
        ("[x](http://a) www.b.org", "\\[x\\](http\\://a) www\\.b.org"),
        ("<https://a.b> & <b>", "&lt;https\\://a.b&gt; &amp; &lt;b&gt;"),
        ("me@a.org, @x", "me<!-- -->@a.org, <!-- -->@x"),
        ("@lead", "@lead"),
        (
            "epoch_time_s _em_ *b* ~s~ `c` $m$ a|b \\",
            "epoch_time_s \\_em\\_ \\*b\\* \\~s\\~ \\`c\\` \\$m\\$ a\\|b \\\\",
        ),
        ("# heading", "\\# heading"),
        ("- item", "\\- item"),
        ("12. item", "12\\. item"),
        ("-0.5 (+1.2%) 1.5", "-0.5 (+1.2%) 1.5"),
        ("a\n\tb", "a b"),
    ],
)
def test_markdown_text_escapes_what_markdown_would_read_as_markup(value: str, written: str) -> None:
    assert markdown_text(value) == written


def test_markdown_code_fences_past_any_backticks_inside() -> None:
    assert markdown_code("a/b") == "`a/b`"
    assert markdown_code("x`` [y](z)") == "```x`` [y](z)```"
    assert markdown_code("`q`") == "`` `q` ``"
