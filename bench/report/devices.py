"""The same jobs on the CPU and on the GPU (variants ``cpu`` and ``cuda``): the speed-up and
whether the accuracies agree, per model and seed. No torch.

Two jobs pair when they share suite, data set, model, seed and variant but for the device part
(``cpu+amp-bf16`` with ``cuda+amp-bf16``) and both ended ``ok``. Time is the sum of the job's
epoch times (training and evaluation, every phase, warm-up included: the time a user waits for
the result). Accuracies agree *exactly* when every epoch's test accuracy prints the same to the
report's 0.01 percentage point, and *within* ``TOLERANCE_PP`` when the largest difference over
the epochs stays inside it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.report.tables import Table, fmt_value
from bench.results.records import METRICS
from bench.suite.variants import split_device

TOLERANCE_PP = abs(float(METRICS["test_acc"].default_threshold or 0.0))
"""How far (percentage points) the two devices' test accuracies may lie apart and still agree:
``bench compare``'s default accuracy margin, the change it accepts between two runs."""
_KEY = ["suite", "dataset", "model", "seed", "rest"]
_CPU_TIME = "CPU time (s, all epochs)"
_CUDA_TIME = "CUDA time (s, all epochs)"
_SPEEDUP = "Speed-up (CPU time ÷ CUDA time, ×)"
NOTE = (
    "Time: the sum of the job's epoch times (training and evaluation, every phase, the first "
    "epoch included). Agreement compares the test accuracy epoch by epoch: 'exact' when every "
    "epoch prints the same to 0.01 percentage points (pp); 'within {tol:g} pp' when the "
    "largest difference stays inside bench compare's default accuracy margin; 'differ' past "
    "it. CPU and CUDA kernels are different code that adds in different orders, so the two "
    "devices need not match bit for bit even when both are deterministic (deterministic=true "
    "makes each device repeat itself, not match the other), and without it cuDNN may also "
    "choose nondeterministic algorithms; the difference can grow epoch by epoch."
)


def device_table(jobs: pd.DataFrame, epochs: pd.DataFrame) -> Table:
    """One row per model, variant and seed measured ok on both devices (none: an empty
    table); see the module docstring."""
    ok = jobs[jobs["status"] == "ok"].copy()
    parts = ok["variant"].map(split_device)
    ok["device_part"] = parts.map(lambda p: p[0])
    ok["rest"] = parts.map(lambda p: p[1])
    totals = epochs.groupby(["run", "job_id"])["epoch_time_s"].sum() if len(epochs) else None
    pairs = ok[ok["device_part"] == "cpu"].merge(
        ok[ok["device_part"] == "cuda"], on=_KEY, suffixes=("_cpu", "_cuda")
    )
    rows = [_row(pair, epochs, totals) for pair in pairs.to_dict(orient="records")]
    data = pd.DataFrame(rows, columns=_columns())
    display = data.copy()
    for column in (_CPU_TIME, _CUDA_TIME, _SPEEDUP):
        display[column] = [fmt_value(v, "{:.3g}") for v in data[column]]
    for column in ("Final top-1, CPU (%)", "Final top-1, CUDA (%)"):
        display[column] = [fmt_value(v, "{:.2f}") for v in data[column]]
    display = display.astype(str)
    return Table(
        "devices",
        "CPU against GPU (the same jobs on both devices)",
        data,
        display,
        data.copy(),
        note=NOTE.format(tol=TOLERANCE_PP),
    )


def _columns() -> list[str]:
    return [
        "Network",
        "Seed",
        _CPU_TIME,
        _CUDA_TIME,
        _SPEEDUP,
        "Final top-1, CPU (%)",
        "Final top-1, CUDA (%)",
        "Accuracy agreement (epoch by epoch)",
        "Deterministic (CPU / CUDA)",
    ]


def _row(pair: dict[str, Any], epochs: pd.DataFrame, totals: pd.Series | None) -> list[Any]:
    cpu_time = _total(totals, pair["run_cpu"], pair["job_id_cpu"])
    cuda_time = _total(totals, pair["run_cuda"], pair["job_id_cuda"])
    speedup = cpu_time / cuda_time if cpu_time is not None and cuda_time else None
    cpu_acc = _accuracies(epochs, pair["run_cpu"], pair["job_id_cpu"])
    cuda_acc = _accuracies(epochs, pair["run_cuda"], pair["job_id_cuda"])
    network = pair["model"] + (f" ({pair['rest']})" if pair["rest"] else "")
    flags = " / ".join(_yes(pair[f"deterministic_{d}"]) for d in ("cpu", "cuda"))
    return [
        network,
        int(pair["seed"]),
        cpu_time,
        cuda_time,
        speedup,
        pair["test_acc_cpu"],
        pair["test_acc_cuda"],
        agreement(cpu_acc, cuda_acc),
        flags,
    ]


def _total(totals: pd.Series | None, run: Any, job_id: Any) -> float | None:
    if totals is None or (run, job_id) not in totals.index:
        return None
    return float(totals.loc[(run, job_id)])


def _accuracies(epochs: pd.DataFrame, run: Any, job_id: Any) -> dict[tuple[str, int], float]:
    """(phase, epoch) → test accuracy (%) of a job's epochs that have one."""
    if not len(epochs):
        return {}
    mine = epochs[(epochs["run"] == run) & (epochs["job_id"] == job_id)]
    mine = mine[pd.to_numeric(mine["test_acc"], errors="coerce").notna()]
    return {
        (str(phase), int(epoch)): float(acc)
        for phase, epoch, acc in zip(mine["phase"], mine["epoch"], mine["test_acc"], strict=True)
    }


def agreement(cpu: dict[tuple[str, int], float], cuda: dict[tuple[str, int], float]) -> str:
    """Whether two jobs' test accuracies agree over the epochs both have (see the module
    docstring); ``n/a`` without a common epoch."""
    common = sorted(cpu.keys() & cuda.keys())
    if not common:
        return "n/a"
    count = f"{len(common)} epoch{'s' if len(common) > 1 else ''}"
    if all(f"{cpu[k]:.2f}" == f"{cuda[k]:.2f}" for k in common):
        return f"exact ({count})"
    largest = max(abs(cpu[k] - cuda[k]) for k in common)
    verdict = "within" if largest <= TOLERANCE_PP else "differ, past"
    return f"{verdict} {TOLERANCE_PP:g} pp (largest difference {largest:.2f} pp over {count})"


def _yes(flag: Any) -> str:
    return "yes" if flag is True or flag == 1 else "no"
