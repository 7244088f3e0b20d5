"""Suite files: validation with one-line errors, overrides, and the job matrix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import BenchError, SuiteError
from bench.models import list_models
from bench.models.registry import TASKS
from bench.recipes import RECIPES
from bench.suite.docs import render_page, settings_tables
from bench.suite.files import shipped_suites
from bench.suite.matrix import build_suite, load_suite, parse_overrides, variant_settings

SUITE = """
name = "mini"
epochs = 2
seeds = [0, 1]
[dataset]
name = "digits"
[optimizer]
name = "sgd"
lr = 0.05
[[models]]
name = "lenet5"
[[models]]
name = "lenet5-relu"
batch_size = 16
[models.optimizer]
lr = 0.01
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return path


def test_jobs_expand_models_by_seeds_with_stable_ids(tmp_path: Path) -> None:
    suite = load_suite(str(write(tmp_path, SUITE)))
    assert [j.job_id for j in suite.jobs] == [
        "lenet5__s0",
        "lenet5__s1",
        "lenet5-relu__s0",
        "lenet5-relu__s1",
    ]


def test_model_overrides_merge_into_suite_settings(tmp_path: Path) -> None:
    jobs = load_suite(str(write(tmp_path, SUITE))).jobs
    assert jobs[0].config.batch_size == 64 and jobs[0].config.optimizer.lr == 0.05
    assert jobs[2].config.batch_size == 16 and jobs[2].config.optimizer.lr == 0.01
    assert jobs[2].config.optimizer.name == "sgd"


def test_set_overrides_every_job_and_keeps_type(tmp_path: Path) -> None:
    suite = load_suite(str(write(tmp_path, SUITE)), overrides=["optimizer.lr=0.2", "epochs=3"])
    assert {j.config.optimizer.lr for j in suite.jobs} == {0.2}
    assert {j.config.epochs for j in suite.jobs} == {3}


def test_models_and_seeds_filters(tmp_path: Path) -> None:
    suite = load_suite(str(write(tmp_path, SUITE)), models="*relu", seeds=[7])
    assert [j.job_id for j in suite.jobs] == ["lenet5-relu__s7"]


def test_variants_expand_into_jobs() -> None:
    raw = {"models": ["lenet5"], "variants": ["fp32", "amp-bf16+channels_last"]}
    jobs = build_suite(raw, "x.toml").jobs
    assert [j.job_id for j in jobs] == ["lenet5__s0__fp32", "lenet5__s0__amp-bf16+channels_last"]
    assert jobs[1].config.precision == "amp-bf16" and jobs[1].config.channels_last


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs = [", "invalid TOML"),
        ('models = ["lenet5"]\nepochz = 3', "unknown field 'epochz'; did you mean 'epochs'?"),
        ('models = ["lenet6"]', "unknown model 'lenet6'"),
        ('models = ["lenet5"]\nepochs = "five"', "field 'epochs' must be an integer"),
        (
            'models = ["lenet5"]\n[optimizer]\nname = "sgdd"',
            "field 'optimizer.name' must be one of",
        ),
        ('models = ["lenet5"]\n[dataset]\nresise = 32', "unknown field 'dataset.resise'"),
        ("epochs = 2", "field 'models' must be a non-empty list"),
        ('models = ["lenet5"]\nseeds = [-1]', "field 'seeds' must be at least 0"),
    ],
)
def test_bad_suite_files_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BenchError) as err:
        load_suite(str(path))
    assert str(path) in str(err.value)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("optimizer.lrr=0.1", "--set optimizer.lrr: unknown field"),
        ("epochs=two", "--set epochs must be an integer"),
        ("optimizer=1", "'optimizer' is a table"),
        ("epochs", "expected KEY=VALUE"),
    ],
)
def test_bad_set_names_the_flag(pair: str, message: str) -> None:
    with pytest.raises(BenchError, match=message):
        parse_overrides([pair])


def test_set_parses_toml_values() -> None:
    out = parse_overrides(["dataset.image_size=[1, 28, 28]", "deterministic=true", "device=cpu"])
    assert out == {"dataset": {"image_size": [1, 28, 28]}, "deterministic": True, "device": "cpu"}


def test_unknown_variant_part_is_refused() -> None:
    with pytest.raises(BenchError, match="unknown variant part 'amp-bf61'"):
        variant_settings("amp-bf61+channels_last")


def test_autoencode_requires_unnormalised_pixels() -> None:
    raw = {"models": ["conv-autoencoder"], "recipe": "autoencode"}
    with pytest.raises(SuiteError, match=r"dataset\.normalize' must be false"):
        build_suite(raw, "ae.toml")


def test_model_recipe_mismatch_is_refused() -> None:
    with pytest.raises(SuiteError, match="needs recipe 'autoencode'"):
        build_suite({"models": ["conv-autoencoder"]}, "ae.toml")


@pytest.mark.parametrize("name", [s for s in shipped_suites() if s != "imagenet-profile"])
def test_shipped_suites_validate(name: str) -> None:
    suite = load_suite(name)
    assert suite.jobs and suite.name == name


def test_docs_settings_tables_are_the_ones_the_settings_generate() -> None:
    page = (Path(__file__).parent.parent / "docs" / "suites.md").read_text()
    assert [f"<!-- settings:{name} -->" in page for name in settings_tables()] == [True] * 7
    assert render_page(page) == page, "run: python -m bench.suite.docs docs/suites.md"


def test_every_task_a_model_can_have_has_its_recipe() -> None:
    assert tuple(RECIPES) == TASKS
    assert {info.task for info in list_models()} == set(TASKS)


def test_the_settings_schema_validates_types_choices_and_minimums() -> None:
    with pytest.raises(SuiteError, match=r"field 'dataset.image_size' must be a list of 3"):
        build_suite({"models": ["lenet5"], "dataset": {"image_size": [1, 2]}}, "x.toml")
    with pytest.raises(SuiteError, match=r"field 'compile' must be one of '', 'default'"):
        build_suite({"models": ["lenet5"], "compile": "fast"}, "x.toml")
    with pytest.raises(SuiteError, match=r"field 'schedule.step_size' must be at least 1"):
        build_suite({"models": ["lenet5"], "schedule": {"step_size": 0}}, "x.toml")
    (job,) = build_suite({"models": ["lenet5"], "target_acc": None}, "x.toml").jobs
    assert job.config.target_acc is None and job.config.optimizer.betas == (0.9, 0.999)
