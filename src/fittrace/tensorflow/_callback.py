"""The Keras callback autologging adds to a copy of ``fit``'s callbacks list.

Imported only once Keras is (it subclasses ``keras.callbacks.Callback``). It uses
Keras's backend-neutral API only, so it works on the TensorFlow, PyTorch and JAX
backends. Every hook is guarded: an error in fittrace's own code is handed to the
writer's ``record_error`` (a warning, or a raise in test mode) and training goes on.
The writer is the autologged call (``log_metrics``, ``record_error``); a copy of the
callback (pickle, ``deepcopy``) holds a ``RunHandle`` on the same run instead.

Per epoch it costs one dict filter, one learning-rate read (``float`` of the
optimizer's variable; a schedule is evaluated once per epoch at the end of
training instead, from the iteration counts it notes) and one buffered
``log_metrics`` call.
"""

from __future__ import annotations

import functools
import numbers
import time
from collections.abc import Callable
from typing import Any

import keras

LEARNING_RATE = "learning_rate"


def _guarded(hook: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(hook)
    def guarded(self: FittraceCallback, *args: Any, **kwargs: Any) -> None:
        try:
            hook(self, *args, **kwargs)
        except Exception as error:
            self.writer.record_error("fit (callback)", error)

    return guarded


def scalar_logs(logs: dict[str, Any] | None) -> dict[str, float]:
    """The scalar entries of a Keras logs dict, as floats (array-valued metrics are skipped)."""
    if not logs:
        return {}
    return {
        key: float(value)
        for key, value in logs.items()
        if isinstance(value, numbers.Real) and not isinstance(value, bool)
    }


class FittraceCallback(keras.callbacks.Callback):
    """Logs every epoch's logs at step = epoch, and the learning rate, through ``writer``.

    Each validation's logs also go under MLflow's ``validation_<key>`` names (step = epoch).
    ``epoch_logs`` keeps each epoch's values so the capture can log the metrics of the
    epoch EarlyStopping restored (and write TensorBoard's logs, with ``epoch_times`` and
    ``learning_rates``); ``last_epoch`` is the last epoch that finished. With a
    ``checkpoints`` policy, checkpoints are saved as artifacts at each epoch's end.
    """

    def __init__(self, writer: Any, log_every_epoch: bool = True, checkpoints: Any = None) -> None:
        super().__init__()
        self.writer = writer
        self._log_every_epoch = log_every_epoch
        self.checkpoints = checkpoints
        self._epoch = 0
        self.epoch_logs: dict[int, dict[str, float]] = {}
        self.epoch_times: dict[int, float] = {}  # when each epoch ended (seconds since the epoch)
        self.learning_rates: dict[int, float] = {}
        self.last_epoch: int | None = None
        self._schedule: Any = None
        self._schedule_steps: dict[int, float] = {}

    @_guarded
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.epoch_logs, self.epoch_times, self.learning_rates = {}, {}, {}
        self.last_epoch = None
        self._schedule_steps = {}
        rate = getattr(self.model.optimizer, "_learning_rate", None)
        self._schedule = (
            rate if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule) else None
        )

    def _log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.writer.log_metrics(metrics, step=step)

    @_guarded
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    @_guarded
    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        metrics = {f"validation_{k}": v for k, v in scalar_logs(logs).items()}
        if metrics:  # also with log_every_epoch=False, as MLflow does
            self._log_metrics(metrics, self._epoch)

    def save_checkpoint(self, metrics: dict[str, float], epoch: int, step: int) -> None:
        def write(path: str, weights_only: bool) -> None:
            if weights_only:
                self.model.save_weights(path)
            else:
                self.model.save(path)

        self.checkpoints.save(self.writer, write, metrics, epoch, step)

    @_guarded
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        metrics = scalar_logs(logs)
        if self.checkpoints is not None and self.checkpoints.per_epoch:
            self.save_checkpoint(metrics, epoch, int(float(self.model.optimizer.iterations)))
        self.epoch_logs[epoch] = metrics
        self.epoch_times[epoch] = time.time()
        self.last_epoch = epoch
        if LEARNING_RATE not in metrics:  # noted also when not logged: TensorBoard shows it
            optimizer = self.model.optimizer
            if self._schedule is not None:
                self._schedule_steps[epoch] = float(optimizer.iterations)
            elif optimizer is not None:
                self.learning_rates[epoch] = float(optimizer.learning_rate)
        if not self._log_every_epoch:
            return
        if epoch in self.learning_rates:
            metrics = {**metrics, LEARNING_RATE: self.learning_rates[epoch]}
        if metrics:
            self._log_metrics(metrics, epoch)

    @_guarded
    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        for epoch, iteration in self._schedule_steps.items():
            self.learning_rates[epoch] = float(self._schedule(iteration))
            if self._log_every_epoch:
                self._log_metrics({LEARNING_RATE: self.learning_rates[epoch]}, epoch)
        self._schedule_steps = {}


