"""MLflow's own objects (signature, datasets, Model) work where fittrace takes its own."""

from __future__ import annotations

import json

import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow")
from sklearn.linear_model import LogisticRegression  # noqa: E402

import fittrace  # noqa: E402

pytestmark = pytest.mark.mlflow_interop


@pytest.fixture
def data():
    X = pd.DataFrame({"age": [40, 50, 60, 70, 45, 55], "oldpeak": [0.5, 1.0, 1.5, 2.0, 0.1, 2.5]})
    return X, pd.Series([0, 0, 1, 1, 0, 1], name="target")


def test_log_model_takes_mlflows_signature(data):
    X, y = data
    model = LogisticRegression().fit(X, y)
    signature = mlflow.models.infer_signature(X, model.predict(X))  # the seed's own line
    with fittrace.start_run():
        info = fittrace.sklearn.log_model(model, name="model", signature=signature)
    assert info.signature.to_dict() == signature.to_dict()
    assert fittrace.models.get_model_info(info.model_uri).signature == signature


def test_log_input_takes_mlflows_datasets(data):
    X, y = data
    numpy_ds = mlflow.data.from_numpy(X.to_numpy(), targets=y.to_numpy(), name="train")
    pandas_ds = mlflow.data.from_pandas(X.assign(target=y), targets="target", name="heart")
    with fittrace.start_run() as run:
        fittrace.log_input(numpy_ds, context="training")
        fittrace.log_input(pandas_ds, context="eval")
    inputs = {i.dataset.name: i for i in fittrace.get_run(run.info.run_id).inputs.dataset_inputs}
    for name, ds in (("train", numpy_ds), ("heart", pandas_ds)):
        stored = inputs[name].dataset
        assert stored.digest == ds.digest and stored.source_type == "code"
        assert json.loads(stored.source) == json.loads(ds.source.to_json())
        assert json.loads(stored.schema) == json.loads(ds.to_dict()["schema"])
    assert inputs["heart"].tags[0].value == "eval"


def test_mlflows_model_is_read_through_its_dict(data):
    X, y = data
    theirs = mlflow.models.Model(signature=mlflow.models.infer_signature(X, y))
    theirs.add_flavor("sklearn", pickled_model="model.pkl")
    ours = fittrace.models.Model.coerce(theirs)
    assert ours == theirs and ours.mlflow_version == mlflow.__version__
    info = fittrace.models.ModelInfo.from_model(theirs, "models:/heart/1")
    assert info.mlflow_version == mlflow.__version__ and "sklearn" in info.flavors
    assert info.signature == theirs.signature


def test_install_as_mlflow_is_refused_once_the_real_mlflow_is_imported():
    with pytest.raises(fittrace.FittraceError, match="real mlflow is already imported"):
        fittrace.compat.install_as_mlflow()


class Offset(fittrace.pyfunc.PythonModel):
    def load_context(self, context):
        self.offset = float(open(context.artifacts["offset"]).read())

    def predict(self, context, model_input, params=None):
        return model_input["age"].to_numpy() + self.offset


class TheirOffset(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input["age"].to_numpy() + 1


def test_custom_models_cross_load(data, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    X, _ = data
    (tmp_path / "offset.txt").write_text("10")
    fittrace.pyfunc.save_model(
        tmp_path / "ours", python_model=Offset(), artifacts={"offset": str(tmp_path / "offset.txt")}
    )
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "ours"))
    assert list(loaded.predict(X)) == list(X["age"] + 10)
    mlflow.pyfunc.save_model(
        str(tmp_path / "theirs"), python_model=TheirOffset(), pip_requirements=["pandas"]
    )
    assert list(fittrace.pyfunc.load_model(tmp_path / "theirs").predict(X)) == list(X["age"] + 1)
