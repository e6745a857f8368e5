"""Custom models as MLflow users write them: PythonModel, artifacts, code_paths, models from code."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

import fittrace as mlflow
from fittrace.exceptions import SignatureEnforcementError
from fittrace.models import infer_signature


class Scaler(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        with open(context.artifacts["weights"]) as f:
            self.weights = json.load(f)

    def predict(self, context, model_input, params=None):
        factor = (params or {}).get("factor", 1.0)
        import helper  # from code_paths

        return helper.weighted(model_input, self.weights) * factor


@pytest.fixture
def parts(tmp_path):
    (tmp_path / "weights.json").write_text(json.dumps({"age": 0.5, "oldpeak": 2.0}))
    (tmp_path / "helper.py").write_text(
        "def weighted(frame, weights):\n"
        "    return sum(frame[k] * w for k, w in weights.items()).to_numpy()\n"
    )
    return tmp_path


def test_python_model_with_artifacts_and_code_paths(parts, frame):
    expected = frame["age"] * 0.5 + frame["oldpeak"] * 2.0
    signature = infer_signature(frame, expected.to_numpy(), params={"factor": 1.0})
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(
            name="scaler",
            python_model=Scaler(),
            artifacts={"weights": str(parts / "weights.json")},
            code_paths=[str(parts / "helper.py")],
            signature=signature,
        )
    assert info.flavors["python_function"]["loader_module"] == "mlflow.pyfunc.model"
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/scaler"):
        model = mlflow.pyfunc.load_model(uri)
        np.testing.assert_allclose(model.predict(frame), expected)
        np.testing.assert_allclose(model.predict(frame, params={"factor": 2.0}), expected * 2)
    with pytest.raises(SignatureEnforcementError):
        model.predict(frame.drop(columns="age"))


def test_models_from_code(tmp_path, frame):
    code = tmp_path / "model.py"
    code.write_text(
        textwrap.dedent(
            """
            import fittrace as mlflow

            class Doubler(mlflow.pyfunc.PythonModel):
                def predict(self, context, model_input, params=None):
                    return model_input * 2

            mlflow.models.set_model(Doubler())
            """
        )
    )
    mlflow.pyfunc.save_model(tmp_path / "m", python_model=str(code), input_example=frame)
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    pd.testing.assert_frame_equal(loaded.predict(frame), frame * 2)
    assert loaded.metadata.signature.inputs.input_names() == ["age", "oldpeak"]
    assert not (tmp_path / "m" / "python_model.pkl").exists()
