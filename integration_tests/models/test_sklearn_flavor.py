"""The sklearn flavor with real scikit-learn: save, log, registry and every URI form."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import fittrace
from fittrace import pyfunc
from fittrace.exceptions import InvalidParameterError, SignatureEnforcementError
from fittrace.models import Model, infer_signature


@pytest.fixture
def heart():
    rng = np.random.default_rng(0)
    n = 60
    X = pd.DataFrame(
        {
            "age": rng.integers(30, 80, n),
            "oldpeak": rng.normal(1.0, 0.5, n),
            "thal": rng.choice(["fixed", "normal", "reversible"], n),
        }
    )
    y = pd.Series((X["oldpeak"] + (X["thal"] == "fixed") > 1.2).astype(int), name="target")
    return X, y


@pytest.fixture
def pipeline(heart):
    X, y = heart
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["age", "oldpeak"]), ("cat", OneHotEncoder(), ["thal"])]
    )
    return Pipeline([("pre", pre), ("model", LogisticRegression())]).fit(X, y)


def test_save_load_pipeline(pipeline, heart, tmp_path):
    X, y = heart
    fittrace.sklearn.save_model(
        pipeline, tmp_path / "m", signature=infer_signature(X, y), input_example=X.head(3)
    )
    mlmodel = Model.load(tmp_path / "m")
    conf = mlmodel.flavors["sklearn"]
    assert conf["pickled_model"] == "model.pkl" and conf["serialization_format"] == "cloudpickle"
    import sklearn

    assert conf["sklearn_version"] == sklearn.__version__
    assert mlmodel.flavors["python_function"]["loader_module"] == "mlflow.sklearn"
    requirements = (tmp_path / "m" / "requirements.txt").read_text().splitlines()
    assert f"scikit-learn=={sklearn.__version__}" in requirements
    assert any(r.startswith("cloudpickle==") for r in requirements)
    loaded = fittrace.sklearn.load_model(tmp_path / "m")
    assert isinstance(loaded, Pipeline)
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    np.testing.assert_array_equal(
        pyfunc.load_model(str(tmp_path / "m")).predict(X), pipeline.predict(X)
    )
    example = mlmodel.load_input_example(tmp_path / "m")
    np.testing.assert_array_equal(
        pyfunc.load_model(str(tmp_path / "m")).predict(example), pipeline.predict(X.head(3))
    )


def test_log_register_and_every_uri(pipeline, heart, tmp_path):
    X, y = heart
    with fittrace.start_run() as run:
        info = fittrace.sklearn.log_model(
            sk_model=pipeline,
            artifact_path="models",
            registered_model_name="heart",
            signature=infer_signature(X, y),
        )
    client = fittrace.MlflowClient()
    client.set_registered_model_alias("heart", "champion", info.registered_model_version)
    expected = pipeline.predict(X)
    for uri in (
        f"runs:/{run.info.run_id}/models",
        "models:/heart/1",
        "models:/heart@champion",
        client.download_artifacts(run.info.run_id, "models", str(tmp_path / "dl")),
    ):
        np.testing.assert_array_equal(fittrace.sklearn.load_model(uri).predict(X), expected)
        np.testing.assert_array_equal(pyfunc.load_model(uri).predict(X), expected)
    version = client.get_model_version("heart", 1)
    assert version.run_id == run.info.run_id


def test_pyfunc_enforcement_with_real_pipeline(pipeline, heart, tmp_path):
    X, y = heart
    fittrace.sklearn.save_model(pipeline, tmp_path / "m", signature=infer_signature(X, y))
    model = pyfunc.load_model(str(tmp_path / "m"))
    with pytest.raises(SignatureEnforcementError, match="'thal'"):
        model.predict(X.drop(columns=["thal"]))
    np.testing.assert_array_equal(model.predict(X.astype({"age": "int32"})), pipeline.predict(X))
    with pytest.raises(SignatureEnforcementError, match="'age'.*double"):
        model.predict(X.assign(age=np.where(X.index == 0, np.nan, X["age"])))


def test_predict_proba_as_pyfunc(pipeline, heart, tmp_path):
    X, _ = heart
    fittrace.sklearn.save_model(pipeline, tmp_path / "m", pyfunc_predict_fn="predict_proba")
    np.testing.assert_allclose(
        pyfunc.load_model(str(tmp_path / "m")).predict(X), pipeline.predict_proba(X)
    )


def test_skops_format(tmp_path):
    pytest.importorskip("skops")
    X = np.random.default_rng(1).normal(size=(30, 3))
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    fittrace.sklearn.save_model(model, tmp_path / "m", serialization_format="skops")
    conf = Model.load(tmp_path / "m").flavors["sklearn"]
    assert conf["serialization_format"] == "skops" and (tmp_path / "m" / "model.skops").is_file()
    np.testing.assert_array_equal(
        fittrace.sklearn.load_model(tmp_path / "m").predict(X), model.predict(X)
    )
    assert "skops==" in (tmp_path / "m" / "requirements.txt").read_text()


def test_skops_missing_is_a_clear_error(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(InvalidParameterError, match="pip install skops"):
        fittrace.sklearn.save_model(
            LogisticRegression(), tmp_path / "m", serialization_format="skops"
        )
    assert not (tmp_path / "m").exists()


def test_unknown_format_and_requirements_of_nested_estimators(tmp_path):
    xgb = pytest.importorskip("xgboost")
    with pytest.raises(InvalidParameterError, match="serialization_format"):
        fittrace.sklearn.save_model(
            LogisticRegression(), tmp_path / "x", serialization_format="joblib"
        )
    X = np.random.default_rng(2).normal(size=(40, 3))
    pipe = Pipeline(
        [("scale", StandardScaler()), ("model", xgb.XGBClassifier(n_estimators=3))]
    ).fit(X, X[:, 0] > 0)
    fittrace.sklearn.save_model(pipe, tmp_path / "p")
    assert (
        f"xgboost=={xgb.__version__.split('+')[0]}"
        in (tmp_path / "p" / "requirements.txt").read_text().splitlines()
    )
    np.testing.assert_array_equal(
        pyfunc.load_model(str(tmp_path / "p")).predict(X), pipe.predict(X)
    )


def test_unpickling_from_a_non_local_url_warns(pipeline, heart, tmp_path):
    fsspec = pytest.importorskip("fsspec")
    X, _ = heart
    fittrace.sklearn.save_model(pipeline, tmp_path / "m")
    fs, root = fsspec.core.url_to_fs("memory://models/heart")
    for path in (tmp_path / "m").iterdir():
        fs.pipe_file(f"{root}/{path.name}", path.read_bytes())
    with pytest.warns(UserWarning, match="memory://models/heart.*not on this machine"):
        loaded = fittrace.sklearn.load_model("memory://models/heart")
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    with pytest.warns(UserWarning, match="not on this machine"):
        pyfunc.load_model("memory://models/heart")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fittrace.sklearn.load_model(tmp_path / "m")  # local: no warning
