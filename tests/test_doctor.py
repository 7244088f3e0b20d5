"""``bench doctor``: the snapshot and its warnings from a scripted NVML and a folder laid out like
``/``; the command itself, run as users run it.

The scripted NVML checks our arithmetic and wording only: none of its figures is a measurement.
"""

from __future__ import annotations

import errno
import io
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from cli_errors import one_line_error
from data_files import write_cifar10, write_cifar100, write_fashion_mnist, write_mnist
from fake_pynvml import (
    MIB,
    Board,
    FailingNvml,
    FakeNvml,
    NVMLError,
    Reading,
    ThrottleNamedNvml,
)
from imagenette_files import write_imagenette
from tiny_suite import tiny_suite
from torchvision import datasets
from torchvision.datasets.utils import calculate_md5

from bench.cli import main
from bench.commands.doctor import table_rows
from bench.data import torchvision_sets
from bench.measure.doctor import TorchGpu, take_snapshot, warnings
from bench.results.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent
H100 = TorchGpu("NVIDIA H100 80GB HBM3", "aa11", 1)
IDLE, APP_CLOCKS, POWER_CAP, SW_THERMAL = 0x1, 0x2, 0x4, 0x20
SECTIONS = {"version", "gpu", "software", "nvml", "cpu", "data", "warnings"}


