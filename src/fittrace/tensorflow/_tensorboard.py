"""TensorBoard event files as the run's ``tensorboard_logs`` artifacts (MLflow's folder name).

With ``log_tensorboard`` (on by default): when the fit has a ``keras.callbacks.TensorBoard``
of the user's, its ``log_dir`` is uploaded after training and left in place; otherwise, when
TensorBoard is installed and Keras runs on TensorFlow (the callback writes through
``tf.summary``), fittrace adds one writing epoch scalars to a temporary folder (no graph, no
profiling: the cheapest settings), uploads it and deletes it. A fit that raises still uploads
what was written.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from typing import Any

ARTIFACT_PATH = "tensorboard_logs"
_installed: bool | None = None


def _can_write() -> bool:
    global _installed
    if _installed is None:
        _installed = importlib.util.find_spec("tensorboard") is not None
    if not _installed:
        return False
    import keras

    return keras.backend.backend() == "tensorflow"


class TensorboardLogs:
    """Where one fit's TensorBoard logs go; ``callback`` is the one fittrace adds, if any."""

    def __init__(self, directory: str, callback: Any) -> None:
        self.directory = directory
        self.callback = callback

    @classmethod
    def for_fit(cls, callbacks: list[Any]) -> TensorboardLogs | None:
        import keras

        for callback in callbacks:
            if isinstance(callback, keras.callbacks.TensorBoard):
                return cls(str(callback.log_dir), None)
        if not _can_write():
            return None
        directory = tempfile.mkdtemp(prefix="fittrace-tensorboard-")
        return cls(directory, keras.callbacks.TensorBoard(directory, write_graph=False))

    def upload(self, writer: Any) -> None:
        """Log the folder's files under ``tensorboard_logs``; delete it if fittrace made it."""
        try:
            if os.path.isdir(self.directory) and os.listdir(self.directory):
                writer.log_artifacts(self.directory, ARTIFACT_PATH)
        finally:
            if self.callback is not None:
                shutil.rmtree(self.directory, ignore_errors=True)
