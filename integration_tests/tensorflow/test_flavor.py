"""The Keras model flavor: save, log, load (safe mode), pyfunc."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fittrace
from fittrace import models
from fittrace.exceptions import InvalidParameterError, ResourceAlreadyExistsError

keras = pytest.importorskip("keras")


@pytest.fixture
def trained(model, data):
    x, y = data
    model.fit(x, y, epochs=1, verbose=0)
    return model


def test_save_load_round_trip_with_inferred_signature(trained, data, tmp_path):
    x, _ = data
    fittrace.tensorflow.save_model(trained, tmp_path / "m", input_example=x[:3])
    assert (tmp_path / "m" / "data" / "model.keras").is_file()
    mlmodel = models.Model.load(tmp_path / "m")
    assert mlmodel.flavors["keras"]["keras_version"] == keras.__version__
    assert mlmodel.flavors["python_function"]["loader_module"] == "mlflow.keras"
    assert mlmodel.signature.outputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 1]}}
    ]
    expected = trained.predict(x, verbose=0)
    np.testing.assert_array_equal(
        fittrace.tensorflow.load_model(str(tmp_path / "m")).predict(x, verbose=0), expected
    )
    np.testing.assert_array_equal(
        fittrace.keras.load_model(str(tmp_path / "m")).predict(x, verbose=0), expected
    )


def test_pyfunc_keeps_dataframes_as_dataframes(trained, data, tmp_path):
    x, _ = data
    fittrace.tensorflow.save_model(trained, tmp_path / "m")
    frame = pd.DataFrame(x, columns=list("abcd"), index=range(100, 164))
    predicted = fittrace.pyfunc.load_model(str(tmp_path / "m")).predict(frame)
    assert isinstance(predicted, pd.DataFrame)
    assert list(predicted.index) == list(frame.index)
    np.testing.assert_array_equal(predicted.to_numpy(), trained.predict(x, verbose=0))


def test_log_model_into_active_run_and_registry(trained, data):
    x, _ = data
    with fittrace.start_run() as run:
        info = fittrace.tensorflow.log_model(trained, "net", registered_model_name="net")
    assert info.model_uri == f"models:/{info.model_id}"
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/net", "models:/net/1"):
        np.testing.assert_array_equal(
            fittrace.tensorflow.load_model(uri).predict(x, verbose=0),
            trained.predict(x, verbose=0),
        )


def test_loading_refuses_code_outside_safe_mode(data, tmp_path):
    x, _ = data
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0)(inputs))
    fittrace.tensorflow.save_model(model, tmp_path / "m")
    with pytest.raises(ValueError, match="safe_mode"):
        fittrace.tensorflow.load_model(str(tmp_path / "m"))
    trusted = fittrace.tensorflow.load_model(str(tmp_path / "m"), safe_mode=False)
    np.testing.assert_allclose(trusted.predict(x, verbose=0), x * 2.0)


def test_save_errors(trained, tmp_path):
    fittrace.tensorflow.save_model(trained, tmp_path / "m")
    with pytest.raises(ResourceAlreadyExistsError):
        fittrace.tensorflow.save_model(trained, tmp_path / "m")
    with pytest.raises(InvalidParameterError, match="keras.Model"):
        fittrace.tensorflow.save_model(object(), tmp_path / "other")
