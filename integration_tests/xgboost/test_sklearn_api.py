"""``fittrace.xgboost.autolog()`` around the scikit-learn API (XGBClassifier & co)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import fittrace
import fittrace.pyfunc
import fittrace.sklearn
import fittrace.xgboost
from fittrace.tracking.client import Client


def test_classifier_records_params_and_eval_metrics(binary_data, runs, history) -> None:
    X, y = binary_data
    fittrace.xgboost.autolog()
    model = xgb.XGBClassifier(
        n_estimators=15, max_depth=2, learning_rate=0.3, eval_metric=["logloss", "auc"]
    )
    model.fit(X[:180], y[:180], eval_set=[(X[:180], y[:180]), (X[180:], y[180:])], verbose=False)

    (run,) = runs()  # fit -> xgboost.train inside records once
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["n_estimators"] == "15"
    assert params["max_depth"] == "2"
    assert params["eval_metric"] == str(["logloss", "auc"])
    assert "num_boost_round" not in params  # the inner xgboost.train call is not recorded
    assert run.data.tags["estimator_name"] == "XGBClassifier"
    evals_result = model.evals_result()
    for data_name in ("validation_0", "validation_1"):
        for metric_name in ("logloss", "auc"):
            expected = list(enumerate(evals_result[data_name][metric_name]))
            assert history(run.info.run_id, f"{data_name}-{metric_name}") == expected
    assert not any(key.startswith("training_") for key in run.data.metrics)  # as in MLflow


def test_classifier_model_reloads_as_its_class(binary_data, runs) -> None:
    X, y = binary_data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    fittrace.xgboost.autolog(log_input_examples=True)
    model = xgb.XGBClassifier(n_estimators=8, max_depth=2).fit(frame.iloc[:180], y[:180])

    (run,) = runs()
    uri = f"runs:/{run.info.run_id}/model"
    reloaded = fittrace.xgboost.load_model(uri)
    assert type(reloaded) is xgb.XGBClassifier
    np.testing.assert_array_equal(
        reloaded.predict_proba(frame.iloc[180:]), model.predict_proba(frame.iloc[180:])
    )
    pyfunc_model = fittrace.pyfunc.load_model(uri)
    assert pyfunc_model.metadata.signature.inputs.input_names() == list(frame.columns)
    np.testing.assert_array_equal(
        pyfunc_model.predict(frame.iloc[180:]), model.predict(frame.iloc[180:])
    )
    example = fittrace.models.load_input_example(
        Client().download_artifacts(run.info.run_id, "model")
    )
    pd.testing.assert_frame_equal(
        example.reset_index(drop=True), frame.iloc[:5].reset_index(drop=True)
    )


@pytest.mark.parametrize("how", ["early_stopping_rounds", "EarlyStopping"])
def test_early_stopping_in_the_sklearn_api(binary_data, runs, history, how) -> None:
    X, y = binary_data
    noise = np.random.default_rng(5).integers(0, 2, size=60)
    options = (
        {"early_stopping_rounds": 3}
        if how == "early_stopping_rounds"
        else {"callbacks": [xgb.callback.EarlyStopping(rounds=3, save_best=True)]}
    )
    fittrace.xgboost.autolog()
    model = xgb.XGBClassifier(n_estimators=300, learning_rate=0.5, **options)
    model.fit(X[:180], y[:180], eval_set=[(X[180:], noise)], verbose=False)

    (run,) = runs()
    values = model.evals_result()["validation_0"]["logloss"]
    assert len(values) < 300
    assert run.data.metrics["best_iteration"] == model.best_iteration
    assert run.data.metrics["stopped_iteration"] == len(values) - 1
    assert run.data.metrics["validation_0-logloss"] == pytest.approx(values[model.best_iteration])
    assert history(run.info.run_id, "validation_0-logloss")[-1] == (
        len(values),
        pytest.approx(values[model.best_iteration]),
    )


def test_regressor_ranker_and_random_forest_record_one_run_each(binary_data, runs) -> None:
    X, y = binary_data
    fittrace.xgboost.autolog()
    regressor = xgb.XGBRegressor(n_estimators=5).fit(X, X[:, 0] * 2.0)
    forest = xgb.XGBRFClassifier(n_estimators=4, max_depth=2).fit(X, y)
    qid = np.repeat(np.arange(24), 10)
    ranker = xgb.XGBRanker(n_estimators=5).fit(X, y, qid=qid)

    recorded = runs()
    assert [r.data.tags["estimator_name"] for r in recorded] == [
        "XGBRegressor",
        "XGBRFClassifier",
        "XGBRanker",
    ]
    assert recorded[1].data.params["n_estimators"] == "4"
    for run, model in zip(recorded, (regressor, forest, ranker), strict=True):
        reloaded = fittrace.xgboost.load_model(f"runs:/{run.info.run_id}/model")
        assert type(reloaded) is type(model)
        np.testing.assert_allclose(reloaded.predict(X), model.predict(X), rtol=1e-6)


def test_importance_of_an_estimator_is_its_boosters(binary_data, runs) -> None:
    X, y = binary_data
    fittrace.xgboost.autolog(importance_types=["cover"])
    model = xgb.XGBClassifier(n_estimators=5).fit(X, y)
    (run,) = runs()
    with open(Client().download_artifacts(run.info.run_id, "feature_importance_cover.json")) as f:
        assert json.load(f) == pytest.approx(model.get_booster().get_score(importance_type="cover"))


def test_with_sklearn_autolog_too_one_fit_is_one_run(binary_data, runs, history) -> None:
    X, y = binary_data
    fittrace.sklearn.autolog()
    fittrace.xgboost.autolog()
    model = xgb.XGBClassifier(n_estimators=6, max_depth=2)
    model.fit(X[:180], y[:180], eval_set=[(X[180:], y[180:])], verbose=False)

    (run,) = runs()
    assert run.data.tags["fittrace.autologging"] == "xgboost"
    assert len(history(run.info.run_id, "validation_0-logloss")) == 6
    assert (
        fittrace.xgboost.load_model(f"runs:/{run.info.run_id}/model").__class__ is xgb.XGBClassifier
    )

    from sklearn.metrics import accuracy_score  # post-training metrics log into the fit's run

    X_test = X[180:]
    accuracy = accuracy_score(y[180:], model.predict(X_test))
    assert Client().get_run(run.info.run_id).data.metrics["accuracy_score_X_test"] == pytest.approx(
        accuracy
    )
    assert len(runs()) == 1


def test_fit_inside_a_pipeline_with_both_autologgers_records_once(binary_data, runs) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = binary_data
    fittrace.sklearn.autolog()
    fittrace.xgboost.autolog()
    make_pipeline(StandardScaler(), xgb.XGBClassifier(n_estimators=3)).fit(X, y)
    (run,) = runs()
    assert run.data.tags["fittrace.autologging"] == "sklearn"