class BatchLoggingCallback(FittraceCallback):
    """Also logs the running batch logs every ``every_n_steps`` training steps, or saves a
    checkpoint every ``checkpoint_save_freq`` steps.

    Values go under ``batch_<key>`` (the canonical name: never mixed with epoch values) and,
    when epoch logging is off (``log_every_epoch=False``, MLflow's per-step mode), also under
    the metric's own name, as MLflow logs them. The step is the optimizer's iteration count,
    so repeated fits continue it. Overriding ``on_train_batch_end`` makes Keras call batch
    hooks synchronously, so this class is used only when asked for.
    """

    def __init__(
        self,
        writer: Any,
        log_every_epoch: bool,
        every_n_steps: int | None,
        checkpoints: Any = None,
    ) -> None:
        super().__init__(writer, log_every_epoch, checkpoints)
        self._every = every_n_steps
        self._epoch_base = 0  # global step before this epoch's first batch
        self._steps_done = 0

    @_guarded
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        FittraceCallback.on_train_begin.__wrapped__(self, logs)
        iterations = getattr(self.model.optimizer, "iterations", None)
        self._epoch_base = self._steps_done = (
            int(float(iterations)) if iterations is not None else 0
        )

    @_guarded
    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        step = self._epoch_base + batch + 1  # batch may jump by steps_per_execution
        every, done = self._every, self._steps_done
        if every and step // every > done // every:
            values = scalar_logs(logs)
            metrics = {f"batch_{k}": v for k, v in values.items()}
            if not self._log_every_epoch:
                metrics.update(values)
            if metrics:
                self._log_metrics(metrics, step)
        policy = self.checkpoints
        if policy is not None and not policy.per_epoch:
            freq = int(policy.save_freq)
            if step // freq > done // freq:
                self.save_checkpoint(scalar_logs(logs), self._epoch, step)
        self._steps_done = step

    @_guarded
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        FittraceCallback.on_epoch_end.__wrapped__(self, epoch, logs)
        self._epoch_base = self._steps_done


class EvaluationLogs(keras.callbacks.Callback):
    """Keeps the logs ``evaluate`` ends with (added to a copy of evaluate's callbacks)."""

    logs: dict[str, Any] | None = None

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self.logs = logs


def make_callback(writer: Any, settings: Any) -> FittraceCallback:
    """The callback for one fit: epoch logging, plus per-step work when some is asked for."""
    checkpoints = None
    if settings.checkpoint:
        from fittrace.autologging.checkpoints import CheckpointPolicy

        weights = settings.checkpoint_save_weights_only
        checkpoints = CheckpointPolicy(settings, ".h5" if weights else ".keras")
    every = settings.log_every_n_steps
    if every or (checkpoints is not None and not checkpoints.per_epoch):
        return BatchLoggingCallback(writer, settings.log_every_epoch, every, checkpoints)
    return FittraceCallback(writer, settings.log_every_epoch, checkpoints)
