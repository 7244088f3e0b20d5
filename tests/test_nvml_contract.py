"""bench's NVML calls and the scripted NVML held to the installed nvidia-ml-py.

Every NVML function and constant bench and scripts/ name exists in ``pynvml``; every name a
test double of ``pynvml`` defines exists there too, with a signature that accepts no call the
real one rejects; and for the same C answers the double returns what the real wrapper returns
(types, units, structure fields, error classes). Each check is also shown to fail on a planted
mistake."""

from __future__ import annotations

import ctypes
import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest
from contract import signature_mismatch
from fake_pynvml import Board, FailingNvml, FakeNvml, Reading, Timeline, TimelineNvml
from nvml_library import real_call

from bench.measure.gpu_state import REASON_PREFIXES, VALUE_MEMBERS

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
NAME = re.compile(r"\b(?:nvml[A-Z]\w*|NVML_\w+)")
HANDLE = "GPU-0"
# a name the text defines: ``def NAME``, ``class NAME``, ``NAME = ...`` or ``NAME: type = ...``
DEFINED = re.compile(r"^\s*(?:def|class)\s+(\w+)|^\s*([A-Za-z_]\w*)\s*(?::[^=\n]*)?=(?!=)", re.M)


# -- names in bench/ and scripts/ ---------------------------------------------------------------


def pynvml_names(module: Any) -> set[str]:
    """The names ``module`` defines: its attributes, and the fields of its ctypes structures
    (``value.nvmlReturn`` of a ``c_nvmlFieldValue_t``)."""
    fields = {
        field[0]
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, (ctypes.Structure, ctypes.Union))
        for field in getattr(value, "_fields_", ())
    }
    return set(dir(module)) | fields


def unknown_names(text: str, module: Any = pynvml) -> set[str]:
    """NVML names (``nvml…``, ``NVML_…``, in code or in strings) in ``text`` that ``module``
    lacks (see ``pynvml_names``). A name the text defines itself is its own; a clock-event
    reason prefix (``REASON_PREFIXES``, read by prefix since releases name the bits
    differently) must begin some name of the module."""
    names = pynvml_names(module)
    own = {d or a for d, a in DEFINED.findall(text)}
    unknown = set()
    for name in set(NAME.findall(text)) - own - names:
        if name in REASON_PREFIXES and any(n.startswith(name) for n in names):
            continue
        unknown.add(name)
    return unknown


def sources() -> Iterator[Path]:
    for folder in (ROOT / "bench", ROOT / "scripts"):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in {".py", ".sh", ".toml", ""}:
                yield path


def test_every_nvml_name_in_bench_and_scripts_exists_in_pynvml() -> None:
    found = {p.relative_to(ROOT): NAME.findall(p.read_text()) for p in sources()}
    assert sum(map(len, found.values())) > 40  # the scan sees bench's NVML calls
    unknown = {str(p): unknown_names(p.read_text()) for p in sources()}
    assert {p: names for p, names in unknown.items() if names} == {}


GPU_STATE = (ROOT / "bench/measure/gpu_state.py").read_text()
TELEMETRY = (ROOT / "bench/measure/telemetry.py").read_text()


@pytest.mark.parametrize(
    ("source", "right", "wrong"),
    [
        (GPU_STATE, "nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetComputeProcesses"),
        (GPU_STATE, '"NVML_CLOCK_SM"', '"NVML_CLOCKS_SM"'),  # a constant passed as a string
        (TELEMETRY, '"NVML_FI_DEV_POWER_INSTANT"', '"NVML_FI_DEV_POWER_INSTANTANEOUS"'),
        (GPU_STATE, "value.nvmlReturn", "value.nvmlResult"),  # a field of a structure
        (TELEMETRY, '"nvmlDeviceGetTotalEnergyConsumption"', '"nvmlDeviceGetTotalEnergy"'),
    ],
)
def test_a_planted_wrong_name_is_reported(source: str, right: str, wrong: str) -> None:
    assert right in source and not unknown_names(source)
    planted = source.replace(right, wrong, 1)
    assert unknown_names(planted) == set(NAME.findall(wrong))


