"""NVML clock-event reasons: names from the installed nvidia-ml-py, decoding, what throttles."""

from __future__ import annotations

import pynvml
from fake_pynvml import FakeNvml, Reading

from bench.measure.gpu_state import decode_reasons, reason_labels, throttling_reasons

DOCUMENTED = {
    0x1: "idle",
    0x2: "applications clocks setting",
    0x4: "power cap",
    0x8: "HW slowdown",
    0x10: "sync boost",
    0x20: "SW thermal",
    0x40: "HW thermal",
    0x80: "HW power brake",
    0x100: "display clock setting",
}


class NewerNvml(FakeNvml):
    """A release naming bits nvml.h did not have, beside the masks that are not one bit."""

    nvmlClocksEventReasonSwPowerCap = 0x4
    nvmlClocksEventReasonFanLimitSlowdown = 0x800
    nvmlClocksThrottleReasonBoardLimit = 0x200
    nvmlClocksEventReasonAll = 0xFFF
    nvmlClocksEventReasonNone = 0
    nvmlClocksEventReasonOdd = 0x6  # two bits: not a reason of its own


def test_without_names_in_the_module_nvml_h_values_are_used() -> None:
    assert reason_labels(FakeNvml([Reading(0, 0, 0, 0, 0)])) == DOCUMENTED


def test_names_the_module_defines_are_added_and_masks_ignored() -> None:
    labels = reason_labels(NewerNvml([Reading(0, 0, 0, 0, 0)]))
    assert labels == {**DOCUMENTED, 0x200: "board limit", 0x800: "fan limit slowdown"}


def test_the_installed_nvidia_ml_py_names_every_documented_bit_alike() -> None:
    labels = reason_labels(pynvml)
    assert {bit: labels[bit] for bit in DOCUMENTED} == DOCUMENTED


def test_decoding_lowest_bit_first_with_unnamed_bits_shown_in_hex() -> None:
    assert decode_reasons(0x45, DOCUMENTED) == ["idle", "power cap", "HW thermal"]
    assert decode_reasons(0x1000 | 0x8, DOCUMENTED) == ["HW slowdown", "reason 0x1000"]
    assert decode_reasons(0, DOCUMENTED) == []


def test_idle_and_settings_are_not_throttling() -> None:
    every = decode_reasons(0x1FF | 0x1000, DOCUMENTED)
    assert throttling_reasons(every) == [
        "power cap",
        "HW slowdown",
        "SW thermal",
        "HW thermal",
        "HW power brake",
        "reason 0x1000",
    ]
