"""Read a pickle that may hold only plain data and numpy arrays, so that no file can run code.

A pickle names the callables it wants called (``GLOBAL`` opcodes, resolved by ``find_class``);
this reader resolves only the few that rebuild a numpy array and refuses every other name, so
``__reduce__`` tricks (``os.system``, ``eval``, ``builtins.exec`` …) fail before anything runs.
Dicts, lists, tuples, strings, bytes, ints, floats, ``None`` and booleans need no callable.

The names allowed are exactly those numpy's arrays pickle to:
- ``numpy.core.multiarray._reconstruct`` (numpy 1.x, as in the official CIFAR release) or
  ``numpy._core.multiarray._reconstruct`` (numpy 2.x), with ``numpy.ndarray`` and
  ``numpy.dtype``: an array pickled with protocol 0 to 4;
- ``numpy.core.numeric._frombuffer`` or ``numpy._core.numeric._frombuffer``: protocol 5;
- ``_codecs.encode``: how Python 3 writes ``bytes`` (an array's buffer) under protocol 2.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import DataError, UnreadableData

_SAMPLE = np.zeros(1, np.uint8)
_RECONSTRUCT = _SAMPLE.__reduce__()[0]
_FROMBUFFER = _SAMPLE.__reduce_ex__(5)[0]
ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a callable outside ``ALLOWED``."""


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"{module}.{name}") from None


def load_data_pickle(path: Path) -> Any:
    """The object pickled in ``path`` (Python 2 strings read as latin-1, as torchvision does);
    a pickle naming anything but ``ALLOWED``, one that is not a pickle or one followed by more
    bytes is a one-line ``DataError`` naming ``path``; a file the OS will not let us read is
    ``UnreadableData``."""
    try:
        with path.open("rb") as handle:
            content = _DataUnpickler(handle, encoding="latin1").load()
            trailing = len(handle.read())
    except RefusedGlobal as err:
        raise DataError(
            f"{path}: refused: the pickle calls {err}, which a data file never needs"
        ) from None
    except OSError as err:  # opening or reading the file, never its bytes
        raise UnreadableData(path, err) from None
    except Exception as err:  # what malformed bytes raise varies by opcode
        raise DataError(f"{path}: not a readable pickle ({_reason(err)})") from None
    if trailing:
        raise DataError(f"{path}: {trailing} bytes after the end of the pickle")
    return content


def _reason(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
