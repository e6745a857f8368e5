"""MLflow reads models fittrace saved, and fittrace reads models MLflow saved (real mlflow package)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow")
xgb = pytest.importorskip("xgboost")
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fittrace  # noqa: E402
from fittrace import pyfunc  # noqa: E402
from fittrace.models import infer_signature  # noqa: E402

pytestmark = pytest.mark.mlflow_interop


@pytest.fixture(autouse=True)
def _mlflow_may_unpickle(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.integers(30, 80, 50), "oldpeak": rng.normal(1, 0.5, 50)})
    y = pd.Series((X["oldpeak"] > 1).astype(int), name="target")
    return X, y


@pytest.fixture
def sk_model(data):
    X, y = data
    return Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]).fit(X, y)


@pytest.fixture
def booster(data):
    X, y = data
    return xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=y), num_boost_round=3)


@pytest.fixture
def classifier(data):
    X, y = data
    return xgb.XGBClassifier(n_estimators=3).fit(X, y)


def test_signature_encoding_is_mlflows(data):
    X, y = data
    ours = infer_signature(X, y).to_dict()
    theirs = mlflow.models.infer_signature(X, y).to_dict()
    assert ours == theirs
    assert mlflow.models.ModelSignature.from_dict(ours).to_dict() == theirs


@pytest.mark.parametrize("fmt", ["cloudpickle", "skops"])
def test_mlflow_loads_fittrace_sklearn(sk_model, data, tmp_path, fmt):
    X, y = data
    fittrace.sklearn.save_model(
        sk_model,
        tmp_path / "m",
        serialization_format=fmt,
        signature=infer_signature(X, y),
        input_example=X.head(2),
    )
    expected = sk_model.predict(X)
    np.testing.assert_array_equal(
        mlflow.sklearn.load_model(str(tmp_path / "m")).predict(X), expected
    )
    np.testing.assert_array_equal(
        mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(X), expected
    )
    model_info = mlflow.models.get_model_info(str(tmp_path / "m"))
    assert model_info.signature.to_dict() == infer_signature(X, y).to_dict()


@pytest.mark.parametrize("fmt", ["ubj", "json"])
def test_mlflow_loads_fittrace_xgboost(booster, classifier, data, tmp_path, fmt):
    X, _ = data
    fittrace.xgboost.save_model(booster, tmp_path / "b", model_format=fmt)
    fittrace.xgboost.save_model(classifier, tmp_path / "c", model_format=fmt)
    loaded_booster = mlflow.xgboost.load_model(str(tmp_path / "b"))
    np.testing.assert_allclose(
        loaded_booster.predict(xgb.DMatrix(X)), booster.predict(xgb.DMatrix(X))
    )
    np.testing.assert_allclose(
        mlflow.pyfunc.load_model(str(tmp_path / "b")).predict(X), booster.predict(xgb.DMatrix(X))
    )
    loaded_classifier = mlflow.xgboost.load_model(str(tmp_path / "c"))
    assert type(loaded_classifier) is xgb.XGBClassifier
    np.testing.assert_array_equal(loaded_classifier.predict(X), classifier.predict(X))
    np.testing.assert_array_equal(
        mlflow.pyfunc.load_model(str(tmp_path / "c")).predict(X), classifier.predict(X)
    )


@pytest.mark.parametrize("fmt", ["cloudpickle", "skops"])
def test_fittrace_loads_mlflow_sklearn(sk_model, data, tmp_path, fmt):
    X, y = data
    mlflow.sklearn.save_model(
        sk_model,
        str(tmp_path / "m"),
        serialization_format=fmt,
        signature=mlflow.models.infer_signature(X, y),
    )
    expected = sk_model.predict(X)
    np.testing.assert_array_equal(fittrace.sklearn.load_model(tmp_path / "m").predict(X), expected)
    model = pyfunc.load_model(str(tmp_path / "m"))
    np.testing.assert_array_equal(model.predict(X), expected)
    assert model.loader_module == "mlflow.sklearn"
    assert str(model.metadata.get_input_schema()) == "['age': long, 'oldpeak': double]"


def test_fittrace_loads_mlflow_xgboost(booster, classifier, data, tmp_path):
    X, _ = data
    mlflow.xgboost.save_model(booster, str(tmp_path / "b"))
    mlflow.xgboost.save_model(classifier, str(tmp_path / "c"), input_example=X.head(2))
    np.testing.assert_allclose(
        fittrace.xgboost.load_model(tmp_path / "b").predict(xgb.DMatrix(X)),
        booster.predict(xgb.DMatrix(X)),
    )
    np.testing.assert_allclose(
        pyfunc.load_model(str(tmp_path / "b")).predict(X), booster.predict(xgb.DMatrix(X))
    )
    assert type(fittrace.xgboost.load_model(tmp_path / "c")) is xgb.XGBClassifier
    np.testing.assert_array_equal(
        pyfunc.load_model(str(tmp_path / "c")).predict(X), classifier.predict(X)
    )


def test_mlflow_loads_a_logged_and_downloaded_model(sk_model, data, tmp_path):
    X, _ = data
    with fittrace.start_run() as run:
        fittrace.sklearn.log_model(sk_model, "model")
    local = fittrace.MlflowClient().download_artifacts(
        run.info.run_id, "model", str(tmp_path / "dl")
    )
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(local).predict(X), sk_model.predict(X))
    assert mlflow.models.Model.load(local).run_id == run.info.run_id


def test_mlflow_reads_the_model_files_fittrace_writes_as_fittrace_does(sk_model, data, tmp_path):
    X, y = data
    metadata = {
        "owner": "yes",
        "release": "1.10",
        "note": 'it\'s "quoted": #1\nsecond line',
        "label": "naïve ✓",
        "limits": {"ratio": 1e-05, "sizes": [1, 2.5, None, True], "empty": {}},
    }
    fittrace.sklearn.save_model(
        sk_model, tmp_path / "m", signature=infer_signature(X, y), metadata=metadata
    )
    theirs = mlflow.models.Model.load(str(tmp_path / "m"))
    ours = fittrace.models.Model.load(tmp_path / "m")
    assert theirs.metadata == metadata == ours.metadata
    assert theirs.flavors == ours.flavors
    assert theirs.signature.to_dict() == ours.signature.to_dict()
    assert (theirs.model_uuid, theirs.utc_time_created) == (ours.model_uuid, ours.utc_time_created)
    from mlflow.utils.environment import _PythonEnv

    env = _PythonEnv.from_yaml(str(tmp_path / "m" / "python_env.yaml"))
    assert env.dependencies == ["-r requirements.txt"]
    assert env.python == ours.flavors["python_function"]["python_version"]
    with fittrace.start_run() as run:
        info = fittrace.sklearn.log_model(sk_model, "model", metadata=metadata)
    assert info.metadata == metadata  # read back from the save, as the file has it
    logged = fittrace.MlflowClient().download_artifacts(run.info.run_id, "model", str(tmp_path))
    assert mlflow.models.Model.load(logged).metadata == metadata
