"""What MLflow's xgboost autologging records or accepts, recorded and accepted here too (issue 15)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xgboost as xgb

import fittrace
import fittrace.xgboost
from fittrace.tracking.client import Client


class WritesIntoItsInput(xgb.XGBRegressor):
    """A user's subclass deriving a feature by writing it into the caller's DataFrame."""

    def fit(self, X, y, **kwargs):
        X["extra"] = X["a"] * 2
        return super().fit(X, y, **kwargs)

    def predict(self, X, **kwargs):
        X["extra"] = X["a"] * 2
        return super().predict(X, **kwargs)


def _artifacts(run_id: str, path: str | None = None) -> set[str]:
    return {f.path for f in Client().list_artifacts(run_id, path)}


def test_signature_and_example_describe_the_data_as_passed(runs) -> None:
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.5, 0.1, 0.9, 0.4]})
    y = pd.Series([1.0, 2.1, 2.9, 4.2])
    fittrace.xgboost.autolog(log_input_examples=True)
    WritesIntoItsInput(n_estimators=3).fit(X, y)
    assert "extra" in X.columns

    (run,) = runs()
    model_dir = Client().download_artifacts(run.info.run_id, "model")
    conf = fittrace.models.Model.load(model_dir)
    assert [c.name for c in conf.signature.inputs.inputs] == ["a", "b"]
    assert list(fittrace.models.load_input_example(model_dir).columns) == ["a", "b"]


def test_sklearn_api_fit_logs_eval_set_metrics_but_no_training_metrics(
    binary_data, runs, history
) -> None:
    """As in MLflow: a fit is measured by its eval sets only (pass the training data as one)."""
    X, y = binary_data
    fittrace.xgboost.autolog()
    plain = xgb.XGBRegressor(n_estimators=4).fit(X, X[:, 0])
    watched = xgb.XGBRegressor(n_estimators=4)
    watched.fit(X, X[:, 0], eval_set=[(X, X[:, 0])], verbose=False)

    first, second = runs()
    assert first.data.metrics == {}
    assert set(second.data.metrics) == {"validation_0-rmse"}
    expected = list(enumerate(watched.evals_result()["validation_0"]["rmse"]))
    assert history(second.info.run_id, "validation_0-rmse") == expected
    assert plain.n_estimators == 4


def test_model_format_xgb_and_importance_types_none_are_accepted(binary_data, runs) -> None:
    X, y = binary_data
    dtrain = xgb.DMatrix(X, label=y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fittrace.xgboost.autolog(model_format="xgb", importance_types=None)
    booster = xgb.train({"objective": "binary:logistic"}, dtrain, num_boost_round=3)

    (run,) = runs()
    assert "model/model.xgb" in _artifacts(run.info.run_id, "model")
    assert {"feature_importance_weight.json", "feature_importance_gain.json"} <= _artifacts(
        run.info.run_id
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # xgboost's own note on the file name
        reloaded = fittrace.xgboost.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(reloaded.predict(dtrain), booster.predict(dtrain), rtol=1e-6)


def test_eval_sets_are_run_inputs_with_context_eval(binary_data, runs) -> None:
    X, y = binary_data
    dtrain, dvalid = xgb.DMatrix(X[:180], label=y[:180]), xgb.DMatrix(X[180:], label=y[180:])
    fittrace.xgboost.autolog()
    xgb.train({}, dtrain, num_boost_round=2, evals=[(dtrain, "train"), (dvalid, "valid")])
    model = xgb.XGBClassifier(n_estimators=2)
    model.fit(X[:180], y[:180], eval_set=[(X[180:], y[180:])], verbose=False)

    booster_run, estimator_run = runs()
    expected = (
        # the training DMatrix, also passed as an eval set, is recorded in both roles
        (booster_run, [("train", "train"), ("train", "eval"), ("valid", "eval")]),
        (estimator_run, [("train", "train"), ("validation_0", "eval")]),
    )
    for run, inputs in expected:
        assert [(d.name, d.context) for d in run.inputs.dataset_inputs] == inputs


def test_importance_charts_can_be_turned_off(binary_data, runs) -> None:
    X, y = binary_data
    fittrace.xgboost.autolog(log_plots=False)
    xgb.train({}, xgb.DMatrix(X, label=y), num_boost_round=2)
    (run,) = runs()
    names = _artifacts(run.info.run_id)
    assert "feature_importance_weight.json" in names
    assert not any(name.endswith(".png") for name in names)
