"""Dataset records where MLflow records them: eval data of post-training metrics, search child
runs, an eval set that is the training set."""

from __future__ import annotations

import pytest

import fittrace
import fittrace.sklearn
import fittrace.xgboost
from fittrace.tracking.client import Client


def _inputs(run_id: str) -> dict[tuple[str, str], object]:
    run = Client().get_run(run_id)
    return {(i.dataset.name, i.tags[0].value): i.dataset for i in run.inputs.dataset_inputs}


def test_predictions_on_eval_data_record_it_as_an_eval_input(binary_data):
    from sklearn.linear_model import LogisticRegression

    X, y = binary_data
    X_train, X_test = X[:200], X[200:]
    fittrace.sklearn.autolog(log_models=False)
    model = LogisticRegression().fit(X_train, y[:200])
    model.predict(X_test)
    model.predict(X_test)
    run_id = fittrace.last_active_run().info.run_id
    inputs = _inputs(run_id)
    assert set(inputs) == {("X_train", "train"), ("X_test", "eval")}
    assert inputs["X_test", "eval"].digest != inputs["X_train", "train"].digest
    # listed in the order they were recorded, as MLflow lists them: the training data first
    recorded = Client().get_run(run_id).inputs.dataset_inputs
    assert [i.tags[0].value for i in recorded] == ["train", "eval"]


def test_every_search_child_run_records_the_training_data(binary_data):
    from sklearn.model_selection import GridSearchCV
    from sklearn.tree import DecisionTreeClassifier

    X, y = binary_data
    fittrace.sklearn.autolog(log_models=False)
    GridSearchCV(DecisionTreeClassifier(), {"max_depth": [1, 2]}, cv=2).fit(X, y)
    parent = fittrace.last_active_run()
    children = Client().search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 2
    expected = _inputs(parent.info.run_id)
    for child in children:
        assert _inputs(child.info.run_id) == expected and ("X", "train") in expected


def test_an_eval_set_that_is_the_training_set_is_recorded(binary_data):
    xgb = pytest.importorskip("xgboost")  # the stores session runs this suite without xgboost

    X, y = binary_data
    fittrace.xgboost.autolog(log_models=False)
    xgb.XGBClassifier(n_estimators=2).fit(X, y, eval_set=[(X, y)], verbose=False)
    inputs = _inputs(fittrace.last_active_run().info.run_id)
    assert set(inputs) == {("train", "train"), ("validation_0", "eval")}
    assert inputs["validation_0", "eval"].digest == inputs["train", "train"].digest
