"""TensorBoard event files as the run's ``tensorboard_logs`` artifacts (MLflow's folder name).

With ``log_tensorboard`` (on by default): when the fit has a ``keras.callbacks.TensorBoard``
of the user's, its ``log_dir`` is uploaded after training and left in place; otherwise, when
TensorBoard is installed and Keras runs on TensorFlow (the callback writes through
``tf.summary``), fittrace adds one writing epoch scalars to a temporary folder, uploads it and
deletes it. That one has no batch hooks (no graph, no profiling, no per-batch scalars), so
Keras keeps dispatching batches asynchronously. A fit that raises still uploads what was
written. Imported only inside a Keras fit.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from typing import Any

import keras

ARTIFACT_PATH = "tensorboard_logs"
_installed: bool | None = None


def _can_write() -> bool:
    global _installed
    if _installed is None:
        _installed = importlib.util.find_spec("tensorboard") is not None
    return _installed and keras.backend.backend() == "tensorflow"


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """Keras's TensorBoard callback writing per-epoch values only."""

    on_train_batch_begin = keras.callbacks.Callback.on_train_batch_begin
    on_train_batch_end = keras.callbacks.Callback.on_train_batch_end
    on_test_batch_begin = keras.callbacks.Callback.on_test_batch_begin
    on_test_batch_end = keras.callbacks.Callback.on_test_batch_end


class TensorboardLogs:
    """Where one fit's TensorBoard logs go; ``callback`` is the one fittrace adds, if any."""

    def __init__(self, directory: str, callback: Any) -> None:
        self.directory = directory
        self.callback = callback

    @classmethod
    def for_fit(cls, callbacks: list[Any]) -> TensorboardLogs | None:
        for callback in callbacks:
            if isinstance(callback, keras.callbacks.TensorBoard):
                return cls(str(callback.log_dir), None)
        if not _can_write():
            return None
        directory = tempfile.mkdtemp(prefix="fittrace-tensorboard-")
        return cls(directory, EpochTensorBoard(directory, write_graph=False))

    def upload(self, writer: Any) -> None:
        """Log the folder's files under ``tensorboard_logs``; delete it if fittrace made it."""
        try:
            if os.path.isdir(self.directory) and os.listdir(self.directory):
                writer.log_artifacts(self.directory, ARTIFACT_PATH)
        finally:
            if self.callback is not None:
                shutil.rmtree(self.directory, ignore_errors=True)
