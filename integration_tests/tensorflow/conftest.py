"""Keras tests: a fresh tracking store per test, autolog errors raised, no patches left behind.

Models and data are tiny (this runs on two CPU cores): a 4-feature binary problem, a
Dense(4) hidden layer, two or three epochs.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

import fittrace  # noqa: E402
from fittrace.autologging import safety, unpatch  # noqa: E402
from fittrace.tracking import fluent, stores  # noqa: E402
from fittrace.tracking.client import Client  # noqa: E402


def _reset() -> None:
    while fittrace.active_run() is not None:
        fittrace.end_run()
    stores.set_tracking_uri(None)
    fluent._state.update(experiment=None, last_run=None)
    for recorder in list(stores._open.values()):
        recorder.flush()
    stores._open.clear()


@pytest.fixture(autouse=True)
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in (
        "FITTRACE_TRACKING_URI",
        "MLFLOW_TRACKING_URI",
        "FITTRACE_ARTIFACT_ROOT",
        "FITTRACE_AUTOLOG",
        "TF_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    uri = f"sqlite:///{tmp_path / 'fitruns' / 'fittrace.db'}"
    monkeypatch.setenv("FITTRACE_TRACKING_URI", uri)
    monkeypatch.setenv("FITTRACE_TESTING", "1")
    monkeypatch.chdir(tmp_path)
    safety.reset_warnings()
    _reset()
    keras.utils.set_random_seed(0)
    yield uri
    unpatch()
    _reset()


@pytest.fixture
def runs() -> Callable[[], list]:
    """Every run of the default experiment, oldest first."""

    def _runs() -> list:
        found = Client().search_runs(["0"])
        return sorted(found, key=lambda r: (r.info.start_time, r.info.run_id))

    return _runs


@pytest.fixture
def history() -> Callable[[str, str], list[tuple[int, float]]]:
    """``(step, value)`` pairs of a run's metric, in step order."""

    def _history(run_id: str, key: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in Client().get_metric_history(run_id, key))

    return _history


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    """64 rows, 4 float32 features, a binary float32 label."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    return x, y


def _make_model(
    inputs: int = 4, optimizer: object = None, metrics: tuple = ("accuracy",)
) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((inputs,)),
            keras.layers.Dense(4, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=optimizer if optimizer is not None else keras.optimizers.Adam(0.01),
        loss="binary_crossentropy",
        metrics=list(metrics),
    )
    return model


@pytest.fixture
def make_model() -> Callable[..., keras.Model]:
    """Build a fresh compiled model: ``make_model(inputs=4, optimizer=Adam(0.01), metrics=("accuracy",))``."""
    return _make_model


@pytest.fixture
def model() -> keras.Model:
    return _make_model()