def test_a_reason_prefix_no_name_of_the_module_begins_is_reported() -> None:
    text = 'REASON_PREFIXES = ("nvmlClocksEventReason", "nvmlClocksThrottleReason")'
    assert unknown_names(text) == set()
    older = SimpleNamespace(nvmlClocksThrottleReasonGpuIdle=1)
    assert unknown_names(text, older) == {"nvmlClocksEventReason"}


# -- the doubles' names and signatures ----------------------------------------------------------


def nvml_doubles() -> list[type]:
    """Every class of the tests that stands in for pynvml (defines ``nvml…`` names): FakeNvml,
    its subclasses and the others, from each test module that has one."""
    for path in sorted(TESTS.glob("*.py")):
        defines = re.search(r"^\s+(?:def )?nvml[A-Z]\w*\s*[(=:]", path.read_text(), re.M)
        if defines and path.stem != __name__:
            importlib.import_module(path.stem)
    classes = {
        value
        for module in list(sys.modules.values())
        if getattr(module, "__file__", None) and Path(module.__file__).parent == TESTS
        for value in vars(module).values()
        if isinstance(value, type)
        and (issubclass(value, FakeNvml) or any(n.startswith("nvml") for n in vars(value)))
    }
    return sorted(classes, key=lambda c: (c.__module__, c.__qualname__))


def public_names(cls: type) -> dict[str, Any]:
    """The names a caller of the double as a module may use: its public class attributes."""
    return {
        name: value
        for klass in reversed(cls.__mro__[:-1])
        for name, value in vars(klass).items()
        if not name.startswith("_")
    }


def contract_breaches(cls: type, module: Any = pynvml) -> dict[str, str]:
    """What of ``cls``'s public names the real module contradicts: a name it lacks (but a
    clock-event reason bit, whose names vary by release), a constant of another value, a class
    that is not the real one's, a method whose signature accepts calls the real one rejects. A
    name set to None stands for one an older release lacks."""
    breaches = {}
    for name, value in public_names(cls).items():
        real = getattr(module, name, None)
        if value is None or (name.startswith(REASON_PREFIXES) and isinstance(value, int)):
            if value is None and real is None:
                breaches[name] = "not in pynvml"
            continue
        if real is None:
            breaches[name] = "not in pynvml"
        elif inspect.isfunction(value):
            problem = signature_mismatch(getattr(_bare(cls), name), real)
            if problem:
                breaches[name] = problem
        elif isinstance(value, type):
            if not (isinstance(real, type) and issubclass(value, real)):
                breaches[name] = f"{value!r} is not pynvml's {real!r}"
        elif value != real:
            breaches[name] = f"{value!r}, pynvml has {real!r}"
    return breaches


def _bare(cls: type) -> Any:
    """An instance of ``cls`` made without its constructor, for bound methods to inspect."""
    return object.__new__(cls)


def test_the_scan_finds_every_double() -> None:
    names = {c.__qualname__ for c in nvml_doubles()}
    expected = {"FakeNvml", "ThrottleNamedNvml", "FailingNvml", "BareNvml", "NewerNvml"}
    assert expected | {"TimelineNvml"} <= names


@pytest.mark.parametrize("cls", nvml_doubles(), ids=lambda c: c.__qualname__)
def test_every_name_of_a_double_exists_in_pynvml_with_a_compatible_signature(cls: type) -> None:
    assert contract_breaches(cls) == {}


class WrongName(FakeNvml):
    def nvmlDeviceGetComputeProcesses(self, handle: str) -> list[Any]:
        return []


class ExtraArgument(FakeNvml):
    def nvmlDeviceGetPowerUsage(self, handle: str, scope: int = 0) -> int:
        return 0


class RenamedArgument(FakeNvml):
    def nvmlDeviceGetHandleByIndex(self, position: int) -> str:
        return HANDLE


class RequiresLess(FakeNvml):
    def nvmlDeviceGetTemperature(self, handle: str, sensor: int = 0) -> int:
        return 0


