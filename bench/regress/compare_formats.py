"""A comparison as plain text, Markdown (CI job summaries), JSON or JUnit XML."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from bench.regress.compare import (
    NOISE_K,
    Comparison,
    MachineNoise,
    MetricChange,
    RunSpread,
    Stats,
    model_label,
)
from bench.results.run_results import RunResults
from bench.text_table import align_columns, markdown_code, markdown_text

# Characters XML 1.0 does not allow: C0 controls but tab, newline and return, lone surrogates,
# U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
COLUMNS = ("model", "metric", "baseline", "new", "change", "threshold", "noise", "p", "verdict")
VERDICT_TEXT = {
    "regression": "REGRESSION",
    "noise": "within noise",
    "ok": "ok",
    "improved": "improved",
    "info": "-",
}


def format_table(comparison: Comparison) -> str:
    """Plain text: header, one row per model and metric, then the findings and the result."""
    table = align_columns([COLUMNS, *(_cells(c) for c in comparison.changes)])
    return "\n".join([*_header(comparison), "", *table, "", *_findings(comparison)]) + "\n"


def format_markdown(comparison: Comparison) -> str:
    """Markdown for a pull-request comment or ``$GITHUB_STEP_SUMMARY``; metrics without a
    threshold go in a collapsed section. Text from the runs and baselines (suite, model and
    machine names, paths) is escaped (``markdown_text``) or quoted as code (``markdown_code``):
    it renders as written, never as markup, a link or an image."""
    judged = [c for c in comparison.changes if c.verdict != "info"]
    others = [c for c in comparison.changes if c.verdict == "info"]
    header = _header(comparison, code=markdown_code, text=markdown_text)
    lines = [f"### bench compare: {markdown_text(_result(comparison))}", ""]
    for line in header:  # a paragraph each: GitHub joins lines of one paragraph into one
        lines += [f"> **Warning:** {line}" if line.startswith("CROSS-") else line, ""]
    lines.pop()
    lines += ["", *_md_table(judged)] if judged else []
    if others:
        lines += ["", "<details><summary>Metrics without a threshold</summary>", ""]
        lines += [*_md_table(others), "", "</details>"]
    lines += ["", *(f"- {markdown_text(line)}" for line in _findings(comparison)[:-1])]
    return "\n".join(lines).rstrip() + "\n"


def format_json(comparison: Comparison) -> str:
    """Everything in the comparison, as JSON (non-finite numbers as ``null``)."""
    doc = {
        "regressed": comparison.regressed,
        "cross_machine": comparison.cross_machine,
        "cross_suite": comparison.cross_suite,
        "alpha": comparison.alpha,
        "new": _run_json(comparison.new),
        "base": _run_json(comparison.base),
        "thresholds": {m: str(t) for m, t in comparison.thresholds.items()},
        "default_thresholds": [m for m, t in comparison.thresholds.items() if t.default],
        "changes": [
            {
                "model": c.model,
                "variant": c.variant,
                "metric": c.metric,
                "unit": c.info.unit,
                "higher_is_better": c.info.higher_is_better,
                "base": _stats_json(c.base),
                "new": _stats_json(c.new),
                "delta": c.delta,
                "delta_pct": _finite(c.delta_pct),
                "threshold": str(c.threshold) if c.threshold else None,
                "noise": _noise_json(c),
                "p_value": c.p_value,
                "verdict": c.verdict,
            }
            for c in comparison.changes
        ],
        "failed": [
            {"model": f.model, "variant": f.variant, "statuses": list(f.statuses)}
            for f in comparison.failed
        ],
        "only_base": [{"model": m, "variant": v} for m, v in comparison.only_base],
        "only_new": [{"model": m, "variant": v} for m, v in comparison.only_new],
    }
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def format_junit(comparison: Comparison) -> str:
    """JUnit XML: one test case per model and metric (its ``noise`` property names the noise
    that judged it), a failure for each regression, and a ``status`` test case per model: passing
    for a model compared, timed by its jobs' wall time in the new run (``total_time_s``, summed
    over seeds), failing for a model whose jobs all failed in the new run and for a model of the
    baseline missing from it. The suite carries the new run's time and host. Text from the runs
    is escaped by ElementTree; a character XML forbids (a control character in a name) becomes
    U+FFFD, so the file always parses."""
    suite_name = comparison.new.suite_name or "run"
    cases: list[ET.Element] = []
    for change in comparison.changes:
        case = _case(suite_name, change.model, change.variant, change.metric)
        noise = ET.SubElement(ET.SubElement(case, "properties"), "property", name="noise")
        noise.set("value", _noise(change))
        if change.verdict == "regression":
            ET.SubElement(case, "failure", message=_describe(change), type="regression")
        ET.SubElement(case, "system-out").text = f"{_describe(change)}: {change.verdict}"
        cases.append(case)
    compared = dict.fromkeys((c.model, c.variant) for c in comparison.changes)
    for model, variant in compared:
        cases.append(
            _case(suite_name, model, variant, "status", _wall_time(comparison, model, variant))
        )
    for failed in comparison.failed:
        case = _case(suite_name, failed.model, failed.variant, "status")
        message = f"no ok job in the new run (status: {', '.join(failed.statuses)})"
        ET.SubElement(case, "failure", message=message, type="failed")
        cases.append(case)
    for model, variant in comparison.only_base:
        case = _case(suite_name, model, variant, "status")
        ET.SubElement(
            case, "failure", message="in the baseline, not in the new run", type="missing"
        )
        cases.append(case)
    failures = sum(1 for case in cases if case.find("failure") is not None)
    seconds = f"{sum(float(case.get('time', '0')) for case in cases):.3f}"
    root = ET.Element("testsuites", tests=str(len(cases)), failures=str(failures), time=seconds)
    suite = ET.SubElement(
        root,
        "testsuite",
        name=f"bench compare {suite_name}",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=seconds,
        timestamp=_timestamp(comparison.new.created_utc),
        hostname=comparison.new.hostname or comparison.new.machine_id,
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("new", comparison.new.source),
        ("baseline", comparison.base.source),
        ("new_machine_id", comparison.new.machine_id),
        ("baseline_machine_id", comparison.base.machine_id),
        ("cross_machine", str(comparison.cross_machine).lower()),
        ("cross_suite", str(comparison.cross_suite).lower()),
        ("alpha", str(comparison.alpha)),
    ):
        ET.SubElement(properties, "property", name=name, value=value)
    suite.extend(cases)
    ET.SubElement(suite, "system-out").text = "\n".join(_findings(comparison))
    ET.indent(root)
    return (
        _NOT_XML.sub("\ufffd", ET.tostring(root, encoding="unicode", xml_declaration=True)) + "\n"
    )


RENDERERS: dict[str, Callable[[Comparison], str]] = {
    "table": format_table,
    "md": format_markdown,
    "json": format_json,
    "junit": format_junit,
}


def _header(
    comparison: Comparison,
    code: Callable[[str], str] = str,
    text: Callable[[str], str] = str,
) -> list[str]:
    """The lines naming both runs, the thresholds and the machine; ``code`` quotes paths and
    machine ids, ``text`` every other part (both leave plain text as it is by default)."""
    new, base = comparison.new, comparison.base

    def run(results: RunResults) -> str:
        details = text(
            f"{results.suite_name or 'no suite'}, {(results.commit or 'no commit')[:12]}"
        )
        return f"{code(results.source)} ({details})"

    lines = [f"new run {run(new)} against baseline {run(base)}"]
    rule = (
        f"regression = past the threshold, beyond {NOISE_K:g}× the machine's run-to-run σ "
        f"where the history knows it, else beyond the runs' own pass or step times (one-sided "
        f"{1 - comparison.alpha:.0%} bootstrap margin of the ratio of their medians or means) "
        f"where both kept them, and, with 2+ seeds on both sides, one-sided Welch "
        f"p < {comparison.alpha:g}"
    )
    lines.append(text(f"thresholds: {_thresholds(comparison)}; {rule}"))
    if comparison.cross_machine:
        lines.append(
            f"CROSS-MACHINE comparison (--allow-cross-machine): new run on "
            f"{code(new.machine_id)}, baseline on {code(base.machine_id)}"
        )
    else:
        lines.append(f"machine: {code(new.machine_id)}")
    if comparison.cross_suite:
        lines.append(
            f"CROSS-SUITE comparison (--allow-cross-suite): new run of "
            f"{code(new.suite_name or 'no suite')}, "
            f"baseline of {code(base.suite_name or 'no suite')}"
        )
    return lines


def _thresholds(comparison: Comparison) -> str:
    """The thresholds given by suites and ``--fail-on``, then the defaults of the metrics
    compared (``defaults (…)``); ``none`` without any."""
    compared = {c.metric for c in comparison.changes}
    given = [f"{m} {t}" for m, t in comparison.thresholds.items() if not t.default]
    defaults = [f"{m} {t}" for m, t in comparison.thresholds.items() if t.default and m in compared]
    if defaults:
        given.append(f"defaults ({', '.join(defaults)})")
    return ", ".join(given) or "none"


def _findings(comparison: Comparison) -> list[str]:
    """Lines naming each regression, failed model and one-sided model; the result last."""
    lines = [f"REGRESSION {_describe(c)}" for c in comparison.regressions]
    lines += [
        f"FAILED {model_label(f.model, f.variant)}: no ok job in the new run "
        f"(status: {', '.join(f.statuses)})"
        for f in comparison.failed
    ]
    for side, keys in (("baseline", comparison.only_base), ("new run", comparison.only_new)):
        if keys:
            labels = ", ".join(model_label(*k) for k in keys)
            lines.append(f"only in the {side} (not compared): {labels}")
    return [*lines, f"result: {_result(comparison)}"]


def _result(comparison: Comparison) -> str:
    problems = [f"{model_label(c.model, c.variant)} {c.metric}" for c in comparison.regressions]
    problems += [f"{model_label(f.model, f.variant)} failed" for f in comparison.failed]
    if problems:
        noun = "regression" if len(problems) == 1 else "regressions"
        return f"{len(problems)} {noun} ({', '.join(problems)})"
    models = len({(c.model, c.variant) for c in comparison.changes})
    return f"no regression ({len(comparison.changes)} metrics of {models} models compared)"


def _describe(change: MetricChange) -> str:
    unit = f" {change.info.unit}" if change.info.unit else ""
    text = (
        f"{model_label(change.model, change.variant)} {change.metric}: "
        f"{_num(change.base.mean)} → {_num(change.new.mean)}{unit} ({_pct(change.delta_pct)}"
    )
    if change.threshold is not None:
        text += f", threshold {change.threshold}"
    if change.noise_source not in ("seeds", "unknown"):
        text += f", noise {_noise(change)}"
    if change.p_value is not None:
        text += f", p={change.p_value:.2g}"
    return text + ")"


def _cells(change: MetricChange) -> tuple[str, ...]:
    return (
        model_label(change.model, change.variant),
        change.metric,
        _stats(change.base),
        _stats(change.new),
        f"{_num(change.delta, signed=True)} ({_pct(change.delta_pct)})",
        str(change.threshold) if change.threshold else "-",
        _noise(change),
        _p(change.p_value),
        VERDICT_TEXT[change.verdict],
    )


def _md_table(changes: Sequence[MetricChange]) -> list[str]:
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    lines = [row([markdown_text(c) for c in COLUMNS]), "|" + "---|" * len(COLUMNS)]
    for change in changes:
        cells = [markdown_text(c) for c in _cells(change)]
        if change.verdict == "regression":
            cells[-1] = f"**{cells[-1]}**"  # bold after escaping: the one markup of a row
        lines.append(row(cells))
    return lines


def _stats(stats: Stats) -> str:
    if stats.n == 1:
        return _num(stats.mean)
    return f"{_num(stats.mean)} ± {_num(stats.std)} (n={stats.n})"


def _num(value: float, signed: bool = False) -> str:
    sign = "+" if signed else ""
    if abs(value) >= 1000:
        return f"{value:{sign},.0f}"
    return f"{value:{sign}.4g}"


def _pct(value: float) -> str:
    return f"{value:+.1f}%"


def _noise(change: MetricChange) -> str:
    """The noise that judged a change: ``σ 0.041 (7 runs)`` (the history's), ``passes ±4.1%``
    or ``steps ±4.1%`` (the runs' own margin), ``seeds`` or ``unknown (3 earlier runs)``."""
    noise = _noise_json(change)
    match noise["source"]:
        case "history":
            return f"σ {_num(noise['sigma'])} ({noise['runs']} runs)"
        case "passes" | "steps":
            return f"{noise['source']} ±{noise['margin_pct']:.1f}%"
        case "unknown":
            return f"unknown ({noise['runs']} earlier runs)"
    return "seeds"


def _noise_json(change: MetricChange) -> dict[str, Any]:
    """The noise that judged a change (``MetricChange.noise_source``) and its figures."""
    match change.noise_source, change.noise, change.spread:
        case "history", MachineNoise(runs=runs, sigma=sigma), _:
            return {"source": "history", "runs": runs, "sigma": sigma}
        case ("passes" | "steps") as source, MachineNoise(runs=runs), RunSpread() as spread:
            return {
                "source": source,
                "statistic": spread.statistic,
                "margin_pct": spread.margin_pct,
                "n_base": spread.n_base,
                "n_new": spread.n_new,
                "runs": runs,
            }
        case "unknown", MachineNoise(runs=runs), _:
            return {"source": "unknown", "runs": runs}
    return {"source": "seeds"}


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _stats_json(stats: Stats) -> dict[str, Any]:
    return {
        "n": stats.n,
        "mean": stats.mean,
        "std": stats.std,
        "min": min(stats.values),
        "max": max(stats.values),
        "values": list(stats.values),
    }


def _run_json(results: RunResults) -> dict[str, Any]:
    return {
        "source": results.source,
        "run_id": results.run_id,
        "created_utc": results.created_utc,
        "machine_id": results.machine_id,
        "commit": results.commit,
        "suite": results.suite_name,
    }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _case(suite_name: str, model: str, variant: str, name: str, seconds: float = 0.0) -> ET.Element:
    classname = f"bench.{suite_name}.{model_label(model, variant)}"
    return ET.Element("testcase", classname=classname, name=name, time=f"{seconds:.3f}")


def _wall_time(comparison: Comparison, model: str, variant: str) -> float:
    """The summed ``total_time_s`` of the new run's ok jobs of a model (0 where unknown)."""
    return sum(
        job.metrics.get("total_time_s") or 0.0
        for job in comparison.new.jobs
        if (job.model, job.variant, job.status) == (model, variant, "ok")
    )


def _timestamp(created_utc: str) -> str:
    """``created_utc`` as JUnit writes a timestamp: ISO 8601 in UTC without an offset (the
    text as it is where it does not parse)."""
    try:
        moment = datetime.fromisoformat(created_utc)
    except ValueError:
        return created_utc
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
