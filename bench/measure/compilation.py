"""How many graphs ``torch.compile`` compiled: a compiled job should compile each shape it runs
once, in its first epoch, and nothing after (a graph compiled in a steady epoch means a shape
changed, or a dynamic graph replaced a static one)."""

from __future__ import annotations

from typing import Any


def graphs_compiled() -> int:
    """Graphs Dynamo has compiled in this process so far (its ``unique_graphs`` counter)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


class GraphCounter:
    """The graphs compiled between one call of ``since_last`` and the next (or the counter's
    creation)."""

    def __init__(self) -> None:
        self._last = graphs_compiled()

    def since_last(self) -> int:
        """Graphs compiled since the previous mark; marks now."""
        now = graphs_compiled()
        count, self._last = now - self._last, now
        return count


class CompiledGraphs:
    """A compiled job's graph counts, kept in its record's ``extra``: ``compiled_graphs`` (while
    training and evaluating), ``compiled_graphs_steady`` (of those, in epochs after the first of
    their phase: 0 when every shape is static) and ``compiled_graphs_inference``."""

    def __init__(self, extra: dict[str, Any]) -> None:
        self.extra, self.counter = extra, GraphCounter()
        extra.update(compiled_graphs=0, compiled_graphs_steady=0)

    def epoch_ended(self, epoch: int) -> None:
        count = self.counter.since_last()
        self.extra["compiled_graphs"] += count
        if epoch > 1:
            self.extra["compiled_graphs_steady"] += count

    def inference_ended(self) -> None:
        self.extra["compiled_graphs_inference"] = self.counter.since_last()
