"""Which figures a report has, the data each one is drawn from, and notes on what is missing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.report import figures as charts
from bench.report import inference_figures as inference_charts
from bench.report import model_figures as panels
from bench.report.figures import Plot
from bench.report.frames import MISSING_STATUS, group_slugs
from bench.report.roofline import roofline_figure
from bench.results.rundir import Run

PHASE_ORDER = ("train", "pretrain", "finetune")


@dataclass
class Gallery:
    """Rendered figures: suite-level ones, those of single models, and what was left out."""

    folder: Path
    plots: list[Plot] = field(default_factory=list)
    by_group: dict[str, list[Plot]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    group_notes: dict[str, list[str]] = field(default_factory=dict)

    def draw(
        self,
        name: str,
        title: str,
        builder: Callable[..., Any],
        *args: Any,
        group: str = "",
        shows: Sequence[str] = (),
    ) -> None:
        """Render one figure into the gallery (a model's own with ``group``; one of several
        models with ``shows``), or note why it was skipped."""
        png, skipped = charts.draw(builder, self.folder, name, *args)
        if png is None:
            self.note(f"{title}: {skipped}", group)
        elif group:
            self.by_group.setdefault(group, []).append(Plot(name, title, group, png))
        else:
            self.plots.append(Plot(name, title, None, png, tuple(shows)))

    def shared(self, group: str) -> list[Plot]:
        """Suite-level figures with a panel or a line of ``group``."""
        return [p for p in self.plots if group in p.shows]

    def note(self, text: str, group: str = "") -> None:
        """Record something left out (for ``group`` when given)."""
        if group:
            self.group_notes.setdefault(group, []).append(text)
        self.notes.append(f"{group}: {text}" if group else text)

    def links(self) -> list[tuple[str, str]]:
        """Each figure's caption (with its model's name for a model's own) and its files'
        path without the extension, relative to the folder above ``folder``."""
        plots = [*self.plots, *(p for group in self.by_group.values() for p in group)]
        return [
            (f"{p.group}: {p.title}" if p.group else p.title, f"{self.folder.name}/{p.name}")
            for p in plots
        ]

    def files(self) -> list[Path]:
        """Every figure file written."""
        plots = [*self.plots, *(p for group in self.by_group.values() for p in group)]
        return [self.folder / f"{p.name}.{ext}" for p in plots for ext in ("png", "svg")]


def draw_gallery(
    runs: Sequence[Run],
    jobs: pd.DataFrame,
    epochs: pd.DataFrame,
    inference: pd.DataFrame,
    folder: Path,
) -> Gallery:
    """Draw every figure the runs support into ``folder`` (PNG and SVG), from their jobs,
    epochs and inference rows (``bench.report.frames``)."""
    folder.mkdir(parents=True, exist_ok=True)
    gallery = Gallery(folder)
    recorded = jobs[jobs["status"] != MISSING_STATUS]
    ok = recorded[recorded["status"] == "ok"]
    palette = charts.palette_for(list(recorded["group"].unique()))
    gallery.draw("accuracy_vs_gflops", "Accuracy vs GFLOPs", charts.accuracy_vs_flops, ok, palette)
    gallery.draw(
        "accuracy_per_mparam",
        "Accuracy per million parameters",
        inference_charts.accuracy_per_mparam,
        ok,
        palette,
    )
    phases = sorted(set(epochs["phase"]), key=_phase_key)
    if not phases:
        gallery.note("Learning curves: no epoch records of jobs that ended ok")
    for phase in phases:
        gallery.draw(
            f"learning_curves_{phase}",
            f"Learning curves, phase {phase}",
            charts.learning_curves,
            epochs,
            phase,
            palette,
        )
    gallery.draw(
        "epoch_time_throughput",
        "Epoch time and throughput",
        charts.time_and_throughput,
        ok,
        palette,
    )
    gallery.draw("peak_memory", "Peak memory", charts.peak_memory, ok)
    _draw_inference(gallery, inference, palette)
    gallery.draw("roofline", "Roofline", roofline_figure, ok, inference, palette)
    _draw_model_figures(gallery, runs, recorded, palette)
    return gallery


INFERENCE_FIGURES = (
    ("inference_time_vs_batch", "Inference time vs batch size", inference_charts.latency_vs_batch),
    (
        "inference_throughput_power_vs_batch",
        "Inference throughput and power vs batch size",
        inference_charts.throughput_and_power_vs_batch,
    ),
    (
        "inference_memory_vs_batch",
        "Inference memory vs batch size",
        inference_charts.memory_vs_batch,
    ),
    (
        "operations_vs_inference_time",
        "Operations vs inference time",
        inference_charts.operations_vs_time,
    ),
)


def _draw_inference(gallery: Gallery, rows: pd.DataFrame, palette: charts.Palette) -> None:
    """The inference figures, where some job measured inference (``[inference]``)."""
    if rows.empty:
        gallery.note("Inference figures: no inference measurements in these runs")
        return
    for name, title, builder in INFERENCE_FIGURES:
        gallery.draw(name, title, builder, rows, palette)


def _draw_model_figures(
    gallery: Gallery, runs: Sequence[Run], recorded: pd.DataFrame, palette: charts.Palette
) -> None:
    """Confusion matrices, filters and telemetry as small multiples; reconstructions per model."""
    confusion, filters = [], []
    slugs = group_slugs(recorded)
    for group, members in recorded.groupby("group", sort=False):
        group = str(group)
        passed = members[members["status"] == "ok"]
        sample = (passed if not passed.empty else members).sort_values("seed").iloc[0]
        run, job_id = runs[int(sample["run"])], str(sample["job_id"])
        confusion += _confusion_panel(gallery, group, passed)
        filters += _filter_panel(gallery, group, run, job_id)
        if sample["recipe"] == "autoencode":
            _draw_reconstructions(gallery, group, run, job_id, slugs[group])
    for name, title, builder, data in (
        ("confusion_matrices", "Confusion matrices", panels.confusion_matrices, confusion),
        ("first_layer_filters", "First-layer filters", panels.filter_grids, filters),
    ):
        if data:
            gallery.draw(name, title, builder, data, shows=[p.group for p in data])
    if not any(run.has_telemetry() for run in runs):
        gallery.note("GPU telemetry: none in these runs (CPU run or NVML unavailable)")
    elif series := _telemetry(gallery, recorded, runs):
        gallery.draw(
            "gpu_telemetry",
            "GPU utilisation and power",
            panels.telemetry,
            series,
            palette,
            shows=list(dict.fromkeys(s.group for s in series)),
        )


def _confusion_panel(
    gallery: Gallery, group: str, passed: pd.DataFrame
) -> list[panels.ConfusionPanel]:
    matrices = [np.asarray(m) for m in passed["confusion_matrix"] if isinstance(m, list) and m]
    matrices = [m for m in matrices if m.ndim == 2 and m.shape == matrices[0].shape]
    if not matrices:
        gallery.note("confusion matrix: none recorded by a job that ended ok", group)
        return []
    size = len(matrices[0])
    classes = next(
        (c for c in passed["classes"] if isinstance(c, list) and len(c) == size),
        list(range(size)),
    )
    total = np.sum(matrices, axis=0)
    return [panels.ConfusionPanel(group, total, [str(c) for c in classes], len(matrices))]


def _filter_panel(gallery: Gallery, group: str, run: Run, job_id: str) -> list[panels.FilterPanel]:
    initial = run.artifact(job_id, "first_layer_init")
    trained = run.artifact(job_id, "first_layer_trained")
    if initial is None or trained is None:
        gallery.note(f"first-layer filters: not saved for job {job_id}", group)
        return []
    if initial.ndim != 4 or initial.shape != trained.shape:
        gallery.note(f"first-layer filters of job {job_id}: unexpected shape", group)
        return []
    return [panels.FilterPanel(group, job_id, initial, trained)]


def _telemetry(
    gallery: Gallery, recorded: pd.DataFrame, runs: Sequence[Run]
) -> list[panels.TelemetrySeries]:
    """Each job's telemetry samples, in run order; a note for each model without any."""
    series = []
    for job in recorded.itertuples():
        samples = runs[int(job.run)].telemetry(str(job.job_id))
        if samples is not None:
            series.append(panels.TelemetrySeries(str(job.group), str(job.job_id), samples))
    for group in dict.fromkeys(recorded["group"]):
        if group not in {s.group for s in series}:
            gallery.note("GPU telemetry: none was kept for its jobs", str(group))
    return series


def _draw_reconstructions(gallery: Gallery, group: str, run: Run, job_id: str, slug: str) -> None:
    inputs = run.artifact(job_id, "recon_inputs")
    outputs = run.artifact(job_id, "recon_outputs")
    if inputs is None or outputs is None:
        gallery.note(f"reconstructions: not saved for job {job_id}", group)
    elif inputs.ndim != 4 or inputs.shape != outputs.shape:
        gallery.note(f"reconstructions of job {job_id}: unexpected shape", group)
    else:
        gallery.draw(
            f"reconstructions_{slug}",
            f"Reconstructions ({panels.RECONSTRUCTION_SCALE})",
            panels.reconstructions,
            group,
            job_id,
            inputs[:16],
            outputs[:16],
            group=group,
        )


def _phase_key(phase: str) -> tuple[int, str]:
    known = phase in PHASE_ORDER
    return (PHASE_ORDER.index(phase) if known else len(PHASE_ORDER), phase)
