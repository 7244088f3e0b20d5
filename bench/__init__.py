"""bench: reproducible benchmarking and profiling of convolutional networks.

``bench.load_run(path)`` gives a run directory's tables as pandas DataFrames
(``bench.results.load``); it is imported on first use, so the command line starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["RunTables", "__version__", "load_run"]

if TYPE_CHECKING:
    from bench.results.load import RunTables, load_run


def __getattr__(name: str) -> Any:
    """``load_run`` and ``RunTables``, imported when first asked for."""
    if name in ("load_run", "RunTables"):
        from bench.results import load

        return getattr(load, name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