@pytest.fixture
def threads() -> Iterator[int]:
    """torch at 4 threads for the test, as it was afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    yield 4
    torch.set_num_threads(before)


def fake_root(tmp_path: Path, files: Mapping[str, str | bytes]) -> Path:
    """A folder laid out like ``/`` holding ``files`` (path relative to it → content)."""
    root = tmp_path / "root"
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    root.mkdir(exist_ok=True)
    return root


def quiet_machine(cpus: int) -> dict[str, str]:
    """``/proc`` and ``/sys`` of a machine that deserves no CPU warning: ``cpus`` CPUs at the
    performance governor, idle, no quota; this process is pid 4321 in an outer namespace."""
    return {
        "proc/cpuinfo": "processor\t: 0\nmodel name\t: Test CPU 9000\n",
        "proc/loadavg": "0.10 0.20 0.30 1/99 7\n",
        "proc/self/status": "Name:\tpython\nNSpid:\t4321\t17\n",
        "proc/self/cgroup": "0::/\n",
        **{
            f"sys/devices/system/cpu/cpu{i}/cpufreq/scaling_governor": "performance\n"
            for i in range(cpus)
        },
    }


def snapshot(
    tmp_path: Path,
    nvml: Any,
    gpu: TorchGpu | None = H100,
    files: Mapping[str, str | bytes] | None = None,
    cpus: set[int] | None = None,
) -> dict[str, Any]:
    threads = torch.get_num_threads()
    root = fake_root(tmp_path, quiet_machine(threads) if files is None else files)
    return take_snapshot(
        tmp_path / "data",
        nvml=nvml,
        gpu=lambda: gpu,
        root=root,
        affinity=lambda: set(range(threads)) if cpus is None else cpus,
        env={},
    )


def gpu(reading: Reading, board: Board | None = None, cls: type[FakeNvml] = FakeNvml) -> FakeNvml:
    return cls([reading], devices=["GPU-aa11"], board=board)


def test_throttling_a_foreign_process_and_no_energy_counter_are_warned(tmp_path: Path) -> None:
    reading = Reading(
        90, 40, 1000, 650_000, None, temperature=71, sm_clock=1410, reasons=POWER_CAP | SW_THERMAL
    )
    processes = [(os.getpid(), 500 * MIB), (4321, 1024 * MIB), (1234, 2150 * MIB)]
    fake = gpu(reading, Board(processes=processes))
    taken = snapshot(tmp_path, fake)
    assert taken["nvml"] == {
        "status": "available",
        "device_count": 1,
        "name": "NVIDIA H100 80GB HBM3",
        "sm_clock_mhz": 1410.0,
        "sm_clock_max_mhz": 1980.0,
        "mem_clock_mhz": 2600.0,
        "mem_clock_max_mhz": 2619.0,
        "memory_total_mib": 81_559.0,
        "memory_used_mib": 1000.0,
        "reasons": ["power cap", "SW thermal"],
        "temperature_c": 71.0,
        "slowdown_temperature_c": 90.0,
        "power_w": 650.0,
        "power_limit_w": 700.0,
        "default_power_limit_w": 700.0,
        "energy_counter": False,
        "ecc": "on",
        "ecc_pending": "on",
        "other_processes": [{"pid": 1234, "used_mib": 2150.0}],  # not ours: pid and NSpid
    }
    assert taken["warnings"] == [
        "GPU throttled: power cap, SW thermal",
        "another process is using the GPU (pid 1234, 2.1 GiB)",
        "no energy counter: energy integrated from power samples",
    ]
    assert taken["gpu"] == {
        "name": "NVIDIA H100 80GB HBM3",
        "count": 1,
        "torch_uses_it": True,
        "peak_row": "H100 SXM5",
        "peaks": {
            "fp32_tflops": 67.0,
            "tf32_tflops": 494.7,
            "bf16_tflops": 989.4,
            "fp16_tflops": 989.4,
            "memory_gb_s": 3350.0,
        },
    }
    assert (taken["software"]["driver"], taken["software"]["cuda_driver"]) == ("570.86.15", "12.8")
    assert (fake.init_calls, fake.shutdown_calls) == (1, 1)
    assert json.loads(json.dumps(taken)) == taken


def test_the_table_shows_clocks_reasons_peaks_and_processes(tmp_path: Path) -> None:
    reading = Reading(90, 40, 1000, 650_000, 5, sm_clock=1410, reasons=POWER_CAP)
    taken = snapshot(tmp_path, gpu(reading, Board(processes=[(1234, 2150 * MIB), (99, None)])))
    rows = table_rows(taken)
    for row in (
        ["GPU", "device", "NVIDIA H100 80GB HBM3 (1 visible, cuda:0 used by torch)"],
        ["", "datasheet peaks", "H100 SXM5: fp32 67, tf32 494.7, bf16 989.4 TFLOP/s dense"],
        ["", "memory bandwidth", "3350 GB/s"],
        ["Software", "driver", "570.86.15"],
        ["NVML", "status", "available"],
        ["", "energy", "total-energy counter"],
        ["", "SM clock", "1410 of 1980 MHz"],
        ["", "MEM clock", "2600 of 2619 MHz"],
        ["", "memory", "1000 of 81559 MiB in use"],
        ["", "clock event reasons", "power cap"],
        ["", "temperature", "50 °C, slowdown at 90 °C"],
        ["", "power", "650 W, limit 700 W (default 700 W)"],
        ["", "ECC", "on"],
        ["", "other processes", "pid 1234, 2.1 GiB; pid 99, memory n/a"],
        ["Warnings", "", "GPU throttled: power cap"],
    ):
        assert row in rows
    assert [r[0] for r in rows if r[0]] == ["GPU", "Software", "NVML", "CPU", "Data", "Warnings"]


def test_settings_limits_and_pending_ecc_are_warned_idle_is_not(tmp_path: Path) -> None:
    board = Board(
        name="NVIDIA A10G",
        slowdown_temperature=88,
        power_limit_mw=250_000,
        default_power_limit_mw=300_000,
        ecc=(0, 1),
        processes=None,
    )
    reading = Reading(0, 0, 0, 60_000, 1000, temperature=84, reasons=IDLE | APP_CLOCKS)
    a10g = TorchGpu("NVIDIA A10G", "aa11", 1)
    taken = snapshot(tmp_path, gpu(reading, board, ThrottleNamedNvml), gpu=a10g)
    assert taken["nvml"]["reasons"] == ["idle", "applications clocks setting"]
    assert (taken["nvml"]["ecc"], taken["nvml"]["ecc_pending"]) == ("off", "on")
    assert taken["nvml"]["other_processes"] is None and taken["nvml"]["energy_counter"] is True
    assert taken["warnings"] == [
        "no datasheet peaks for NVIDIA A10G: MFU will be n/a",
        "GPU clocks held by a setting: applications clocks setting",
        "power limit 250 W is below the default 300 W",
        "GPU at 84 °C, its slowdown temperature is 88 °C",
        "ECC turns on at the next reboot: memory speed changes",
    ]


def test_without_energy_counter_or_power_reading_energy_is_unknown(tmp_path: Path) -> None:
    taken = snapshot(tmp_path, gpu(Reading(0, 0, 0, None, None)))
    assert taken["warnings"] == ["no energy counter and no power reading: energy will be n/a"]
    assert ["", "energy", "n/a"] in table_rows(taken)


class BareNvml:
    """An NVML module that finds the GPU and has nothing else to say of it."""

    NVMLError = NVMLError

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:
        return uuid


def test_an_nvml_module_lacking_calls_gives_n_a_not_an_error(tmp_path: Path) -> None:
    taken = snapshot(tmp_path, BareNvml())
    nvml = taken["nvml"]
    assert nvml["status"] == "available" and nvml["energy_counter"] is False
    assert {k for k, v in nvml.items() if v is not None} == {
        "status",
        "device_count",
        "energy_counter",
    }
    assert taken["warnings"] == ["no energy counter and no power reading: energy will be n/a"]
    rows = table_rows(taken)
    assert ["", "SM clock", "n/a of n/a MHz"] in rows and ["", "ECC", "n/a"] in rows


def test_a_gpu_without_nvml_says_what_will_be_missing(tmp_path: Path) -> None:
    taken = snapshot(tmp_path, FailingNvml())
    assert taken["nvml"] == {"status": "unavailable: NVML Shared Library Not Found"}
    assert taken["software"]["driver"] is None
    assert taken["warnings"] == [
        "no NVML (unavailable: NVML Shared Library Not Found): GPU utilisation, power, energy "
        "and throttling will be n/a"
    ]


def test_a_gpu_torch_cannot_use_is_named_from_nvml(tmp_path: Path) -> None:
    taken = snapshot(tmp_path, gpu(Reading(0, 0, 0, 60_000, 1000, reasons=IDLE)), gpu=None)
    assert taken["gpu"]["name"] == "NVIDIA H100 80GB HBM3"
    assert (taken["gpu"]["count"], taken["gpu"]["torch_uses_it"]) == (1, False)
    assert taken["warnings"] == [
        "torch cannot use the NVIDIA H100 80GB HBM3 NVML sees (a CPU-only torch build?): "
        "jobs train on the CPU"
    ]


def test_no_gpu_at_all(tmp_path: Path) -> None:
    taken = snapshot(tmp_path, FailingNvml(), gpu=None)
    assert taken["gpu"] == {
        "name": None,
        "count": None,
        "torch_uses_it": False,
        "peak_row": None,
        "peaks": None,
    }
    assert taken["warnings"] == ["no CUDA GPU: jobs with device auto train on the CPU"]
    assert table_rows(taken)[0] == ["GPU", "device", "none"]


def test_cgroup_v2_quota_is_the_tightest_ancestor_and_cpu_warnings(
    tmp_path: Path, threads: int
) -> None:
    files = {
        "proc/cpuinfo": "model name\t: Test CPU 9000\n",
        "proc/loadavg": "2.50 1.00 0.50 3/200 99\n",
        "proc/self/cgroup": "0::/a/b\n",
        "sys/fs/cgroup/a/cpu.max": "150000 100000\n",
        "sys/fs/cgroup/a/b/cpu.max": "max 100000\n",
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "performance\n",
        "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor": "powersave\n",
        "sys/devices/system/cpu/cpu2/cpufreq/scaling_governor": "powersave\n",  # not ours
    }
    taken = snapshot(tmp_path, FailingNvml(), gpu=None, files=files, cpus={0, 1})
    assert taken["cpu"] == {
        "model": "Test CPU 9000",
        "logical_cpus": os.cpu_count(),
        "affinity_cpus": 2,
        "quota_cpus": 1.5,
        "usable_cpus": 1.5,
        "governors": {"performance": 1, "powersave": 1},
        "load_average": [2.5, 1.0, 0.5],
        "torch_threads": threads,
        "measured_peaks": None,
    }
    assert taken["warnings"][1:] == [
        "CPU governor powersave on 1 of 2 CPUs",
        "load average 2.5 on 1.5 usable CPUs",
        "torch uses 4 threads on 1.5 usable CPUs",
    ]
    assert ["", "usable CPUs", f"1.5: affinity 2 of {os.cpu_count()}, cgroup quota 1.5"] in (
        table_rows(taken)
    )


def test_cgroup_v1_quota_of_the_cpu_hierarchy(tmp_path: Path) -> None:
    v1 = "sys/fs/cgroup/cpu,cpuacct"
    files = {
        "proc/self/cgroup": "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n",
        f"{v1}/cpu.cfs_quota_us": "-1\n",
        f"{v1}/cpu.cfs_period_us": "100000\n",
        f"{v1}/docker/cpu.cfs_quota_us": "200000\n",
        f"{v1}/docker/cpu.cfs_period_us": "100000\n",
        f"{v1}/docker/abc/cpu.cfs_quota_us": "300000\n",
        f"{v1}/docker/abc/cpu.cfs_period_us": "100000\n",
        "sys/fs/cgroup/memory/docker/abc/cpu.cfs_quota_us": "50000\n",  # not a cpu hierarchy
        "sys/fs/cgroup/memory/docker/abc/cpu.cfs_period_us": "100000\n",
    }
    taken = snapshot(tmp_path, FailingNvml(), gpu=None, files=files, cpus={0, 1, 2, 3})
    assert (taken["cpu"]["quota_cpus"], taken["cpu"]["usable_cpus"]) == (2.0, 2.0)


@pytest.mark.parametrize(
    "files",
    [
        {},  # nothing readable: not Linux, or /proc and /sys hidden
        {
            "proc/cpuinfo": "model name without a colon\nmodel name :   \n",
            "proc/loadavg": "nan 1 2\n",
            "proc/self/status": b"NSpid:\t\xff\xfe 12x -3\n",
            "proc/self/cgroup": b"\x00\x01::\n0::/../../etc\n",
            "sys/fs/cgroup/cpu.max": "abc def\n",
            "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": b"\x00\x01\x02",
            "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor": "x" * 100,
        },
        {"proc/loadavg": "-1 -1 -1\n", "sys/fs/cgroup/cpu.max": "0 100000\n"},
    ],
)
def test_odd_or_missing_system_files_give_nothing_not_an_error(
    tmp_path: Path, files: dict[str, str | bytes]
) -> None:
    cpu = snapshot(tmp_path, FailingNvml(), gpu=None, files=files, cpus={0, 1})["cpu"]
    assert cpu["model"] == (platform.processor() or platform.machine())
    assert (cpu["quota_cpus"], cpu["governors"], cpu["load_average"]) == (None, None, None)
    assert (cpu["affinity_cpus"], cpu["usable_cpus"]) == (2, 2)


def test_data_sets_present_missing_and_damaged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_cifar10(data)
    write_mnist(data)
    write_fashion_mnist(data)
    (data / "FashionMNIST/raw/t10k-labels-idx1-ubyte.gz").unlink()
    write_cifar100(data)
    with (data / "cifar-100-python/train").open("ab") as handle:
        handle.write(b"x")
    write_imagenette(data)
    taken = snapshot(tmp_path, FailingNvml(), gpu=None)
    checks = taken["data"]["datasets"]
    assert checks["cifar10"] == {
        "status": "present",
        "detail": f"{data / 'cifar-10-batches-py'} (not the official release: data_batch_1 md5 "
        "differs; contents pass the loader's checks)",
    }
    assert checks["mnist"] == {
        "status": "present",
        "detail": f"{data / 'MNIST/raw'} (idx files carry no md5; contents pass the loader's "
        "checks)",
    }
    assert checks["fashion-mnist"] == {
        "status": "incomplete",
        "detail": f"no {data / 'FashionMNIST/raw/t10k-labels-idx1-ubyte'}",
    }
    assert checks["cifar100"] == {
        "status": "corrupt",
        "detail": f"{data / 'cifar-100-python/train'}: 1 bytes after the end of the pickle",
    }
    assert checks["imagenette"]["status"] == "present"
    assert checks["digits"] == {"status": "built-in", "detail": "needs no files"}
    assert taken["warnings"][1:] == [
        f"fashion-mnist data incomplete: {checks['fashion-mnist']['detail']}",
        f"cifar100 data corrupt: {checks['cifar100']['detail']}",
    ]
    assert "to fetch missing" not in [row[1] for row in table_rows(taken)]


def test_files_of_the_official_release_are_verified_by_md5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torchvision's md5 list, made to list the files written here, marks them verified."""
    data = tmp_path / "data"
    write_cifar10(data)
    folder = data / "cifar-10-batches-py"
    official = {p.name: calculate_md5(p) for p in folder.iterdir()}
    cifar = type("CIFAR10", (datasets.CIFAR10,), {
        "train_list": [[f, official[f]] for f, _ in datasets.CIFAR10.train_list],
        "test_list": [["test_batch", official["test_batch"]]],
        "meta": {**datasets.CIFAR10.meta, "md5": official["batches.meta"]},
    })  # fmt: skip
    monkeypatch.setitem(torchvision_sets.SOURCES, "cifar10", cifar)
    checks = snapshot(tmp_path, FailingNvml(), gpu=None)["data"]["datasets"]
    assert checks["cifar10"] == {
        "status": "verified",
        "detail": f"{folder} (md5 of the official release)",
    }


