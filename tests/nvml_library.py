"""NVML's C library as pynvml calls it, answering from a test double, so that the real pynvml
wrappers run without a driver.

pynvml looks each C function up through ``_nvmlGetFunctionPointer`` and reads what the C call
wrote into its ctypes out-parameters. ``real_call`` swaps that lookup for C functions that ask
the double (the method named as the wrapper) and write its answer where NVML would: an int into
a ``c_uint``, a name into a char buffer, a structure's fields, a process array. The wrapper then
returns what it returns on a GPU that said the same (str or bytes, ints, ctypes structures, None
for memory NVML cannot tell), or raises pynvml's error class of the double's error code.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pynvml

Writer = Callable[[Any, list[Any]], int]


def _plain(arg: Any) -> Any:
    """An argument as the double takes it: ctypes values unwrapped, bytes decoded."""
    if isinstance(arg, ctypes._SimpleCData):
        arg = arg.value
    return arg.decode() if isinstance(arg, bytes) else arg


def _target(out: Any) -> Any:
    """What a ``byref(x)`` out-parameter points at (``x``), or the buffer itself."""
    return getattr(out, "_obj", out)


def _scalar(answer: Any, outs: list[Any]) -> int:
    _target(outs[0]).value = answer
    return pynvml.NVML_SUCCESS


def _each(answer: Any, outs: list[Any]) -> int:
    for out, value in zip(outs, answer, strict=True):
        _target(out).value = value
    return pynvml.NVML_SUCCESS


def _text(answer: Any, outs: list[Any]) -> int:
    _target(outs[0]).value = answer.encode() if isinstance(answer, str) else answer
    return pynvml.NVML_SUCCESS


def _nothing(_answer: Any, _outs: list[Any]) -> int:
    """Nothing to write: no result, or an opaque handle (the double's own token)."""
    return pynvml.NVML_SUCCESS


def _struct(answer: Any, outs: list[Any]) -> int:
    fill(_target(outs[0]), answer)
    return pynvml.NVML_SUCCESS


def fill(struct: Any, answer: Any) -> None:
    """Write each public attribute of ``answer`` into the field of that name of ``struct``; a
    field the real structure lacks is an ``AttributeError`` (ctypes would add it silently)."""
    fields = dict(getattr(type(struct), "_fields_", []))
    for name, value in vars(answer).items():
        if name not in fields:
            raise AttributeError(f"{type(struct).__name__} has no field {name!r}")
        if isinstance(value, (int, float, bytes)) or value is None:
            setattr(struct, name, fields[name](-1).value if value is None else value)
        else:
            fill(getattr(struct, name), value)


@dataclass(frozen=True)
class CFunction:
    """A C function pynvml calls: the wrapper (double's method) it answers for, how many of its
    leading arguments are the wrapper's own, and how the answer is written."""

    wrapper: str
    inputs: int
    write: Writer


C_FUNCTIONS = {
    "nvmlInitWithFlags": CFunction("nvmlInit", 0, _nothing),
    "nvmlShutdown": CFunction("nvmlShutdown", 0, _nothing),
    "nvmlDeviceGetCount_v2": CFunction("nvmlDeviceGetCount", 0, _scalar),
    "nvmlDeviceGetHandleByIndex_v2": CFunction("nvmlDeviceGetHandleByIndex", 1, _nothing),
    "nvmlDeviceGetHandleByUUID": CFunction("nvmlDeviceGetHandleByUUID", 1, _nothing),
    "nvmlDeviceGetUUID": CFunction("nvmlDeviceGetUUID", 1, _text),
    "nvmlDeviceGetName": CFunction("nvmlDeviceGetName", 1, _text),
    "nvmlSystemGetDriverVersion": CFunction("nvmlSystemGetDriverVersion", 0, _text),
    "nvmlSystemGetCudaDriverVersion": CFunction("nvmlSystemGetCudaDriverVersion", 0, _scalar),
    "nvmlDeviceGetUtilizationRates": CFunction("nvmlDeviceGetUtilizationRates", 1, _struct),
    "nvmlDeviceGetMemoryInfo": CFunction("nvmlDeviceGetMemoryInfo", 1, _struct),
    "nvmlDeviceGetPowerUsage": CFunction("nvmlDeviceGetPowerUsage", 1, _scalar),
    "nvmlDeviceGetTotalEnergyConsumption": CFunction(
        "nvmlDeviceGetTotalEnergyConsumption", 1, _scalar
    ),
    "nvmlDeviceGetTemperature": CFunction("nvmlDeviceGetTemperature", 2, _scalar),
    "nvmlDeviceGetTemperatureThreshold": CFunction("nvmlDeviceGetTemperatureThreshold", 2, _scalar),
    "nvmlDeviceGetClockInfo": CFunction("nvmlDeviceGetClockInfo", 2, _scalar),
    "nvmlDeviceGetMaxClockInfo": CFunction("nvmlDeviceGetMaxClockInfo", 2, _scalar),
    "nvmlDeviceGetCurrentClocksEventReasons": CFunction(
        "nvmlDeviceGetCurrentClocksEventReasons", 1, _scalar
    ),
    "nvmlDeviceGetCurrentClocksThrottleReasons": CFunction(
        "nvmlDeviceGetCurrentClocksThrottleReasons", 1, _scalar
    ),
    "nvmlDeviceGetEnforcedPowerLimit": CFunction("nvmlDeviceGetEnforcedPowerLimit", 1, _scalar),
    "nvmlDeviceGetPowerManagementDefaultLimit": CFunction(
        "nvmlDeviceGetPowerManagementDefaultLimit", 1, _scalar
    ),
    "nvmlDeviceGetEccMode": CFunction("nvmlDeviceGetEccMode", 1, _each),
}


class Library:
    """The C library, answering from ``double``; ``answers`` holds what the double said, by
    wrapper name (its return value, or the exception it raised)."""

    def __init__(self, double: Any) -> None:
        self.double = double
        self.answers: dict[str, Any] = {}

    def function(self, c_name: str) -> Callable[..., int]:
        """The C function ``c_name`` (``KeyError`` for one no double answers yet)."""
        special = {
            "nvmlDeviceGetComputeRunningProcesses_v3": self._processes,
            "nvmlDeviceGetFieldValues": self._field_values,
        }
        if c_name in special:
            return special[c_name]
        spec = C_FUNCTIONS[c_name]

        def call(*args: Any) -> int:
            inputs = [_plain(a) for a in args[: spec.inputs]]
            answer = self._ask(spec.wrapper, *inputs)
            if isinstance(answer, pynvml.NVMLError):
                return int(answer.value)
            return spec.write(answer, list(args[spec.inputs :]))

        return call

    def _ask(self, wrapper: str, *args: Any) -> Any:
        try:
            answer = getattr(self.double, wrapper)(*args)
        except pynvml.NVMLError as err:
            answer = err
        self.answers[wrapper] = answer
        return answer

    def _processes(self, handle: Any, count: Any, array: Any) -> int:
        """pynvml's two calls: the count first (no array), then the array."""
        if array is None:
            answer = self._ask("nvmlDeviceGetComputeRunningProcesses", _plain(handle))
            if isinstance(answer, pynvml.NVMLError):
                return int(answer.value)
            _target(count).value = len(answer)
            return pynvml.NVML_ERROR_INSUFFICIENT_SIZE if answer else pynvml.NVML_SUCCESS
        answer = self.answers["nvmlDeviceGetComputeRunningProcesses"]
        for i, process in enumerate(answer):
            fill(array[i], process)
        _target(count).value = len(answer)
        return pynvml.NVML_SUCCESS

    def _field_values(self, handle: Any, _count: Any, values: Any) -> int:
        array = _target(values)
        ids = [v.fieldId for v in array]
        answer = self._ask("nvmlDeviceGetFieldValues", _plain(handle), ids)
        if isinstance(answer, pynvml.NVMLError):
            return int(answer.value)
        for struct, value in zip(array, answer, strict=True):
            fill(struct, value)
        return pynvml.NVML_SUCCESS


@contextmanager
def driverless(library: Library) -> Iterator[None]:
    """pynvml with ``library`` in place of the driver's, restored afterwards."""
    saved = (pynvml._nvmlGetFunctionPointer, pynvml.nvmlLib, pynvml._nvmlLib_refcount)
    pynvml._nvmlGetFunctionPointer = library.function
    pynvml.nvmlLib = library
    try:
        yield
    finally:
        pynvml._nvmlGetFunctionPointer, pynvml.nvmlLib, pynvml._nvmlLib_refcount = saved


def real_call(double: Any, wrapper: str, *args: Any) -> tuple[Any, Any]:
    """(what the double answered, what the real wrapper returned or raised) for one call of
    pynvml's ``wrapper`` with ``args``, the C library answering from ``double``."""
    library = Library(double)
    with driverless(library):
        try:
            real: Any = getattr(pynvml, wrapper)(*args)
        except pynvml.NVMLError as err:
            real = err
    return library.answers.get(wrapper), real
