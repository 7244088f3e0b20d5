"""Suite files (TOML) → a validated ``Suite`` → the job matrix.

A suite holds settings shared by all its jobs (data set, recipe, optimizer, schedule, epochs, ...),
a list of models, each of which may override any of those settings, a list of seeds and optional
variants (precision and layout combinations). Everything is validated, every name checked against
its registry, before anything runs. Command-line overrides (``--set key=value``) must name an
existing field and keep its type. See ``docs/suites.md`` for the schema.
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError, SuiteError, UnknownNameError
from bench.suite import schema as sch
from bench.suite.files import find_suite, read_toml
from bench.suite.schema import Field
from bench.suite.thresholds import parse_threshold_table

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATASET_NAMES = ("mnist", "fashion-mnist", "cifar10", "cifar100", "digits", "synthetic")
RECIPES = ("classify", "autoencode")
PRECISIONS = ("fp32", "tf32", "amp-bf16", "amp-fp16")
VARIANT_FLAGS = ("channels_last", "compile")

_OPTIMIZER: sch.Schema = {
    "name": Field(str, "sgd", choices=("sgd", "adam", "adamw")),
    "lr": Field(float, 0.01, minimum=0.0),
    "momentum": Field(float, 0.0, minimum=0.0),
    "nesterov": Field(bool, False),
    "weight_decay": Field(float, 0.0, minimum=0.0),
    "betas": Field(list, [0.9, 0.999], item=float, length=2),
}

# Settings every job has; a model entry may override any of them.
JOB_SCHEMA: sch.Schema = {
    "recipe": Field(str, "classify", choices=RECIPES),
    "epochs": Field(int, 5, minimum=1),
    "batch_size": Field(int, 64, minimum=1),
    "eval_batch_size": Field(int, 0, minimum=0, doc="0: same as batch_size"),
    "device": Field(str, "auto", choices=("auto", "cpu", "cuda")),
    "precision": Field(str, "fp32", choices=PRECISIONS),
    "channels_last": Field(bool, False),
    "compile": Field(str, "", choices=("", "default", "reduce-overhead", "max-autotune")),
    "deterministic": Field(bool, False),
    "loader": Field(str, "auto", choices=("auto", "resident", "torch")),
    "num_workers": Field(int, 0, minimum=0),
    "target_acc": Field(float, None, nullable=True, minimum=0.0),
    "stop_at_target": Field(bool, False),
    "telemetry_interval_s": Field(float, 0.1, minimum=0.001),
    "collectors": Field(bool, True, doc="memory and GPU telemetry beside the loop"),
    "find_batch_size": Field(bool, False, doc="pin the largest batch that fits (CUDA)"),
    "dataset": {
        "name": Field(str, "synthetic", choices=DATASET_NAMES),
        "resize": Field(int, 0, minimum=0, doc="0: native size"),
        "normalize": Field(bool, True),
        "random_crop_padding": Field(int, 0, minimum=0, doc="0: no random crop"),
        "hflip": Field(bool, False),
        "train_size": Field(int, 0, minimum=0, doc="0: the whole split"),
        "test_size": Field(int, 0, minimum=0, doc="0: the whole split"),
        "drop_last": Field(bool, False),
        "image_size": Field(list, [3, 32, 32], item=int, length=3, minimum=1),
        "num_classes": Field(int, 10, minimum=2),
        "data_seed": Field(int, 0, minimum=0),
    },
    "optimizer": _OPTIMIZER,
    "schedule": {
        "name": Field(str, "none", choices=("none", "step", "cosine", "one-cycle", "plateau")),
        "step_size": Field(int, 1, minimum=1),
        "gamma": Field(float, 0.1, minimum=0.0),
        "factor": Field(float, 0.1, minimum=0.0),
        "patience": Field(int, 2, minimum=0),
        "pct_start": Field(float, 0.3, minimum=0.0),
    },
    "finetune": {
        "model": Field(str, "conv-autoencoder-classifier"),
        "epochs": Field(int, 0, minimum=0, doc="0: same as epochs"),
        "optimizer": _OPTIMIZER,
    },
    "model_kwargs": Field(dict, {}, doc="keyword arguments for the model's constructor"),
}

SUITE_SCHEMA: sch.Schema = {
    "name": Field(str, ""),
    "description": Field(str, ""),
    "seeds": Field(list, [0], item=int, minimum=0),
    "variants": Field(list, [], item=str),
    "thresholds": Field(dict, {}, doc="metric → threshold, see docs/regressions.md"),
    **JOB_SCHEMA,
}


@dataclass(frozen=True)
class OptimizerConfig:
    name: str
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    betas: tuple[float, float]


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    resize: int
    normalize: bool
    random_crop_padding: int
    hflip: bool
    train_size: int
    test_size: int
    drop_last: bool
    image_size: tuple[int, int, int]
    num_classes: int
    data_seed: int


@dataclass(frozen=True)
class ScheduleConfig:
    name: str
    step_size: int
    gamma: float
    factor: float
    patience: int
    pct_start: float


@dataclass(frozen=True)
class FinetuneConfig:
    model: str
    epochs: int
    optimizer: OptimizerConfig


@dataclass(frozen=True)
class JobConfig:
    """Every setting of one job, resolved."""

    recipe: str
    epochs: int
    batch_size: int
    eval_batch_size: int
    device: str
    precision: str
    channels_last: bool
    compile: str
    deterministic: bool
    loader: str
    num_workers: int
    target_acc: float | None
    stop_at_target: bool
    telemetry_interval_s: float
    collectors: bool
    find_batch_size: bool
    dataset: DatasetConfig
    optimizer: OptimizerConfig
    schedule: ScheduleConfig
    finetune: FinetuneConfig
    model_kwargs: Mapping[str, Any]


@dataclass(frozen=True)
class Job:
    """One model × seed × variant of a suite, with a stable id."""

    job_id: str
    suite: str
    model: str
    seed: int
    variant: str
    config: JobConfig


@dataclass(frozen=True)
class Suite:
    """A validated suite: its resolved document and its job matrix."""

    name: str
    description: str
    path: str
    document: Mapping[str, Any]
    jobs: tuple[Job, ...]
    thresholds: Mapping[str, Any]


def load_suite(
    name_or_path: str,
    *,
    overrides: Sequence[str] = (),
    models: str | None = None,
    seeds: Sequence[int] | None = None,
) -> Suite:
    """Find, parse and validate a suite file, apply command-line overrides, expand its jobs."""
    path = find_suite(name_or_path)
    raw = read_toml(path)
    return build_suite(raw, str(path), overrides=overrides, models=models, seeds=seeds)


def build_suite(
    raw: Mapping[str, Any],
    where: str,
    *,
    overrides: Sequence[str] = (),
    models: str | None = None,
    seeds: Sequence[int] | None = None,
) -> Suite:
    """Validate a parsed suite document and expand its job matrix."""
    document = dict(raw)
    model_entries = document.pop("models", None)
    if not isinstance(model_entries, list) or not model_entries:
        raise SuiteError(f"{where}: field 'models' must be a non-empty list of models")
    base = sch.validate(document, SUITE_SCHEMA, where)
    entries = [_model_entry(e, i, where) for i, e in enumerate(model_entries)]
    cli = parse_overrides(overrides)
    if seeds is not None:
        cli["seeds"] = list(seeds)
    base = sch.deep_merge(base, {k: v for k, v in cli.items() if k not in JOB_SCHEMA})
    job_overrides = {k: v for k, v in cli.items() if k in JOB_SCHEMA}
    if models is not None:
        entries = _select(entries, models)
    resolved = sch.deep_merge(sch.defaults(SUITE_SCHEMA), base)
    parse_threshold_table(resolved["thresholds"], f"{where}: field 'thresholds'")
    resolved["models"] = entries
    name = resolved["name"] or Path(where).stem
    resolved["name"] = name
    jobs = tuple(
        _job(name, resolved, entry, seed, variant, job_overrides, where)
        for entry in entries
        for variant in resolved["variants"] or [""]
        for seed in resolved["seeds"]
    )
    _check_unique(jobs, where)
    return Suite(
        name=name,
        description=resolved["description"],
        path=where,
        document=resolved,
        jobs=jobs,
        thresholds=resolved["thresholds"],
    )


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``--set a.b=value`` pairs → a nested dict, each value checked against the schema."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BenchError(f"--set {pair!r}: expected KEY=VALUE, e.g. optimizer.lr=0.1")
        try:
            spec = sch.lookup(SUITE_SCHEMA, key)
        except KeyError as err:
            raise BenchError(f"--set {key}: {err.args[0]}") from None
        value = spec.check(_parse_value(text, spec), f"--set {key}")
        out = sch.set_dotted(out, key, value)
    return out


def _parse_value(text: str, spec: Field) -> Any:
    if spec.kind is str:
        return text
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _model_entry(entry: Any, index: int, where: str) -> dict[str, Any]:
    from bench.models.registry import get_model_info

    field_name = f"models[{index}]"
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        raise SuiteError(f"{where}: field '{field_name}' must be a model name or a table with name")
    get_model_info(entry["name"], where=f"{where}: field '{field_name}.name'")
    overrides = sch.validate(
        {k: v for k, v in entry.items() if k != "name"}, JOB_SCHEMA, where, f"{field_name}."
    )
    return {"name": entry["name"], **overrides}


def _select(entries: list[dict[str, Any]], patterns: str) -> list[dict[str, Any]]:
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    chosen = [e for e in entries if any(fnmatch.fnmatchcase(e["name"], p) for p in wanted)]
    if not chosen:
        names = ", ".join(e["name"] for e in entries)
        raise BenchError(f"--models {patterns!r} matches none of the suite's models ({names})")
    return chosen


def _job(
    suite: str,
    resolved: Mapping[str, Any],
    entry: Mapping[str, Any],
    seed: int,
    variant: str,
    cli: Mapping[str, Any],
    where: str,
) -> Job:
    settings = {k: resolved[k] for k in JOB_SCHEMA}
    settings = sch.deep_merge(settings, {k: v for k, v in entry.items() if k != "name"})
    settings = sch.deep_merge(settings, variant_settings(variant, where))
    settings = sch.deep_merge(settings, cli)
    config = job_config(settings)
    _check_recipe(entry["name"], config, where)
    job_id = f"{entry['name']}__s{seed}" + (f"__{variant}" if variant else "")
    return Job(job_id, suite, entry["name"], seed, variant, config)


def variant_settings(variant: str, where: str = "variants") -> dict[str, Any]:
    """``"amp-bf16+channels_last+compile"`` → the settings it changes."""
    out: dict[str, Any] = {}
    for token in filter(None, variant.split("+")):
        if token in PRECISIONS:
            out["precision"] = token
        elif token == "channels_last":
            out["channels_last"] = True
        elif token == "compile":
            out["compile"] = "default"
        else:
            known = (*PRECISIONS, *VARIANT_FLAGS)
            raise UnknownNameError("variant part", token, known, where=f"{where}: {variant!r}")
    return out


def job_config(settings: Mapping[str, Any]) -> JobConfig:
    """A resolved settings dict → ``JobConfig``."""
    data = settings["dataset"]
    fine = settings["finetune"]
    return JobConfig(
        **{k: settings[k] for k in JOB_SCHEMA if isinstance(JOB_SCHEMA[k], Field)},
        dataset=DatasetConfig(**{**data, "image_size": tuple(data["image_size"])}),
        optimizer=_optimizer(settings["optimizer"]),
        schedule=ScheduleConfig(**settings["schedule"]),
        finetune=FinetuneConfig(
            model=fine["model"], epochs=fine["epochs"], optimizer=_optimizer(fine["optimizer"])
        ),
    )


def _optimizer(data: Mapping[str, Any]) -> OptimizerConfig:
    return OptimizerConfig(**{**data, "betas": tuple(data["betas"])})


def _check_recipe(model: str, config: JobConfig, where: str) -> None:
    from bench.models.registry import get_model_info

    task = get_model_info(model).task
    if task != config.recipe:
        raise SuiteError(
            f"{where}: model {model!r} needs recipe '{task}', the suite gives '{config.recipe}'"
        )
    if config.recipe == "autoencode":
        get_model_info(config.finetune.model, where=f"{where}: field 'finetune.model'")
        if config.dataset.normalize:
            raise SuiteError(
                f"{where}: field 'dataset.normalize' must be false for recipe 'autoencode' "
                "(the decoder reconstructs pixels in [0, 1])"
            )


def _check_unique(jobs: Sequence[Job], where: str) -> None:
    seen: set[str] = set()
    for job in jobs:
        if job.job_id in seen:
            raise SuiteError(f"{where}: job {job.job_id} appears twice (repeated model or seed)")
        seen.add(job.job_id)
