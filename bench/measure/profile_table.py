"""The lecture's summary table, measured: one row per model of a profile suite.

Builds pandas frames and their text, CSV and Markdown forms; imports no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from bench.models.registry import ModelInfo

if TYPE_CHECKING:
    from bench.measure.static_profile import StaticProfile

PUBLISHED_TOP5 = "Top-5 ImageNet (%, published, torchvision weights)"
PAPER_TOP5 = "Top-5 (%, paper, as cited in the lecture)"
SUMMARY_COLUMNS = (
    "Network",
    "Year",
    "Salient feature",
    PUBLISHED_TOP5,
    PAPER_TOP5,
    "Params (M)",
    "GMACs",
    "GFLOPs",
    "FLOPs/MACs",
)


def summary_frame(rows: Sequence[tuple[ModelInfo, StaticProfile]]) -> pd.DataFrame:
    """One row per model; accuracies are published figures, the counts are measured."""
    records = [_summary_row(info, profile) for info, profile in rows]
    return pd.DataFrame.from_records(records, columns=list(SUMMARY_COLUMNS))


def _summary_row(info: ModelInfo, profile: StaticProfile) -> dict[str, object]:
    ratio = profile.flops_macs_ratio
    return {
        "Network": info.name,
        "Year": info.year,
        "Salient feature": info.salient_feature,
        PUBLISHED_TOP5: info.published.top5 if info.published else None,
        PAPER_TOP5: info.paper_top5,
        "Params (M)": round(profile.params / 1e6, 2),
        "GMACs": round(profile.macs / 1e9, 3),
        "GFLOPs": round(profile.flops / 1e9, 3),
        "FLOPs/MACs": None if ratio is None else round(ratio, 3),
    }


def summary_notes(rows: Sequence[tuple[ModelInfo, StaticProfile]]) -> list[str]:
    """The footnotes: counting conventions, where the accuracies come from, unusual ratios."""
    from bench.measure.static_profile import FLOPS_PER_MAC_RANGE

    sizes = sorted({"x".join(map(str, p.input_size)) for _, p in rows})
    notes = [
        "MACs: fvcore FlopCountAnalysis, one multiply-add counted once (it also counts batch "
        "norm and adaptive average pooling). FLOPs: torch.utils.flop_counter.FlopCounterMode, "
        "one multiply-add counted twice (convolutions and matrix products only). Forward pass "
        f"in eval mode, per image, input {', '.join(sizes)}.",
        "Top-5 accuracies are figures published by others (torchvision's documentation of its "
        "IMAGENET1K_V1 weights; the papers as the lecture cites them), not measured here.",
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


def frame_text(frame: pd.DataFrame, notes: Sequence[str] = ()) -> str:
    """An aligned plain-text table followed by its notes."""
    text = frame.to_string(index=False, na_rep="n/a")
    return "\n".join([text, "", *notes]) + "\n" if notes else text + "\n"


def frame_markdown(frame: pd.DataFrame, notes: Sequence[str] = (), title: str = "") -> str:
    """A Markdown table, with an optional title and numbered footnotes."""
    lines = [f"# {title}", ""] if title else []
    lines.append(_with_none(frame).to_markdown(index=False, missingval="n/a", floatfmt="g"))
    if notes:
        lines += ["", *(f"{i}. {note}" for i, note in enumerate(notes, 1))]
    return "\n".join(lines) + "\n"


def frame_records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """The rows as JSON-ready dicts, missing values as None."""
    return _with_none(frame).to_dict(orient="records")


def _with_none(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with NaN replaced by None (JSON null; tabulate's missing value)."""
    return frame.astype(object).where(frame.notna(), None)
