"""A metric's history as columns (``Client.get_metric_history_columns``)."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat

from fittrace.entities import Metric


@dataclass(frozen=True, eq=False)  # arrays: no hash, and NaN would make == False
class MetricHistory:
    """One metric's history as columns, in history order (step, then timestamp): ``steps``,
    ``timestamps`` (ms) and ``values`` are ``array.array``s, so ``numpy.asarray(h.values)``
    shares their memory. fittrace's addition beside MLflow's list of ``Metric``."""

    key: str
    steps: array
    timestamps: array
    values: array

    @classmethod
    def of(cls, key: str, metrics: Iterable[Metric]) -> MetricHistory:
        """The columns of a list of ``Metric`` (in history order already)."""
        points = list(metrics)
        return cls(
            key,
            array("q", [m.step for m in points]),
            array("q", [m.timestamp for m in points]),
            array("d", [m.value for m in points]),
        )

    def __len__(self) -> int:
        return len(self.steps)

    def metrics(self, start: int = 0, stop: int | None = None) -> list[Metric]:
        """The history as MLflow returns it, one ``Metric`` per point (of ``[start:stop]``)."""
        window = slice(start, stop)
        return list(
            map(
                Metric,
                repeat(self.key),
                self.values[window],
                self.timestamps[window],
                self.steps[window],
            )
        )
