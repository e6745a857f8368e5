"""Keras 3 on the PyTorch backend (torch==2.13.0), in a subprocess since the backend is fixed at import."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed"
)

SCRIPT = r"""
import importlib.util
import numpy as np
import keras
import fittrace
from fittrace.tracking.client import Client

assert keras.backend.backend() == "torch"
fittrace.tensorflow.autolog(log_every_n_steps=2)
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("float32")
schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer=keras.optimizers.SGD(schedule), loss="binary_crossentropy", metrics=["accuracy"])
stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=10.0, restore_best_weights=True)
callbacks = [stop]
result = model.fit(x, y, 16, 5, 0, callbacks, 0.25)
assert callbacks == [stop]
scores = model.evaluate(x, y, verbose=0, return_dict=True)

client = Client()
(run,) = client.search_runs(["0"])
run_id = run.info.run_id
def history(key):
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
for key, values in result.history.items():
    assert history(key)[: len(values)] == list(enumerate(values)), key
assert history("stopped_epoch") == [(2, 1.0)] and history("restored_epoch") == [(2, 0.0)]
assert [s for s, _ in history("learning_rate")] == [0, 1]
assert [s for s, _ in history("batch_loss")] == [2, 4, 6]  # 3 steps per epoch (48 rows / 16)
assert run.data.params["batch_size"] == "16" and run.data.params["epochs"] == "5"
assert run.data.metrics["eval_loss"] == scores["loss"]
expected = model.predict(x, verbose=0)
np.testing.assert_array_equal(fittrace.tensorflow.load_model(f"runs:/{run_id}/model").predict(x, verbose=0), expected)
np.testing.assert_array_equal(fittrace.pyfunc.load_model(f"runs:/{run_id}/model").predict(x), expected)
if importlib.util.find_spec("tensorboard") is not None:
    logs = [f.path for f in client.list_artifacts(run_id, "tensorboard_logs")]
    assert logs == ["tensorboard_logs/train", "tensorboard_logs/validation"], logs
print("TORCH BACKEND OK")
"""


def test_autolog_on_the_torch_backend(tmp_path):
    env = {
        **os.environ,
        "KERAS_BACKEND": "torch",
        "FITTRACE_TESTING": "1",
        "FITTRACE_TRACKING_URI": f"sqlite:///{tmp_path / 'fittrace.db'}",
        "CUDA_VISIBLE_DEVICES": "",
    }
    env.pop("TF_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "TORCH BACKEND OK" in done.stdout


WRITE_EVENTS = r"""
import sys, time
import keras
from fittrace.tensorflow import _tensorboard

assert keras.backend.backend() == "torch" and "tensorflow" not in sys.modules
now = time.time()
_tensorboard._write_events(sys.argv[1], [(0, now, "loss", 0.5), (1, now + 1, "loss", 0.25)])
print("tensorflow" in sys.modules)
"""


def test_tensorboard_files_are_written_without_importing_tensorflow(tmp_path):
    """On Keras's other backends TensorFlow stays unimported (seconds, and its memory), even
    where it is installed."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    env = {**os.environ, "KERAS_BACKEND": "torch", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-c", WRITE_EVENTS, str(tmp_path / "train")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.split() == ["False"]
    events = EventAccumulator(str(tmp_path / "train"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("epoch_loss")] == [(0, 0.5), (1, 0.25)]
