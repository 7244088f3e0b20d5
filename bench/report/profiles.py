"""The lecture's summary table of a profile suite: models counted at one input size, not trained.

The rows are shaped as the report's job frame and go through the report's own
``lecture_table``, so ``bench profile --suite`` and ``report.html`` print one table with one set
of headers. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from bench.models.registry import ModelInfo
from bench.report.markdown import markdown_table
from bench.report.tables import Table, lecture_table
from bench.results.records import FLOPS_PER_MAC_RANGE
from bench.text_table import markdown_text

if TYPE_CHECKING:
    from bench.measure.static_profile import StaticProfile

ProfileRow = tuple[ModelInfo, "StaticProfile"]


def profile_table(rows: Sequence[ProfileRow]) -> Table:
    """One line per model: its facts, published accuracies, and the counts measured here."""
    jobs = pd.DataFrame.from_records(
        [
            {
                "group": info.name,
                "status": "ok",
                "dataset": "",
                "year": info.year,
                "salient_feature": info.salient_feature,
                "published_top5": info.published.top5 if info.published else None,
                "paper_top5": info.paper_top5,
                "params": profile.params,
                "macs": profile.macs,
                "flops": profile.flops,
                "flops_per_mac": profile.flops_macs_ratio,
            }
            for info, profile in rows
        ]
    )
    return lecture_table(jobs, trained=False)


def profile_notes(rows: Sequence[ProfileRow]) -> list[str]:
    """The footnotes: counting conventions, where the accuracies come from, unusual ratios."""
    sizes = sorted({"x".join(map(str, p.input_size)) for _, p in rows})
    notes = [
        "MACs: fvcore FlopCountAnalysis, one multiply-add counted once (it also counts batch "
        "norm and adaptive average pooling). FLOPs: torch.utils.flop_counter.FlopCounterMode, "
        "one multiply-add counted twice (convolutions and matrix products only). Forward pass "
        f"in eval mode, per image, input {', '.join(sizes)}.",
        "ImageNet top-5 accuracies are figures published by others (torchvision's "
        "documentation of its IMAGENET1K_V1 weights; the papers as the lecture cites them), "
        "not measured here.",
    ]
    low, high = FLOPS_PER_MAC_RANGE
    unusual = [
        f"{info.name} ({profile.flops_macs_ratio:.2f})"
        for info, profile in rows
        if profile.ratio_is_unusual
    ]
    if unusual:
        notes.append(
            f"FLOPs/MACs outside {low}–{high}, the two counters count different operators: "
            + ", ".join(unusual)
            + "."
        )
    else:
        notes.append(f"FLOPs/MACs lies within {low}–{high} for every model.")
    return notes


def profile_markdown(table: Table, notes: Sequence[str], title: str) -> str:
    """The table as Markdown under ``title`` (a suite's description or name, escaped as all
    text is), with numbered footnotes."""
    lines = [f"# {markdown_text(title)}", "", markdown_table(table), ""]
    lines += [f"{i}. {markdown_text(note)}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"
