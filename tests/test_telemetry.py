"""NVML telemetry: our aggregation, energy and device mapping, checked with a scripted NVML."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pynvml
import pytest
import torch
from fake_pynvml import FailingNvml, FakeNvml, Reading, ThrottleNamedNvml

from bench.measure.collectors import JobCollectors
from bench.measure.peak_throughput import (
    NAME_PATTERNS,
    PEAKS,
    gpu_model,
    gpu_peaks,
    peak_tflops,
)
from bench.measure.telemetry import CSV_COLUMNS, NvmlSampler, nvml_device_for, percentile
from bench.results.rundir import RunDir


def ticking(times: list[float]) -> Iterator[float]:
    yield from times


def scripted_sampler(readings: list[Reading], times: list[float]) -> NvmlSampler:
    """A sampler whose readings are taken only when the test asks (no thread timing)."""
    clock = ticking(times)
    sampler = NvmlSampler(0, interval_s=3600, nvml=FakeNvml(readings), clock=lambda: next(clock))
    return sampler


def test_aggregates_and_counter_energy_per_phase() -> None:
    readings = [
        Reading(gpu=0, memory=0, used_mib=100, power_mw=50_000, energy_mj=1_000),  # start
        Reading(gpu=90, memory=40, used_mib=900, power_mw=300_000, energy_mj=2_000),  # → train
        Reading(gpu=100, memory=50, used_mib=1000, power_mw=310_000, energy_mj=5_000),  # → eval
        Reading(gpu=20, memory=10, used_mib=1000, power_mw=100_000, energy_mj=5_500),  # stop
    ]
    sampler = scripted_sampler(readings, [0.0, 0.0, 1.0, 3.0, 4.0])
    sampler.start()
    train_segment = sampler.begin("train", 1)
    eval_segment = sampler.begin("eval", 1)
    sampler.stop()
    train = sampler.summary(train_segment)
    assert (train.gpu_util_mean, train.gpu_util_p50, train.gpu_util_p95) == (95.0, 95.0, 99.5)
    assert train.energy_j == 3.0 and train.energy_method == "counter"
    assert train.duration_s == 2.0 and train.mem_used_max_mib == 1000
    # 3 J over 2 s from the counter, not the mean of the readings (305 W)
    assert (train.power_mean_w, train.power_method) == (1.5, "counter")
    whole_epoch = sampler.summary(train_segment, eval_segment)
    assert whole_epoch.energy_j == 3.5  # train 3 J + eval 0.5 J, idle start excluded
    assert sampler.summary(eval_segment + 1).energy_j is None


def test_power_integration_without_an_energy_counter() -> None:
    readings = [
        Reading(gpu=50, memory=0, used_mib=0, power_mw=100_000, energy_mj=None),
        Reading(gpu=50, memory=0, used_mib=0, power_mw=200_000, energy_mj=None),
        Reading(gpu=50, memory=0, used_mib=0, power_mw=300_000, energy_mj=None),
    ]
    sampler = scripted_sampler(readings, [0.0, 0.0, 2.0, 6.0])
    sampler.start()
    segment = sampler.begin("train", 1)
    sampler.stop()
    train = sampler.summary(segment)
    # trapezoid between the readings at t = 2 s (200 W) and t = 6 s (300 W)
    assert train.energy_j == pytest.approx(1000.0)
    assert train.energy_method == "integrated-power"
    assert (train.power_mean_w, train.power_method) == (250.0, "trailing-average")


def test_instantaneous_power_is_read_where_nvml_has_the_field() -> None:
    """NVML_FI_DEV_POWER_INSTANT where the GPU gives it; nvmlDeviceGetPowerUsage (a trailing
    one-second average on recent GPUs) only where it does not."""
    readings = [Reading(50, 0, 0, 60_000, None, instant_mw=w) for w in (90_000, 100_000, 300_000)]
    sampler = scripted_sampler(readings, [0.0, 0.0, 1.0, 3.0])
    sampler.start()  # t = 0
    segment = sampler.begin("train", 1)  # t = 1
    sampler.end()  # t = 3
    summary = sampler.summary(segment)
    assert [(s.power_w, s.power_source) for s in sampler.samples()] == [
        (90.0, "instant"),
        (100.0, "instant"),
        (100.0, "instant"),
        (300.0, "instant"),
        (300.0, "instant"),
    ]
    assert (summary.energy_j, summary.power_mean_w, summary.power_method) == (
        400.0,
        200.0,
        "instant",
    )


def test_segments_of_a_phase_add_up_and_gaps_are_not_bridged() -> None:
    watts = [100, 100, 100, 100, 100, 100, 100]
    readings = [Reading(50, 0, 0, w * 1000, None) for w in watts]
    sampler = scripted_sampler(readings, [0.0, 0.0, 1.0, 2.0, 10.0, 11.0, 12.0])
    sampler.start()
    train_1 = sampler.begin("train", 1)  # t = 1
    eval_1 = sampler.begin("eval", 1)  # t = 2
    train_2 = sampler.begin("train", 2)  # t = 10
    eval_2 = sampler.begin("eval", 2)  # t = 11
    sampler.stop()  # t = 12
    assert sampler.summary(train_1, train_2).energy_j == pytest.approx(200.0)  # 1 s + 1 s
    assert sampler.summary(eval_1, eval_2).energy_j == pytest.approx(900.0)  # 8 s + 1 s
    assert sampler.summary(train_1, train_2).duration_s == 2.0


def test_segments_with_the_same_labels_stay_apart() -> None:
    """Epoch 1's evaluation of two phases: the same labels, two segments."""
    readings = [Reading(50, 0, 0, 100_000, 1000 * j) for j in (0, 10, 30, 60, 100)]
    sampler = scripted_sampler(readings, [0.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    sampler.start()
    first = sampler.begin("eval", 1)  # t = 1, 10 J
    sampler.end()  # t = 2, 30 J
    second = sampler.begin("eval", 1)  # t = 3, 60 J
    sampler.stop()  # t = 4, 100 J
    assert (sampler.summary(first).energy_j, sampler.summary(second).energy_j) == (20.0, 40.0)
    assert [s.segment for s in sampler.samples()] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert {s.phase for s in sampler.samples() if s.segment == 2} == {"idle"}


def test_time_series_csv_has_one_row_per_sample() -> None:
    readings = [Reading(10, 5, 100, 50_000, 0), Reading(20, 5, 100, 60_000, 10)]
    sampler = scripted_sampler(readings, [0.0, 0.0, 0.5])
    sampler.start()
    sampler.stop()
    buffer = io.StringIO()
    sampler.write_csv(buffer)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == (
        "time_s,phase,epoch,gpu_util_pct,mem_util_pct,mem_used_mib,power_w,temperature_c,"
        "sm_clock_mhz,mem_clock_mhz,clock_event_reasons,segment,power_source"
    )
    assert lines[1:] == [
        "0.0,idle,,10.0,5.0,100.0,50.0,50.0,1500.0,2600.0,0,0,trailing-average",
        "0.5,idle,,20.0,5.0,100.0,60.0,50.0,1500.0,2600.0,0,0,trailing-average",
    ]


def test_the_time_series_csv_reads_back_through_the_checked_reader(tmp_path: Path) -> None:
    """What the sampler writes, a run directory reads back as it was taken (``CSV_COLUMNS``:
    ``bench.results.checks.TELEMETRY_FIELDS``)."""
    readings = [Reading(10, 5, 100, 50_000, 0, reasons=4), Reading(20, 5, 100, 60_000, 10)]
    sampler = scripted_sampler(readings, [0.0, 0.0, 0.5, 0.5])
    sampler.start()
    sampler.begin("train", 1)
    sampler.stop()
    buffer = io.StringIO()
    sampler.write_csv(buffer)
    store = RunDir.create(tmp_path, {"suite": {"name": "s"}})
    store.save_telemetry("job", buffer.getvalue())
    frame = store.read().telemetry("job")
    assert frame is not None and list(frame.columns) == list(CSV_COLUMNS)
    read = frame.astype(object).where(frame.notna(), None).to_dict("records")
    taken = [{c: getattr(s, c) for c in CSV_COLUMNS} for s in sampler.samples()]
    assert read == taken and [r["epoch"] for r in read] == [None, None, 1, 1]


IDLE, APP_CLOCKS, POWER_CAP, SYNC_BOOST, HW_THERMAL = 0x1, 0x2, 0x4, 0x10, 0x40


def throttle_script(masks: list[int], nvml: type[FakeNvml] = FakeNvml) -> NvmlSampler:
    """A sampler that took one reading per mask: at start, at three phase changes, at stop."""
    readings = [Reading(50, 0, 0, 100_000, 0, reasons=m) for m in masks]
    clock = ticking([0.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    sampler = NvmlSampler(0, interval_s=3600, nvml=nvml(readings), clock=lambda: next(clock))
    sampler.start()
    sampler.begin("train", 1)
    sampler.begin("eval", 1)
    sampler.begin("train", 2)
    sampler.stop()
    return sampler


def test_throttled_share_counts_each_reading_once_and_ranks_the_reasons() -> None:
    # 5 readings (a phase change's reading is stored twice but is one reading); idle, the
    # applications clocks setting and sync boost do not count; 0x800 has no name and counts
    masks = [IDLE, POWER_CAP | IDLE, POWER_CAP | HW_THERMAL, APP_CLOCKS | SYNC_BOOST, 0x800]
    sampler = throttle_script(masks)
    assert len(sampler.samples()) == 8
    assert sampler.throttling() == (60.0, ["power cap", "HW thermal", "reason 0x800"])


def test_throttle_reasons_read_through_the_older_throttle_call() -> None:
    sampler = throttle_script([0, 0, 0, 0, HW_THERMAL], ThrottleNamedNvml)
    assert sampler.throttling() == (20.0, ["HW thermal"])
    assert [s.clock_event_reasons for s in sampler.samples()][-1] == HW_THERMAL


class NoReasonsNvml(FakeNvml):
    nvmlDeviceGetCurrentClocksEventReasons = None


def test_without_a_reasons_call_the_throttled_share_is_unknown() -> None:
    sampler = throttle_script([POWER_CAP] * 5, NoReasonsNvml)
    assert {s.clock_event_reasons for s in sampler.samples()} == {None}
    assert sampler.throttling() == (None, [])
    assert NvmlSampler(None).throttling() == (None, [])


def test_a_cpu_job_records_no_throttled_share() -> None:
    collectors = JobCollectors(torch.device("cpu"))
    with collectors, collectors.phase("train", 1, "train"):
        pass
    assert collectors.job_extra() == {"throttled_pct": None, "throttle_reasons": []}


@pytest.mark.parametrize(
    ("cuda_index", "visible", "expected"),
    [
        (0, None, 0),
        (1, "", 1),
        (0, "2,3", 2),
        (1, "2, 3", 3),
        (0, "GPU-8a1b", "GPU-8a1b"),
        (1, "GPU-8a1b,MIG-77cd", "MIG-77cd"),
        (1, "3,1,-1,0", 1),
    ],
)
def test_cuda_index_maps_to_the_physical_device(
    cuda_index: int, visible: str | None, expected: int | str
) -> None:
    env = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    assert nvml_device_for(cuda_index, env) == expected


@pytest.mark.parametrize(("cuda_index", "visible"), [(1, "0"), (2, "3,1,-1,0"), (0, "-1")])
def test_devices_after_an_invalid_entry_are_hidden_as_in_cuda(
    cuda_index: int, visible: str
) -> None:
    with pytest.raises(LookupError, match=f"cuda:{cuda_index} is not among"):
        nvml_device_for(cuda_index, {"CUDA_VISIBLE_DEVICES": visible})


GPUS = ["GPU-aa11-0000", "GPU-bb22-0000", "GPU-cc33-0000"]


@pytest.mark.parametrize(
    ("visible", "device_uuid", "sampled"),
    [
        ("2", None, "GPU-cc33-0000"),  # index in NVML order
        ("GPU-bb22-0000", None, "GPU-bb22-0000"),  # full UUID
        ("GPU-bb", None, "GPU-bb22-0000"),  # unique prefix, as CUDA accepts
        ("MIG-77cd", None, "MIG-77cd"),  # MIG instance
        ("", "cc33-0000", "GPU-cc33-0000"),  # torch's UUID wins over CUDA's device order
        ("0", "77cd", "MIG-77cd"),  # torch's UUID of a MIG instance
    ],
)
def test_sampler_reads_the_gpu_torch_runs_on(
    visible: str, device_uuid: str | None, sampled: str
) -> None:
    fake = FakeNvml([Reading(1, 1, 1, 1, 1)], devices=GPUS, mig_devices=["MIG-77cd"])
    env = {"CUDA_VISIBLE_DEVICES": visible}
    sampler = NvmlSampler(0, interval_s=3600, device_uuid=device_uuid, env=env, nvml=fake)
    sampler.start()
    sampler.stop()
    assert fake.sampled == {sampled}
    assert (fake.init_calls, fake.shutdown_calls) == (1, 1)


@pytest.mark.parametrize(
    ("cuda_index", "visible", "reason"),
    [
        (0, "GPU-", "no single GPU with UUID GPU-"),  # ambiguous prefix
        (0, "GPU-dd44", "no single GPU with UUID GPU-dd44"),
        (1, "0", "cuda:1 is not among CUDA_VISIBLE_DEVICES=0"),
    ],
)
def test_a_gpu_that_cannot_be_found_leaves_the_sampler_unavailable_and_nvml_closed(
    cuda_index: int, visible: str, reason: str
) -> None:
    fake = FakeNvml([Reading(1, 1, 1, 1, 1)], devices=GPUS)
    env = {"CUDA_VISIBLE_DEVICES": visible}
    sampler = NvmlSampler(cuda_index, interval_s=3600, env=env, nvml=fake)
    sampler.start()
    sampler.begin("train", 1)
    sampler.stop()
    assert not sampler.available and sampler.unavailable_reason == f"NVML unavailable: {reason}"
    assert sampler.samples() == [] and fake.sampled == set()
    assert (fake.init_calls, fake.shutdown_calls) == (1, 1)


class ShutdownFails(FakeNvml):
    def nvmlShutdown(self) -> None:
        raise pynvml.NVMLError_Uninitialized()


def test_stop_survives_a_failing_nvml_shutdown() -> None:
    sampler = NvmlSampler(0, interval_s=3600, nvml=ShutdownFails([Reading(1, 1, 1, 1, 1)]))
    sampler.start()
    sampler.stop()
    assert len(sampler.samples()) == 2 and not sampler.available


def test_without_nvml_everything_is_none_and_nothing_breaks() -> None:
    before = threading.active_count()
    for sampler in (NvmlSampler(0, nvml=FailingNvml()), NvmlSampler(None), NvmlSampler(0)):
        sampler.start()
        segment = sampler.begin("train", 1)
        sampler.stop()
        summary = sampler.summary(segment)
        assert not sampler.available
        assert summary.energy_j is None and summary.gpu_util_mean is None
        assert summary.samples == 0
    assert NvmlSampler(0, nvml=FailingNvml()).unavailable_reason is None  # until started
    failing = NvmlSampler(0, nvml=FailingNvml())
    failing.start()
    assert failing.unavailable_reason == "NVML unavailable: NVML Shared Library Not Found"
    assert threading.active_count() == before


def test_sampler_thread_samples_and_stops_cleanly() -> None:
    before = threading.active_count()
    sampler = NvmlSampler(0, interval_s=0.005, nvml=FakeNvml([Reading(1, 1, 1, 1000, 0)]))
    sampler.start()
    assert threading.active_count() == before + 1
    event = threading.Event()
    event.wait(0.1)
    sampler.stop()
    assert len(sampler.samples()) >= 5
    assert threading.active_count() == before


def test_a_periodic_reading_taken_as_a_segment_begins_stays_in_time_order() -> None:
    """The sampler thread's reading is held up after its clock was read (as a thread may be
    descheduled there) while the training thread begins a segment: the reading belongs before
    the new segment's first one, and every sample stays in time order."""
    held, release = threading.Event(), threading.Event()

    def clock() -> float:
        now = time.monotonic()
        if threading.current_thread().name == "nvml-sampler" and not release.is_set():
            held.set()
            release.wait(5)
        return now

    fake = FakeNvml([Reading(1, 1, 1, 1000, 0)])
    sampler = NvmlSampler(0, interval_s=0.001, nvml=fake, clock=clock)
    sampler.start()
    assert held.wait(5)
    beginning = threading.Thread(target=sampler.begin, args=("train", 1))
    beginning.start()
    beginning.join(0.2)  # long enough for begin to finish, were it not waiting for the reading
    release.set()
    beginning.join(5)
    sampler.stop()
    samples = sampler.samples()
    times = [s.time_s for s in samples]
    assert times == sorted(times)
    first_of_train = next(s.time_s for s in samples if s.phase == "train")
    assert all(s.time_s >= first_of_train for s in samples if s.phase == "train")


def test_a_sampling_iteration_costs_little_cpu() -> None:
    """CPU time of the whole process per reading while the thread samples every millisecond:
    bench's own work per iteration (wake-up, six reads, one sample), the NVML calls being
    scripted. Bounded by 1 ms, 1% of a core at the default 0.1 s interval."""
    sampler = NvmlSampler(0, interval_s=0.001, nvml=FakeNvml([Reading(50, 20, 900, 250_000, 0)]))
    cpu_before = time.process_time()
    sampler.start()
    threading.Event().wait(0.3)
    sampler.stop()
    per_sample_s = (time.process_time() - cpu_before) / len(sampler.samples())
    assert len(sampler.samples()) >= 50
    assert per_sample_s < 1e-3


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 95) == 5.0
    assert percentile([0.0, 10.0], 95) == 9.5


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM5"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H100 NVL", "H100 NVL"),
        ("NVIDIA H200", "H200"),
        ("NVIDIA H200 NVL", "H200 NVL"),
        ("NVIDIA GH200 480GB", "GH200"),
        ("NVIDIA GH200 144G HBM3e", "GH200 HBM3e"),
        ("NVIDIA A100-SXM4-80GB", "A100 SXM4 80GB"),
        ("NVIDIA A100 80GB PCIe", "A100 PCIe 80GB"),
        ("NVIDIA A100-SXM4-40GB", "A100 40GB"),
        ("NVIDIA A100-PCIE-40GB", "A100 40GB"),
        ("NVIDIA A100-SXM-64GB", None),  # memory not in any datasheet column
        ("NVIDIA A10", "A10"),
        ("NVIDIA A10G", None),  # a different part (AWS)
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40", "L40"),
        ("NVIDIA L40S", "L40S"),
        ("Tesla V100-SXM2-32GB", "V100 SXM2"),
        ("Tesla V100-PCIE-16GB", "V100 PCIe"),
        ("Tesla V100S-PCIE-32GB", "V100S PCIe"),
        ("Tesla V100-FHHL-16GB", None),  # lower clocks than either datasheet column
        ("Tesla T4", "T4"),
        ("NVIDIA GeForce RTX 4090", "RTX 4090"),
        ("NVIDIA GeForce RTX 4090 D", None),
        ("NVIDIA GeForce RTX 4090 Laptop GPU", None),
        ("NVIDIA GeForce RTX 3090", "RTX 3090"),
        ("NVIDIA GeForce RTX 3090 Ti", None),
        ("Intel Arc", None),
        (None, None),
    ],
)
def test_gpu_names_map_to_spec_sheet_rows(name: str | None, model: str | None) -> None:
    assert gpu_model(name) == model


