"""Keras tests: a fresh tracking store per test, autolog errors raised, no patches left behind.

Models and data are tiny (this runs on two CPU cores): a 4-feature binary problem, a
Dense(4) hidden layer, two or three epochs.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")


@pytest.fixture(autouse=True)
def keras_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Single-worker training and reproducible weights."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    keras.utils.set_random_seed(0)


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
