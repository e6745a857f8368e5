"""The scikit-learn API of LightGBM: one fit, one run, with the estimator as a lightgbm model."""

from __future__ import annotations

import pickle

import lightgbm as lgb
import numpy as np
import pytest

import fittrace
import fittrace.lightgbm
from fittrace import tags
from integration_tests.plugins.faults import (
    STORE_FAULTS,
    assert_unchanged_with_one_warning,
    break_store,
)


def test_classifier_fit_records_params_eval_metrics_training_metrics_and_model(
    frame, runs, history
):
    X, y = frame
    fittrace.lightgbm.autolog()
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1)
    model.fit(X[:200], y[:200], eval_set=[(X[200:], y[200:])])

    (run,) = runs()
    assert run.data.params["n_estimators"] == "5"
    assert run.data.tags["estimator_name"] == "LGBMClassifier"
    assert "training_accuracy_score" in run.data.metrics
    assert [v for _, v in history(run.info.run_id, "valid_0-binary_logloss")] == pytest.approx(
        model.evals_result_["valid_0"]["binary_logloss"]
    )
    uri = f"runs:/{run.info.run_id}/model"
    loaded = fittrace.lightgbm.load_model(uri)
    assert type(loaded) is lgb.LGBMClassifier
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(loaded)).predict(X), model.predict(X))
    assert {d.name for d in run.inputs.dataset_inputs} == {"train", "valid_0"}


def test_string_labels_and_regressor_reload(frame, runs):
    X, y = frame
    labels = np.where(y == 1, "yes", "no")
    fittrace.lightgbm.autolog()
    clf = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, labels)
    reg = lgb.LGBMRegressor(n_estimators=3, verbose=-1).fit(X, X["a"])

    clf_run, reg_run = runs()
    loaded = fittrace.lightgbm.load_model(f"runs:/{clf_run.info.run_id}/model")
    assert list(loaded.predict(X)) == list(clf.predict(X))
    pyfunc = fittrace.pyfunc.load_model(f"runs:/{reg_run.info.run_id}/model")
    np.testing.assert_allclose(pyfunc.predict(X), reg.predict(X))


def test_a_subclass_fit_without_a_callbacks_parameter_still_trains_and_records(frame, runs):
    X, y = frame

    class Quiet(lgb.LGBMClassifier):
        def fit(self, X, y):
            return super().fit(X, y)

    fittrace.lightgbm.autolog()
    model = Quiet(n_estimators=3, verbose=-1).fit(X, y)
    (run,) = runs()
    assert run.data.params["n_estimators"] == "3"
    assert "training_accuracy_score" in run.data.metrics
    assert model.booster_.num_trees() == 3


def test_with_sklearn_autolog_too_a_fit_is_recorded_once(frame, runs):
    X, y = frame
    fittrace.autolog()
    lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y)
    (run,) = runs()
    assert run.data.tags[tags.AUTOLOGGING] == "lightgbm"


@pytest.mark.parametrize("fault", STORE_FAULTS)
@pytest.mark.parametrize("api", ["train", "cv", "sklearn"])
def test_a_failing_store_changes_no_result_and_warns_once(frame, monkeypatch, api, fault):
    X, y = frame
    data = lgb.Dataset(X, label=y, free_raw_data=False)

    def train():
        if api == "train":
            return lgb.train({"verbose": -1, "seed": 1}, data, 4, valid_sets=[data]).predict(X)
        if api == "cv":
            return lgb.cv({"verbose": -1, "seed": 1}, data, 3, nfold=2)
        return lgb.LGBMClassifier(n_estimators=4, verbose=-1).fit(X, y).predict_proba(X)

    expected = train()
    break_store(monkeypatch, fault)
    fittrace.lightgbm.autolog()
    assert_unchanged_with_one_warning(train, lambda got: np.testing.assert_equal(got, expected))