def test_peak_throughput_is_dense_and_per_precision() -> None:
    assert peak_tflops("NVIDIA H100 80GB HBM3", "amp-bf16") == 989.4
    assert peak_tflops("NVIDIA H100 80GB HBM3", "fp32") == 67.0
    assert peak_tflops("NVIDIA A100-PCIE-40GB", "tf32") == 156.0
    assert peak_tflops("Tesla T4", "amp-bf16") is None  # no bf16 on Turing
    assert peak_tflops(None, "fp32") is None


@pytest.mark.parametrize(
    ("name", "gb_s"),
    [
        ("NVIDIA H100 80GB HBM3", 3350.0),
        ("NVIDIA H200", 4800.0),
        ("NVIDIA GH200 480GB", 4000.0),
        ("NVIDIA A100-SXM4-80GB", 2039.0),
        ("NVIDIA A100 80GB PCIe", 1935.0),
        ("NVIDIA A100-PCIE-40GB", 1555.0),
        ("Tesla T4", 320.0),
    ],
)
def test_memory_bandwidth_is_the_datasheet_figure_in_gb_per_s(name: str, gb_s: float) -> None:
    peaks = gpu_peaks(name)
    assert peaks is not None and peaks.memory_gb_s == gb_s


def test_every_row_has_a_bandwidth_and_a_name_that_reaches_it() -> None:
    assert all(p.memory_gb_s > 0 for p in PEAKS.values())
    assert {model for _, model in NAME_PATTERNS} == set(PEAKS)
    assert gpu_peaks("Intel Arc") is None and gpu_peaks(None) is None
