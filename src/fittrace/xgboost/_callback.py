"""The training callback that turns xgboost's evaluation log into run metrics.

xgboost keeps every evaluation result in one dict (``evals_log``:
``{data_name: {metric_name: [value per iteration]}}``) and hands the same dict
to every callback after each iteration. The callback here only notes the
iteration number and wall time (well under a microsecond), and converts the
new tail of that dict into ``Metric`` entities at most every
``flush_interval_s`` seconds and when training ends, writing them through one
``sink`` call per batch. Put it first in the callback list: xgboost stops
calling callbacks for an iteration once one of them asks to stop (it still
catches up on that iteration at the end, stamped with the flush time). A failing sink is reported once through ``on_error``
and never interrupts training.

Steps are absolute boosting rounds: a train call that continues an existing
model (``xgb_model=``) logs its first round at ``model.num_boosted_rounds()``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from xgboost.callback import TrainingCallback

from fittrace.entities import Metric

MetricSink = Callable[[list[Metric]], None]
ErrorHandler = Callable[[BaseException], None]

_UNSAFE = re.compile(r"[^\w.\- /:]")


def metric_key(data_name: str, metric_name: str, suffix: str = "") -> str:
    """``<data>-<metric>[-<suffix>]`` with characters the store rejects replaced.

    ``@`` becomes ``_at_`` (``ndcg@5`` -> ``ndcg_at_5``); any other character
    outside letters, digits, ``_ - . / : `` and space becomes ``_``.
    """
    key = f"{data_name}-{metric_name}" + (f"-{suffix}" if suffix else "")
    return _UNSAFE.sub("_", key.replace("@", "_at_"))


def _flatten(
    name_values: Mapping[str, Mapping[str, Sequence[Any]]],
) -> list[tuple[str, str, Sequence[Any]]]:
    return [(d, m, values) for d, metrics in name_values.items() for m, values in metrics.items()]


def metrics_at(
    evals_log: Mapping[str, Mapping[str, Sequence[Any]]], index: int
) -> dict[str, float]:
    """The metric values of one iteration of an evals log, keyed like the history.

    Cross-validation logs hold ``(mean, std)`` pairs and give ``-mean``/``-std`` keys.
    """
    values: dict[str, float] = {}
    for data_name, metric_name, history in _flatten(evals_log):
        if index >= len(history):
            continue
        value = history[index]
        if isinstance(value, tuple):
            values[metric_key(data_name, metric_name, "mean")] = float(value[0])
            values[metric_key(data_name, metric_name, "std")] = float(value[1])
        else:
            values[metric_key(data_name, metric_name)] = float(value)
    return values


def _rows(
    evals_log: Mapping[str, Mapping[str, Sequence[Any]]],
    first: int,
    end: int,
    starting_round: int,
    timestamp: Callable[[int], int],
) -> list[Metric]:
    """Metric entities for iterations ``first`` to ``end - 1`` of an evals log."""
    rows: list[Metric] = []
    for data_name, metric_name, history in _flatten(evals_log):
        if isinstance(history[0] if history else None, tuple):
            keys = (
                metric_key(data_name, metric_name, "mean"),
                metric_key(data_name, metric_name, "std"),
            )
            for index in range(first, min(end, len(history))):
                mean, std = history[index]
                stamp, step = timestamp(index), starting_round + index
                rows.append(Metric(keys[0], float(mean), stamp, step))
                rows.append(Metric(keys[1], float(std), stamp, step))
        else:
            key = metric_key(data_name, metric_name)
            rows.extend(
                Metric(key, float(history[index]), timestamp(index), starting_round + index)
                for index in range(first, min(end, len(history)))
            )
    return rows


def history_metrics(
    evals_log: Mapping[str, Mapping[str, Sequence[Any]]], starting_round: int = 0
) -> list[Metric]:
    """Every iteration of a finished evals log (``evals_result_``) as metrics stamped now."""
    now = int(time.time() * 1000)
    end = max((len(h) for _, _, h in _flatten(evals_log)), default=0)
    return _rows(evals_log, 0, end, starting_round, lambda _index: now)


class MetricsCallback(TrainingCallback):
    """Collects per-iteration evaluation metrics and writes them in batches.

    ``stopped_iteration`` and ``history`` are available after training for the
    early-stopping summary; ``starting_round`` is the booster's size before it.
    """

    def __init__(
        self,
        sink: MetricSink,
        on_error: ErrorHandler,
        flush_interval_s: float = 2.0,
        batch_size: int = 1000,
    ) -> None:
        super().__init__()
        self._sink = sink
        self._on_error = on_error
        self._interval = flush_interval_s
        self._batch_size = batch_size
        self._next_flush = 0.0
        self._times: list[int] = []
        self._flushed = 0
        self._failed = False
        self.history: Mapping[str, Mapping[str, Sequence[Any]]] = {}
        self.starting_round = 0

    @property
    def rounds(self) -> int:
        """How many iterations were trained (also counting one a callback before this one stopped at)."""
        return max(len(self._times), max((len(h) for _, _, h in _flatten(self.history)), default=0))

    @property
    def stopped_iteration(self) -> int | None:
        """The absolute round of the last iteration trained, or None before the first."""
        rounds = self.rounds
        return self.starting_round + rounds - 1 if rounds else None

    def before_training(self, model: Any) -> Any:
        self.starting_round = int(model.num_boosted_rounds())
        self._next_flush = time.monotonic() + self._interval
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        self.history = evals_log
        self._times.append(int(time.time() * 1000))
        if time.monotonic() >= self._next_flush:
            self.flush()
            self._next_flush = time.monotonic() + self._interval
        return False

    def after_training(self, model: Any) -> Any:
        self.flush()
        return model

    def _timestamp(self, index: int) -> int:
        return self._times[index] if index < len(self._times) else int(time.time() * 1000)

    def flush(self) -> None:
        """Write the iterations not written yet; safe to call any number of times."""
        end = self.rounds
        if self._failed or end <= self._flushed:
            return
        try:
            batch = _rows(self.history, self._flushed, end, self.starting_round, self._timestamp)
            self._flushed = end
            for start in range(0, len(batch), self._batch_size):
                self._sink(batch[start : start + self._batch_size])
        except Exception as exc:  # never break the user's training loop
            self._failed = True
            self._on_error(exc)
