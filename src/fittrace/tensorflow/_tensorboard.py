"""TensorBoard event files as the run's ``tensorboard_logs`` artifacts (MLflow's folder name).

With ``log_tensorboard`` (on by default): when the fit has a ``keras.callbacks.TensorBoard``
of the user's, its ``log_dir`` is uploaded after training and left in place. Otherwise, when
TensorBoard is installed, fittrace writes the epoch values its own callback saw, as Keras's
TensorBoard callback would name them (``train/`` and ``validation/`` folders, scalars
``epoch_<name>`` and ``epoch_learning_rate`` at step = epoch), once the fit has returned, on
the deferred-writes thread (``fittrace.tracking.pending``). Nothing is added to the training:
Keras's callback cost a script's first fit 130 ms (the first use of ``tf.summary``), and this
way works on every Keras backend. A fit that raises still gets the epochs it finished.
Unlike Keras's callback: no ``evaluation_<name>_vs_iterations``, and one learning rate (not one
per optimizer of a multi-optimizer). Imported only inside a Keras fit.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import tempfile
from typing import Any

import keras

from fittrace.tensorflow._callback import LEARNING_RATE
from fittrace.tracking import pending

ARTIFACT_PATH = "tensorboard_logs"
_VALIDATION_PREFIX = "val_"
_installed: list[bool] = []


def _can_write() -> bool:
    if not _installed:
        _installed.append(importlib.util.find_spec("tensorboard") is not None)
    return _installed[0]


def users_log_dir(callbacks: list[Any]) -> str | None:
    """The ``log_dir`` of the fit's own TensorBoard callback, if it has one."""
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.TensorBoard):
            return str(callback.log_dir)
    return None


def upload_users(writer: Any, log_dir: str) -> None:
    """Log the user's TensorBoard folder under ``tensorboard_logs`` (it stays where it is)."""
    if os.path.isdir(log_dir) and os.listdir(log_dir):
        writer.log_artifacts(log_dir, ARTIFACT_PATH)


def write_later(client: Any, run_id: str, callback: Any) -> None:
    """Write the epochs ``callback`` (fittrace's) saw as event files and log them, once the fit
    has returned."""
    if callback.epoch_logs and _can_write():
        epochs = [
            (epoch, callback.epoch_times[epoch], logs, callback.learning_rates.get(epoch))
            for epoch, logs in sorted(callback.epoch_logs.items())
        ]
        pending.defer(
            run_id, "the TensorBoard logs", functools.partial(_write, client, run_id, epochs)
        )


def _write(
    client: Any, run_id: str, epochs: list[tuple[int, float, dict[str, float], float | None]]
) -> None:
    folders: dict[str, list[tuple[int, float, str, float]]] = {"train": [], "validation": []}
    for epoch, ended, logs, rate in epochs:
        for name, value in logs.items():
            if name.startswith(_VALIDATION_PREFIX):
                folders["validation"].append((epoch, ended, name[len(_VALIDATION_PREFIX) :], value))
            else:
                folders["train"].append((epoch, ended, name, value))
        if rate is not None and LEARNING_RATE not in logs:
            folders["train"].append((epoch, ended, LEARNING_RATE, rate))
    directory = tempfile.mkdtemp(prefix="fittrace-tensorboard-")
    try:
        for folder, scalars in folders.items():
            if scalars:
                _write_events(os.path.join(directory, folder), scalars)
        client.log_artifacts(run_id, directory, ARTIFACT_PATH)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _write_events(log_dir: str, scalars: list[tuple[int, float, str, float]]) -> None:
    # TensorBoard's own record framing and protos, over a plain file: its EventFileWriter opens
    # files through tf.io.gfile, which imports TensorFlow wherever it is installed (seconds, on
    # a Keras running on torch or JAX)
    import socket

    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.record_writer import RecordWriter

    os.makedirs(log_dir, exist_ok=True)
    started = scalars[0][1]
    name = f"events.out.tfevents.{int(started)}.{socket.gethostname()}.{os.getpid()}.0"
    records = RecordWriter(open(os.path.join(log_dir, name), "wb"))
    try:
        records.write(Event(wall_time=started, file_version="brain.Event:2").SerializeToString())
        for epoch, ended, tag, value in scalars:
            summary = Summary(value=[Summary.Value(tag=f"epoch_{tag}", simple_value=value)])
            records.write(Event(wall_time=ended, step=epoch, summary=summary).SerializeToString())
    finally:
        records.close()