def test_missing_data(tmp_path: Path) -> None:
    (tmp_path / "data" / "cifar-10-batches-py").mkdir(parents=True)
    taken = snapshot(tmp_path, FailingNvml(), gpu=None)
    checks = taken["data"]["datasets"]
    assert checks["cifar10"] == {
        "status": "missing",
        "detail": f"no files in {tmp_path / 'data' / 'cifar-10-batches-py'}",
    }
    assert checks["cifar100"] == {
        "status": "missing",
        "detail": f"no files in {tmp_path / 'data' / 'cifar-100-python'}",
    }
    rows = table_rows(taken)
    assert ["", "to fetch missing", f"bench run --download --data-dir {tmp_path / 'data'}"] in rows


@pytest.mark.parametrize("denied", ["folder", "file"])
def test_data_the_os_will_not_let_us_read_is_unreadable_not_missing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    denied: str,
) -> None:
    """CIFAR-10's folder cannot be entered, or one of its files opened, as a folder of mode 700
    owned by someone else: said as `unreadable` with the OS's reason, warned, and no download
    offered (one would not help). Tests run as root, whom no mode stops, so the refusal is
    planted where the OS gives it: ``os.stat`` inside the folder, or ``io.open`` of the file."""
    data = tmp_path / "data"
    writers = (write_cifar10, write_cifar100, write_mnist, write_fashion_mnist, write_imagenette)
    for write in writers:
        write(data)
    folder = data / "cifar-10-batches-py"
    refused = folder / "data_batch_3"
    real_stat, real_open = os.stat, io.open

    def permission_denied(path: Any) -> PermissionError:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if denied == "folder" and Path(os.fspath(path)).parent == folder:
            raise permission_denied(path)
        return real_stat(path, *args, **kwargs)

    def open_file(path: Any, *args: Any, **kwargs: Any) -> Any:
        if denied == "file" and not isinstance(path, int) and Path(os.fspath(path)) == refused:
            raise permission_denied(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(io, "open", open_file)
    capsys.readouterr()
    assert main(["doctor", "--data-dir", str(data), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    taken = json.loads(out)
    if denied == "folder":
        detail = f"{folder}: cannot look for the files: Permission denied"
    else:
        detail = f"{refused}: cannot be read: Permission denied"
    assert taken["data"]["datasets"]["cifar10"] == {"status": "unreadable", "detail": detail}
    assert f"cifar10 data unreadable: {detail}" in taken["warnings"]
    assert "to fetch missing" not in [row[1] for row in table_rows(taken)]
    argv = ["run", "--suite", "cifar10-classic", "--models", "lenet5", "--seeds", "0"]
    argv += ["--data-dir", str(data), "--out", str(tmp_path / "runs"), "--history-db", "none"]
    assert one_line_error(argv, capsys) == f"bench run: error: {detail}"
    assert not (tmp_path / "runs").exists()


def test_a_run_stores_the_snapshot_and_each_job_its_throttled_share(tmp_path: Path) -> None:
    suite = tmp_path / "tiny.toml"
    suite.write_text(tiny_suite(epochs=1, train_size=128, test_size=64))
    out, data = tmp_path / "out", tmp_path / "data"
    flags = ["--quiet", "--no-report", "--history-db", "none", "--models", "lenet5-relu"]
    args = ["--suite", str(suite), "--seeds", "0", "--out", str(out), "--data-dir", str(data)]
    assert main(["run", *flags, *args]) == 0
    (run_dir,) = [p.parent for p in out.glob("*/*/run.json")]
    doctor = json.loads((run_dir / "run.json").read_text())["doctor"]
    assert set(doctor) == SECTIONS and doctor["data"]["dir"] == str(data)
    assert doctor["warnings"] == warnings(doctor)  # the stored readings explain the warnings
    (job,) = [r for r in RunDir.open(run_dir).records() if r["type"] == "job"]
    assert job["device"] == "cpu"
    assert (job["extra"]["throttled_pct"], job["extra"]["throttle_reasons"]) == (None, [])


def run_doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "doctor", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_doctor_command_prints_a_table_and_json(tmp_path: Path) -> None:
    table = run_doctor("--data-dir", str(tmp_path))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["Section", "Item", "Value"]
    device = next(line for line in lines if line.startswith("GPU"))
    if not torch.cuda.is_available():
        assert device.split() == ["GPU", "device", "none"]
    done = run_doctor("--format", "json", "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    taken = json.loads(done.stdout)
    assert set(taken) == SECTIONS
    assert taken["data"]["dir"] == str(tmp_path)
    assert taken["data"]["datasets"]["mnist"]["status"] == "missing"
    assert taken["cpu"]["torch_threads"] >= 1
    peaks = taken["cpu"]["measured_peaks"]
    assert peaks["fp32_gflops"] > 0 and peaks["memory_gb_s"] > 0
    assert "measured peaks" in table.stdout and "(measured: best of 5" in table.stdout
    if not torch.cuda.is_available():
        assert taken["gpu"]["name"] is None
        assert "no CUDA GPU: jobs with device auto train on the CPU" in taken["warnings"]


@pytest.mark.parametrize("args", [["--format", "xml"], ["--bogus"], ["--data-dir"]])
def test_wrong_arguments_exit_2_with_one_line(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["doctor", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(("bench doctor: error:", "bench: error:"))
