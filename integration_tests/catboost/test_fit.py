"""CatBoost fits as a user sees them recorded: params, per-iteration metrics, importance, cbm model."""

from __future__ import annotations

import json
import pickle

import catboost
import numpy as np
import pandas as pd
import pytest

import fittrace
import fittrace.catboost
from fittrace.tracking.client import Client
from integration_tests.plugins.faults import (
    STORE_FAULTS,
    assert_unchanged_with_one_warning,
    break_store,
)

OPTIONS = {
    "iterations": 8,
    "depth": 3,
    "random_seed": 0,
    "verbose": False,
    "allow_writing_files": False,
}


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(6)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["f0", "f1", "f2"])
    y = (X["f0"] + 0.6 * rng.normal(size=200) > 0).astype(int).to_numpy()
    return X, y


def _json(run_id: str, path: str):
    with open(Client().download_artifacts(run_id, path)) as f:
        return json.load(f)


def test_classifier_records_params_metrics_best_iteration_importance_and_model(data, runs, history):
    X, y = data
    fittrace.catboost.autolog()
    model = catboost.CatBoostClassifier(**OPTIONS, learning_rate=0.2)
    model.fit(X[:150], y[:150], eval_set=(X[150:], y[150:]))

    (run,) = runs()
    assert run.data.params["learning_rate"] == "0.2"  # as given
    assert run.data.params["loss_function"] == "Logloss"  # as resolved
    assert _json(run.info.run_id, "all_params.json")["depth"] == 3
    evals = model.get_evals_result()
    assert [v for _, v in history(run.info.run_id, "validation-Logloss")] == pytest.approx(
        evals["validation"]["Logloss"]
    )
    assert [s for s, _ in history(run.info.run_id, "learn-Logloss")] == list(range(8))
    assert run.data.metrics["best_iteration"] == model.get_best_iteration()
    importance = _json(run.info.run_id, "feature_importance.json")
    assert importance == dict(zip(X.columns, model.get_feature_importance().tolist(), strict=True))
    uri = f"runs:/{run.info.run_id}/model"
    info = fittrace.models.get_model_info(uri)
    assert info.flavors["catboost"]["save_format"] == "cbm"
    assert [c["name"] for c in info.signature.inputs.to_dict()] == ["f0", "f1", "f2"]
    loaded = fittrace.catboost.load_model(uri)
    assert type(loaded) is catboost.CatBoostClassifier
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_allclose(pickle.loads(pickle.dumps(loaded)).predict(X), model.predict(X))
    np.testing.assert_allclose(fittrace.pyfunc.load_model(uri).predict(X), model.predict(X))
    assert {d.name for d in run.inputs.dataset_inputs} == {"train", "validation_0"}


def test_regressor_on_a_pool_records_without_signature(data, runs):
    X, _ = data
    fittrace.catboost.autolog()
    pool = catboost.Pool(X, label=X["f0"] * 2)
    model = catboost.CatBoostRegressor(**OPTIONS).fit(pool)

    (run,) = runs()
    assert run.data.params["loss_function"] == "RMSE"
    info = fittrace.models.get_model_info(f"runs:/{run.info.run_id}/model")
    assert info.signature is None
    loaded = fittrace.catboost.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("fault", STORE_FAULTS)
def test_a_failing_store_changes_no_fit_and_warns_once(data, monkeypatch, fault):
    X, y = data

    def train():
        model = catboost.CatBoostClassifier(**OPTIONS)
        return model.fit(X[:150], y[:150], eval_set=(X[150:], y[150:])).predict_proba(X)

    expected = train()
    break_store(monkeypatch, fault)
    fittrace.catboost.autolog()
    assert_unchanged_with_one_warning(
        train, lambda got: np.testing.assert_array_equal(got, expected)
    )