class WrongConstant(FakeNvml):
    NVML_CLOCK_SM = 0


class OwnErrorClass(FakeNvml):
    NVMLError = RuntimeError


@pytest.mark.parametrize(
    ("cls", "breach"),
    [
        (WrongName, {"nvmlDeviceGetComputeProcesses": "not in pynvml"}),
        (
            ExtraArgument,
            {"nvmlDeviceGetPowerUsage": "takes 2 positional arguments, the real one at most 1"},
        ),
        (
            RenamedArgument,
            {"nvmlDeviceGetHandleByIndex": "argument 1 is 'position', the real one's is 'index'"},
        ),
        (
            RequiresLess,
            {"nvmlDeviceGetTemperature": "requires 1 positional arguments, the real one 2"},
        ),
        (WrongConstant, {"NVML_CLOCK_SM": "0, pynvml has 1"}),
        (OwnErrorClass, {"NVMLError": f"{RuntimeError!r} is not pynvml's {pynvml.NVMLError!r}"}),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_a_planted_breach_of_a_double_is_reported(cls: type, breach: dict[str, str]) -> None:
    assert contract_breaches(cls) == breach


# -- what the doubles return, against the real wrappers -----------------------------------------


def differences(ours: Any, real: Any, where: str = "") -> list[str]:
    """Where the double's answer differs in kind or value from the real wrapper's result: the
    same type and value for numbers, text and None; a list (or ctypes array) element by element;
    for a structure, each attribute the double gives, present in the real one and alike; the
    same pynvml error class."""
    if isinstance(real, BaseException) or isinstance(ours, BaseException):
        same = type(ours) is type(real)
        return [] if same else [f"{where or 'result'}: {ours!r}, the real one {real!r}"]
    if isinstance(real, (list, tuple, ctypes.Array)):
        if not isinstance(ours, list) or (isinstance(real, tuple) and not isinstance(ours, tuple)):
            return [
                f"{where or 'result'}: {type(ours).__name__}, the real one {type(real).__name__}"
            ]
        if len(ours) != len(real):
            return [f"{where}: {len(ours)} items, the real one {len(real)}"]
        return [
            d
            for i, (o, r) in enumerate(zip(ours, real, strict=True))
            for d in differences(o, r, f"{where}[{i}]")
        ]
    if real is None or isinstance(real, (int, float, str, bytes)):
        if type(ours) is not type(real) or ours != real:
            return [f"{where or 'result'}: {ours!r}, the real one {real!r}"]
        return []
    if not hasattr(ours, "__dict__"):
        return [f"{where or 'result'}: {ours!r}, the real one a {type(real).__name__}"]
    found = []
    for name, value in vars(ours).items():
        if not hasattr(real, name):
            found.append(f"{where}.{name}: not in the real {type(real).__name__}")
        else:
            found += differences(value, getattr(real, name), f"{where}.{name}")
    return found


HANDLES = {"nvmlDeviceGetHandleByIndex", "nvmlDeviceGetHandleByUUID"}  # opaque tokens
ARGUMENTS: dict[str, list[tuple[Any, ...]]] = {
    "nvmlDeviceGetHandleByIndex": [(0,)],
    "nvmlDeviceGetHandleByUUID": [(HANDLE,), ("GPU-unknown",)],
    "nvmlDeviceGetTemperature": [(HANDLE, pynvml.NVML_TEMPERATURE_GPU)],
    "nvmlDeviceGetTemperatureThreshold": [(HANDLE, pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN)],
    "nvmlDeviceGetClockInfo": [(HANDLE, pynvml.NVML_CLOCK_SM), (HANDLE, pynvml.NVML_CLOCK_MEM)],
    "nvmlDeviceGetMaxClockInfo": [(HANDLE, pynvml.NVML_CLOCK_SM), (HANDLE, pynvml.NVML_CLOCK_MEM)],
    "nvmlDeviceGetFieldValues": [
        (HANDLE, [pynvml.NVML_FI_DEV_POWER_INSTANT]),
        (HANDLE, [pynvml.NVML_FI_DEV_POWER_AVERAGE, pynvml.NVML_FI_DEV_POWER_INSTANT]),
    ],
}
READINGS = {
    "every reading": Reading(87, 41, 1234.5, 251_000, 7_000_000, reasons=0x4, instant_mw=263_500),
    "none supported": Reading(0, 0, 0, None, None),
}
BOARDS = {
    "every reading": Board(processes=[(1234, 2150 * 2**20), (99, None)]),
    "none supported": Board(ecc=None, processes=None),
}


def arguments(name: str) -> list[tuple[Any, ...]]:
    """The calls to compare: ``ARGUMENTS``'s, else the handle for a ``handle`` parameter."""
    if name in ARGUMENTS:
        return ARGUMENTS[name]
    params = inspect.signature(getattr(pynvml, name)).parameters.values()
    required = {p.name for p in params if p.default is p.empty}
    assert required <= {"handle"}, f"say in ARGUMENTS what to call {name} with"
    return [(HANDLE,) if required else ()]


def double_instance(cls: type, script: str) -> Any:
    if issubclass(cls, TimelineNvml):
        timeline = Timeline()
        timeline.run(2.5, 301.7)  # a reading after 2.5 s at 301.7 W: 754.25 J
        supported = script == "every reading"
        return cls(timeline, counter=supported, instant=supported)
    if issubclass(cls, FakeNvml):
        return cls([READINGS[script]], board=BOARDS[script])
    return cls()


def kind_cases() -> Iterator[Any]:
    for cls in nvml_doubles():
        if cls.__module__ == __name__:  # the planted breaches above
            continue
        for name, value in public_names(cls).items():
            if inspect.isfunction(value) and hasattr(pynvml, name):  # else: a breach above
                for script in READINGS if issubclass(cls, FakeNvml) else ["bare"]:
                    for args in arguments(name):
                        yield pytest.param(
                            cls, script, name, args, id=f"{cls.__qualname__}-{name}-{script}-{args}"
                        )


@pytest.mark.parametrize(("cls", "script", "name", "args"), list(kind_cases()))
def test_a_double_returns_what_the_real_wrapper_returns(
    cls: type, script: str, name: str, args: tuple[Any, ...]
) -> None:
    ours, real = real_call(double_instance(cls, script), name, *args)
    if name in HANDLES and not isinstance(real, BaseException):
        assert isinstance(real, pynvml.c_nvmlDevice_t) and isinstance(ours, str)
    else:
        assert differences(ours, real) == []


def test_the_real_wrappers_give_str_names_int_units_and_none_for_unknown_memory() -> None:
    """What the comparisons above rest on, spelled out for the readings bench uses."""
    fake = double_instance(FakeNvml, "every reading")
    assert real_call(fake, "nvmlDeviceGetName", HANDLE)[1] == "NVIDIA H100 80GB HBM3"
    assert real_call(fake, "nvmlDeviceGetPowerUsage", HANDLE)[1] == 251_000  # mW
    assert real_call(fake, "nvmlDeviceGetTotalEnergyConsumption", HANDLE)[1] == 7_000_000  # mJ
    memory = real_call(fake, "nvmlDeviceGetMemoryInfo", HANDLE)[1]
    assert (memory.used, memory.total) == (int(1234.5 * 2**20), 81_559 * 2**20)  # bytes
    utilisation = real_call(fake, "nvmlDeviceGetUtilizationRates", HANDLE)[1]
    assert (utilisation.gpu, utilisation.memory) == (87, 41)  # %
    processes = real_call(fake, "nvmlDeviceGetComputeRunningProcesses", HANDLE)[1]
    assert [(p.pid, p.usedGpuMemory) for p in processes] == [(1234, 2150 * 2**20), (99, None)]
    (field,) = real_call(
        fake, "nvmlDeviceGetFieldValues", HANDLE, [pynvml.NVML_FI_DEV_POWER_INSTANT]
    )[1]
    assert (field.nvmlReturn, field.valueType) == (
        pynvml.NVML_SUCCESS,
        pynvml.NVML_VALUE_TYPE_UNSIGNED_INT,
    )
    assert field.value.uiVal == 263_500  # mW
    unsupported = double_instance(FakeNvml, "none supported")
    assert isinstance(
        real_call(unsupported, "nvmlDeviceGetPowerUsage", HANDLE)[1], pynvml.NVMLError_NotSupported
    )
    assert isinstance(real_call(FailingNvml(), "nvmlInit")[1], pynvml.NVMLError_LibraryNotFound)


def test_a_field_value_is_read_from_the_union_member_its_type_names() -> None:
    """nvml.h names each member of ``c_nvmlValue_t`` after the words of its type
    (``NVML_VALUE_TYPE_UNSIGNED_LONG_LONG``: ``ullVal``); gpu_state's table, keyed by the
    types' numbers, holds every type pynvml knows and each one's member."""
    prefix = "NVML_VALUE_TYPE_"
    types = {
        value: name.removeprefix(prefix).lower().split("_")
        for name, value in vars(pynvml).items()
        if name.startswith(prefix) and name != f"{prefix}COUNT"
    }
    assert {
        value: f"{''.join(w[0] for w in words)}Val" for value, words in types.items()
    } == VALUE_MEMBERS
    assert set(VALUE_MEMBERS.values()) == {name for name, _ in pynvml.c_nvmlValue_t._fields_}


class BytesNames(FakeNvml):
    def nvmlDeviceGetName(self, handle: str) -> Any:
        return self.board.name.encode()  # what the fake used to return


class FloatWatts(FakeNvml):
    def nvmlDeviceGetPowerUsage(self, handle: str) -> Any:
        return 251.0  # watts, as a float


class MissingField(FakeNvml):
    def nvmlDeviceGetUtilizationRates(self, handle: str) -> Any:
        return SimpleNamespace(gpu=87, memory=41, sm=90)


class RawNotAvailable(FakeNvml):
    def nvmlDeviceGetComputeRunningProcesses(self, handle: str) -> Any:
        return [SimpleNamespace(pid=99, usedGpuMemory=2**64 - 1)]  # pynvml says None


class TupleEcc(FakeNvml):
    def nvmlDeviceGetEccMode(self, handle: str) -> Any:
        return (1, 1)


class OwnError(Exception):
    pass


class OwnErrors(FakeNvml):
    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> Any:
        raise OwnError("Not Supported")  # the fake's own error class, as it used to be


@pytest.mark.parametrize(
    ("cls", "name", "expected"),
    [
        (
            BytesNames,
            "nvmlDeviceGetName",
            "result: b'NVIDIA H100 80GB HBM3', the real one 'NVIDIA H100 80GB HBM3'",
        ),
        (FloatWatts, "nvmlDeviceGetPowerUsage", "TypeError"),
        (MissingField, "nvmlDeviceGetUtilizationRates", "AttributeError"),
        (
            RawNotAvailable,
            "nvmlDeviceGetComputeRunningProcesses",
            "[0].usedGpuMemory: 18446744073709551615, the real one None",
        ),
        (TupleEcc, "nvmlDeviceGetEccMode", "result: tuple, the real one list"),
    ],
)
def test_a_planted_wrong_kind_is_reported(cls: type, name: str, expected: str) -> None:
    fake = cls([READINGS["every reading"]], board=BOARDS["every reading"])
    try:
        ours, real = real_call(fake, name, HANDLE)
    except (TypeError, AttributeError) as err:  # ctypes refuses it: no such C value or field
        assert type(err).__name__ == expected
    else:
        assert differences(ours, real) == [expected]


def test_an_error_class_of_its_own_is_reported() -> None:
    """pynvml raises its own classes (``NVMLError_NotSupported``...); bench's code catches
    those, so a double raising another class tests code paths a GPU never takes."""
    with pytest.raises(OwnError):
        real_call(
            OwnErrors([READINGS["none supported"]]), "nvmlDeviceGetTotalEnergyConsumption", HANDLE
        )
