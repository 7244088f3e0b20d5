"""The stand-ins for ``torch.cuda`` held to torch: the event stand-in has ``torch.cuda.Event``'s
methods with compatible signatures, every replacement of a ``torch.cuda`` function goes through
``patch_cuda`` (which refuses a double taking calls torch rejects), and each check fails on a
planted mistake."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from fake_cuda import ScriptedEvent, cuda_mismatches, patch_cuda

TESTS = Path(__file__).resolve().parent
# a test replacing something of torch.cuda itself: setattr on it, a dotted target, an assignment
DIRECT_PATCH = re.compile(
    r"setattr\(\s*torch\.cuda\b|[\"']torch\.cuda\.\w+[\"']|^\s*torch\.cuda\.\w+\s*=", re.M
)


def test_the_event_stand_in_has_torchs_methods_and_signatures() -> None:
    assert cuda_mismatches(ScriptedEvent, torch.cuda.Event) == {}


class Renamed(ScriptedEvent):
    def elapsed(self, end_event: ScriptedEvent) -> float:
        return 0.0


class ExtraArgument(ScriptedEvent):
    def record(self, stream: Any = None, blocking: bool = False) -> None:
        pass


class StampedAtBirth(ScriptedEvent):
    def __init__(self, at: float) -> None:
        super().__init__()


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (Renamed, {"elapsed": "torch's Event has no elapsed"}),
        (ExtraArgument, {"record": "takes 2 positional arguments, the real one at most 1"}),
        (StampedAtBirth, {"constructor": "argument 1 is 'at', the real one's is 'enable_timing'"}),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_a_planted_breach_of_the_event_stand_in_is_reported(cls: type, expected: dict) -> None:
    assert cuda_mismatches(cls, torch.cuda.Event) == expected


def test_patch_cuda_refuses_a_function_taking_calls_torch_rejects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(AssertionError, match=r"torch\.cuda\.synchronize: .*'stream'"):
        patch_cuda(monkeypatch, "synchronize", lambda stream=None: None)
    with pytest.raises(AssertionError, match=r"get_device_name: .*2 positional arguments"):
        patch_cuda(monkeypatch, "get_device_name", lambda device=None, index=0: "NVIDIA A100")
    patch_cuda(monkeypatch, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    assert torch.cuda.get_device_name() == "NVIDIA H100 80GB HBM3"


def test_tests_replace_torch_cuda_only_through_patch_cuda() -> None:
    direct = {
        path.name: DIRECT_PATCH.findall(path.read_text())
        for path in TESTS.rglob("*.py")
        if path.name not in {"fake_cuda.py", Path(__file__).name}
    }
    assert {name: found for name, found in direct.items() if found} == {}


@pytest.mark.parametrize(
    "line",
    [
        'monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)',
        'monkeypatch.setattr("torch.cuda.synchronize", lambda: None)',
        "torch.cuda.synchronize = lambda: None",
    ],
)
def test_a_direct_replacement_is_found(line: str) -> None:
    assert DIRECT_PATCH.search(f"def test() -> None:\n    {line}\n")
