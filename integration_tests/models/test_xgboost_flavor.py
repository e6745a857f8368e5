"""The xgboost flavor with real XGBoost: Booster and XGBClassifier through save, log, registry and URIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import fittrace
from fittrace import pyfunc
from fittrace.exceptions import InvalidParameterError
from fittrace.models import Model, infer_signature


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"a": rng.normal(size=80), "b": rng.normal(size=80), "c": rng.integers(0, 5, 80)}
    )
    y = (X["a"] + 0.2 * X["c"] > 0.5).astype(int)
    return X, y


@pytest.fixture
def booster(data):
    X, y = data
    return xgb.train(
        {"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(X, label=y), num_boost_round=5
    )


@pytest.fixture
def classifier(data):
    X, y = data
    return xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)


def test_booster_round_trip(booster, data, tmp_path):
    X, _ = data
    fittrace.xgboost.save_model(booster, tmp_path / "m")
    conf = Model.load(tmp_path / "m").flavors["xgboost"]
    assert conf == {
        "xgb_version": xgb.__version__,
        "data": "model.ubj",
        "model_class": "xgboost.core.Booster",
        "model_format": "ubj",
        "code": None,
    }
    loaded = fittrace.xgboost.load_model(tmp_path / "m")
    assert isinstance(loaded, xgb.Booster)
    expected = booster.predict(xgb.DMatrix(X))
    np.testing.assert_allclose(loaded.predict(xgb.DMatrix(X)), expected)
    np.testing.assert_allclose(pyfunc.load_model(str(tmp_path / "m")).predict(X), expected)


def test_classifier_round_trip_json(classifier, data, tmp_path):
    X, y = data
    fittrace.xgboost.save_model(
        classifier,
        tmp_path / "m",
        model_format="json",
        signature=infer_signature(X, classifier.predict(X)),
    )
    assert (tmp_path / "m" / "model.json").is_file()
    loaded = fittrace.xgboost.load_model(tmp_path / "m")
    assert type(loaded) is xgb.XGBClassifier
    np.testing.assert_allclose(loaded.predict_proba(X), classifier.predict_proba(X))
    model = pyfunc.load_model(str(tmp_path / "m"))
    np.testing.assert_array_equal(model.predict(X.astype({"c": "int32"})), classifier.predict(X))
    requirements = (tmp_path / "m" / "requirements.txt").read_text()
    assert "xgboost==" in requirements and "scikit-learn==" in requirements


def test_log_register_and_every_uri(booster, classifier, data, tmp_path):
    X, _ = data
    with fittrace.start_run() as run:
        fittrace.xgboost.log_model(booster, "booster", registered_model_name="xgb")
        fittrace.xgboost.log_model(
            classifier, "clf", registered_model_name="xgb", input_example=X.head(2)
        )
    client = fittrace.MlflowClient()
    client.set_registered_model_alias("xgb", "champion", 2)
    expected_booster = booster.predict(xgb.DMatrix(X))
    for uri in (
        f"runs:/{run.info.run_id}/booster",
        "models:/xgb/1",
        str(tmp_path / "dl" / "booster"),
    ):
        if uri.startswith(str(tmp_path)):
            client.download_artifacts(run.info.run_id, "booster", str(tmp_path / "dl"))
        np.testing.assert_allclose(
            fittrace.xgboost.load_model(uri).predict(xgb.DMatrix(X)), expected_booster
        )
        np.testing.assert_allclose(pyfunc.load_model(uri).predict(X), expected_booster)
    for uri in (
        f"runs:/{run.info.run_id}/clf",
        "models:/xgb/2",
        "models:/xgb@champion",
        "models:/xgb/latest",
    ):
        assert type(fittrace.xgboost.load_model(uri)) is xgb.XGBClassifier
        np.testing.assert_array_equal(pyfunc.load_model(uri).predict(X), classifier.predict(X))
    # the signature was inferred from the input example and the classifier's predictions
    signature = pyfunc.load_model("models:/xgb/2").metadata.signature
    assert str(signature.inputs) == "['a': double, 'b': double, 'c': long]"


def test_rejects_non_xgboost_model_class(booster, tmp_path):
    fittrace.xgboost.save_model(booster, tmp_path / "m")
    path = tmp_path / "m" / "MLmodel"
    path.write_text(path.read_text().replace("xgboost.core.Booster", "subprocess.Popen"))
    with pytest.raises(InvalidParameterError, match="not an XGBoost model class"):
        fittrace.xgboost.load_model(tmp_path / "m")
    with pytest.raises(InvalidParameterError, match="model_format"):
        fittrace.xgboost.save_model(booster, tmp_path / "x", model_format="pickle")
