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
from bench.suite.settings import (
    MAX_SUITE_NAME,
    PRECISIONS,
    VARIANT_FLAGS,
    JobConfig,
    SuiteConfig,
)
from bench.suite.thresholds import parse_threshold_table
from bench.suite.variants import DEVICE_PARTS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

JOB_SCHEMA: sch.Schema = sch.schema_of(JobConfig)
SUITE_SCHEMA: sch.Schema = {**sch.schema_of(SuiteConfig), **JOB_SCHEMA}


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
    fit: bool = True,
) -> Suite:
    """Validate a parsed suite document and expand its job matrix; with ``fit``, also build
    each model on the meta device (which needs torch) to check it takes its images."""
    document = dict(raw)
    model_entries = document.pop("models", None)
    if not isinstance(model_entries, list) or not model_entries:
        raise SuiteError(f"{where}: field 'models' must be a non-empty list of models")
    base = sch.validate(document, SUITE_SCHEMA, where)
    entries = [_model_entry(e, i, where) for i, e in enumerate(model_entries)]
    sch.check_distinct([e["name"] for e in entries], f"{where}: field 'models'")
    cli = parse_overrides(overrides)
    if seeds is not None:
        cli["seeds"] = sch.lookup(SUITE_SCHEMA, "seeds").check(list(seeds), "--seeds")
    base = sch.deep_merge(base, {k: v for k, v in cli.items() if k not in JOB_SCHEMA})
    job_overrides = {k: v for k, v in cli.items() if k in JOB_SCHEMA}
    if models is not None:
        entries = _select(entries, models)
    resolved = sch.deep_merge(sch.defaults(SUITE_SCHEMA), base)
    parse_threshold_table(resolved["thresholds"], f"{where}: field 'thresholds'")
    resolved["models"] = entries
    name = resolved["name"] or Path(where).stem
    if len(name) > MAX_SUITE_NAME:
        raise SuiteError(
            f"{where}: field 'name' must be at most {MAX_SUITE_NAME} characters (it names run "
            f"directories), got {len(name)}"
        )
    resolved["name"] = name
    jobs = tuple(
        _job(name, resolved, entry, seed, variant, job_overrides, where)
        for entry in entries
        for variant in resolved["variants"] or [""]
        for seed in resolved["seeds"]
    )
    if fit:
        _check_models(jobs, where)
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
    parts = variant_settings(variant, where)
    settings = sch.deep_merge(settings, parts)
    settings = sch.deep_merge(settings, cli)
    if "device" in parts:  # a variant that names its device trains there, --device aside
        settings["device"] = parts["device"]
    config = sch.build(JobConfig, settings)
    _check_recipe(entry["name"], config, where)
    _check_nesterov(config, where)
    job_id = f"{entry['name']}__s{seed}" + (f"__{variant}" if variant else "")
    return Job(job_id, suite, entry["name"], seed, variant, config)


def variant_settings(variant: str, where: str = "variants") -> dict[str, Any]:
    """``"amp-bf16+channels_last+compile"`` → the settings it changes (``cuda``: the device;
    at most one device part)."""
    out: dict[str, Any] = {}
    for token in filter(None, variant.split("+")):
        if token in PRECISIONS:
            out["precision"] = token
        elif token in DEVICE_PARTS:
            if "device" in out:
                raise SuiteError(f"{where}: {variant!r} names two devices; give one of them")
            out["device"] = token
        elif token == "channels_last":
            out["channels_last"] = True
        elif token == "compile":
            out["compile"] = "default"
        else:
            known = (*PRECISIONS, *VARIANT_FLAGS)
            raise UnknownNameError("variant part", token, known, where=f"{where}: {variant!r}")
    return out


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


def _check_nesterov(config: JobConfig, where: str) -> None:
    """SGD's Nesterov momentum needs a momentum (torch refuses it otherwise, mid-job)."""
    phases = [("optimizer", config.optimizer)]
    if config.recipe == "autoencode":
        phases.append(("finetune.optimizer", config.finetune.optimizer))
    for field, optimizer in phases:
        if optimizer.name == "sgd" and optimizer.nesterov and optimizer.momentum <= 0:
            raise SuiteError(f"{where}: field '{field}.nesterov' needs '{field}.momentum' above 0")


def _check_models(jobs: Sequence[Job], where: str) -> None:
    """Every model of ``jobs`` can be built with its ``model_kwargs`` and take its data set's
    images (the fine-tuned classifier of ``autoencode`` too), checked on the meta device."""
    from bench.models.fit import misfit

    checked: set[str] = set()
    for job in jobs:
        config = job.config
        size, classes = config.dataset.input_shape()
        names = [job.model] + ([config.finetune.model] if config.recipe == "autoencode" else [])
        for name in names:
            key = repr((name, size, classes, sorted(config.model_kwargs.items())))
            if key in checked:
                continue
            checked.add(key)
            problem = misfit(name, classes, size, config.model_kwargs)
            if problem is not None:
                resized = f" resized to {config.dataset.resize}" if config.dataset.resize else ""
                on = f"{config.dataset.name}{resized}"
                raise SuiteError(f"{where}: model {name!r} on {on}: {problem}")
