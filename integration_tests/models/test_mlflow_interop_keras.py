"""MLflow's Keras loaders read models fittrace saved, and fittrace reads models MLflow saved."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

mlflow = pytest.importorskip("mlflow")
keras = pytest.importorskip("keras")

import fittrace  # noqa: E402
from fittrace.models import infer_signature  # noqa: E402

pytestmark = pytest.mark.mlflow_interop


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    return x, y


@pytest.fixture
def model(data):
    x, y = data
    net = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)]
    )
    net.compile(optimizer="adam", loss="mse")
    net.fit(x, y, epochs=1, verbose=0)
    return net


def test_mlflow_loads_fittrace_keras(model, data, tmp_path):
    x, _ = data
    signature = infer_signature(x, model.predict(x, verbose=0))
    fittrace.tensorflow.save_model(model, tmp_path / "m", signature=signature)
    path = str(tmp_path / "m")
    expected = model.predict(x, verbose=0)
    np.testing.assert_array_equal(mlflow.keras.load_model(path).predict(x, verbose=0), expected)
    if keras.backend.backend() == "tensorflow":
        np.testing.assert_array_equal(
            mlflow.tensorflow.load_model(path).predict(x, verbose=0), expected
        )
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(path).predict(x), expected)
    assert mlflow.models.get_model_info(path).signature.to_dict() == signature.to_dict()


def test_fittrace_loads_mlflow_keras(model, data, tmp_path):
    x, _ = data
    mlflow.keras.save_model(model, str(tmp_path / "m"))
    expected = model.predict(x, verbose=0)
    np.testing.assert_array_equal(
        fittrace.tensorflow.load_model(str(tmp_path / "m")).predict(x, verbose=0), expected
    )
    np.testing.assert_array_equal(
        fittrace.pyfunc.load_model(str(tmp_path / "m")).predict(x), expected
    )


def test_fittrace_loads_mlflow_tensorflow_keras(model, data, tmp_path):
    pytest.importorskip("tensorflow")
    x, _ = data
    mlflow.tensorflow.save_model(model, str(tmp_path / "m"))  # Keras 3: data/model.keras
    expected = model.predict(x, verbose=0)
    np.testing.assert_array_equal(
        fittrace.tensorflow.load_model(str(tmp_path / "m")).predict(x, verbose=0), expected
    )
