"""A folder of what bench commands read and write, for the tests of hostile paths: two run
directories (synthetic, built with ``run_fixtures.write_run``; their suite is one ``bench merge``
and ``bench run --resume`` accept), a baseline, a history database, a suite file and a profile
suite. Built once (``place_template``), copied for each test (``place``), so that nothing a test
does reaches another."""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib
from run_fixtures import write_run
from tiny_suite import tiny_suite

from bench.cli import main
from bench.results.rundir import RunDir, TraceFiles

SUITE_NAME = "fixture-suite"
JOB = "lenet5-s0"
PROFILE_SUITE = 'kind = "profile"\nname = "tiny-profile"\nmodels = ["lenet5"]\n'


@dataclass(frozen=True)
class Place:
    """The paths of a place (see the module docstring)."""

    root: Path

    @property
    def run(self) -> Path:
        """A run directory of job ``JOB`` (traced), recorded in ``db``, saved as ``baseline``."""
        return self.root / "RUN"

    @property
    def other(self) -> Path:
        """Another run directory of the same suite."""
        return self.root / "OTHER"

    @property
    def baseline(self) -> Path:
        return self.root / "base.json"

    @property
    def db(self) -> Path:
        return self.root / "history.sqlite"

    @property
    def suite(self) -> Path:
        """A suite file ``bench run`` takes (two tiny digits jobs on the CPU)."""
        return self.root / "tiny.toml"

    @property
    def profile_suite(self) -> Path:
        return self.root / "tiny-profile.toml"

    def series(self) -> list[str]:
        """``bench history`` arguments of a series the database holds."""
        query = ["--suite", SUITE_NAME, "--model", "lenet5", "--metric", "epoch_time_s"]
        return [*query, "--db", str(self.db)]


def write_place(root: Path) -> Place:
    """Build a place under ``root`` (see the module docstring)."""
    place = Place(root)
    suite = tomllib.loads(tiny_suite(SUITE_NAME))
    for run in (place.run, place.other):
        write_run(run, suite=SUITE_NAME, models=("lenet5",))
        info = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**info, "suite": suite}))
    RunDir.open(place.run).save_trace(
        JOB,
        TraceFiles(
            gzip.compress(b'{"traceEvents": []}'),
            "operator,calls_per_step,self_ms_per_step,self_pct,total_ms_per_step,clock\n"
            "aten::conv2d,2,1.5,60.0,2.0,cpu\n",
            "module,calls_per_step,forward_ms_per_step,clock\nfeatures,1,1.0,cpu\n",
        ),
    )
    place.suite.write_text(tiny_suite(epochs=1, train_size=128, test_size=32))
    place.profile_suite.write_text(PROFILE_SUITE)
    for argv in (
        ["baseline", "save", str(place.run), "--out", str(place.baseline)],
        ["history", "--record", str(place.run), "--db", str(place.db)],
    ):
        assert main(argv) == 0
    return place


@pytest.fixture(scope="session")
def place_template(tmp_path_factory: pytest.TempPathFactory) -> Place:
    return write_place(tmp_path_factory.mktemp("place") / "place")


@pytest.fixture
def place(place_template: Place, tmp_path: Path) -> Place:
    """A fresh copy of the place, at ``tmp_path / "place"``."""
    return Place(Path(shutil.copytree(place_template.root, tmp_path / "place", symlinks=True)))
