"""What MLflow's sklearn autologging records or accepts, recorded and accepted here too (issue 15)."""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import permutation_test_score
from sklearn.pipeline import make_pipeline

import fittrace
import fittrace.sklearn
from fittrace.exceptions import InvalidParameterError
from fittrace.tracking.client import Client


class AddsColumnToItsInput(BaseEstimator, TransformerMixin):
    """Writes a new column into the DataFrame it is given, and refuses one that already has it."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        if "added" in X.columns:
            raise ValueError("'added' is already there")
        X["added"] = X["a"] + 1
        return X


def _model_conf(run_id: str) -> fittrace.models.Model:
    return fittrace.models.Model.load(Client().download_artifacts(run_id, "model"))


def _input_example(run_id: str):
    return fittrace.models.load_input_example(Client().download_artifacts(run_id, "model"))


def test_a_fit_that_changes_its_input_records_the_data_as_passed(runs) -> None:
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.5, 0.1, 0.9, 0.4]})
    y = pd.Series([1.0, 2.1, 2.9, 4.2])
    fittrace.sklearn.autolog(log_input_examples=True)
    pipeline = make_pipeline(AddsColumnToItsInput(), LinearRegression()).fit(X, y)
    assert "added" in X.columns  # the fit did change the caller's frame

    (run,) = runs()
    conf = _model_conf(run.info.run_id)
    assert [c.name for c in conf.signature.inputs.inputs] == ["a", "b"]
    example = _input_example(run.info.run_id)
    assert list(example.columns) == ["a", "b"]
    # every metric, the score too, although each evaluation call writes into its frame again
    assert {"training_r2_score", "training_root_mean_squared_error", "training_score"} <= set(
        run.data.metrics
    )
    reloaded = fittrace.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    fresh = X[["a", "b"]].copy()
    np.testing.assert_allclose(reloaded.predict(fresh), pipeline.predict(X[["a", "b"]].copy()))


def test_the_model_is_logged_when_training_metrics_fail(runs, binary_data, monkeypatch) -> None:
    from fittrace.sklearn import _metrics

    def broken(*args, **kwargs):
        raise RuntimeError("metrics broke")

    monkeypatch.delenv("FITTRACE_TESTING")  # the user's view: a warning, not an error
    monkeypatch.setattr(_metrics, "training_metrics", broken)
    X, y = binary_data
    fittrace.sklearn.autolog()
    with pytest.warns(UserWarning, match="metrics broke"):
        model = LogisticRegression().fit(X, y)

    (run,) = runs()
    assert run.info.status == "FINISHED"
    assert run.data.params["C"] == "1.0" and run.data.metrics == {}
    assert "metrics broke" in run.data.tags["fittrace.autologging.errors"]
    artifacts = {f.path for f in Client().list_artifacts(run.info.run_id)}
    assert {"model", "estimator.html"} <= artifacts
    reloaded = fittrace.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(reloaded.predict(X), model.predict(X))


def test_no_metrics_without_labels_and_none_inside_permutation_test_score(
    runs, binary_data
) -> None:
    X, y = binary_data
    fittrace.sklearn.autolog()
    unlabelled = KMeans(n_clusters=2, n_init=2, random_state=0).fit(X)
    labelled = KMeans(n_clusters=2, n_init=2, random_state=0).fit(X, y)
    permutation_test_score(LogisticRegression(), X, y, cv=2, n_permutations=2)

    first, second = runs()  # permutation_test_score made no run
    assert first.data.metrics == {}  # nothing to measure a clustering against
    assert "model" in {f.path for f in Client().list_artifacts(first.info.run_id)}
    assert second.data.metrics == {"training_score": pytest.approx(labelled.score(X, y))}
    assert unlabelled.cluster_centers_.shape == (2, 6)


def test_data_an_autologged_model_predicts_on_is_an_eval_input(runs, binary_data) -> None:
    X, y = binary_data
    X_train, X_test, y_train = X[:200], X[200:], y[:200]
    fittrace.sklearn.autolog()
    model = LogisticRegression().fit(X_train, y_train)
    model.predict(X_test)
    model.predict_proba(X_test)  # the same data again: one input

    (run,) = runs()
    inputs = sorted(run.inputs.dataset_inputs, key=lambda d: d.context)
    assert [(d.name, d.context) for d in inputs] == [("X_test", "eval"), ("X_train", "train")]

    fittrace.sklearn.autolog(log_datasets=False)
    model.predict(X[:10].copy())
    assert len(Client().get_run(run.info.run_id).inputs.dataset_inputs) == 2


def test_every_mlflow_sklearn_autolog_option_is_accepted_silently(runs, binary_data) -> None:
    X, y = binary_data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fittrace.sklearn.autolog(
            log_input_examples=False,
            log_model_signatures=True,
            log_models=True,
            log_datasets=True,
            disable=False,
            exclusive=False,
            disable_for_unsupported_versions=False,
            silent=False,
            max_tuning_runs=5,
            log_post_training_metrics=True,
            serialization_format="cloudpickle",
            registered_model_name=None,
            pos_label=None,
            extra_tags=None,
        )
    LinearRegression().fit(X, y)
    assert len(runs()) == 1


def test_max_tuning_runs_error_says_what_mlflow_says() -> None:
    with pytest.raises(
        InvalidParameterError, match=r"`max_tuning_runs` must be non-negative, instead got -1\."
    ):
        fittrace.sklearn.autolog(max_tuning_runs=-1)


def test_integer_column_names_stay_integers_in_the_signature(runs, regression_data) -> None:
    X, y = regression_data
    frame = pd.DataFrame(X)  # columns 0..4
    fittrace.sklearn.autolog()
    model = LinearRegression().fit(frame, y)

    (run,) = runs()
    names = [c.name for c in _model_conf(run.info.run_id).signature.inputs.inputs]
    assert names == [0, 1, 2, 3, 4]
    loaded = fittrace.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(loaded.predict(frame), model.predict(frame))


def test_metric_info_names_a_scorers_own_variables(runs, binary_data, artifact_text) -> None:
    X, y = binary_data
    X_test, y_test = X[200:], y[200:]
    fittrace.sklearn.autolog()
    model = LogisticRegression().fit(X[:200], y[:200])
    # looked up after autolog(), as a name imported before it is out of reach
    scorer = sklearn.metrics.make_scorer(sklearn.metrics.recall_score, average="micro")
    value = scorer(model, X_test, y_test)

    (run,) = runs()
    assert run.data.metrics["recall_score_X_test"] == pytest.approx(value)
    info = json.loads(artifact_text(run.info.run_id, "metric_info.json"))
    assert info["recall_score_X_test"] == (
        "recall_score(y_true=y_test, y_pred=y_pred, average='micro')"
    )


def test_a_figure_helper_that_cannot_start_costs_only_the_pngs(
    runs, binary_data, monkeypatch, caplog
) -> None:
    from fittrace.autologging import figures

    monkeypatch.setattr(figures, "_worker", None)
    monkeypatch.setattr(figures, "_broken", False)
    monkeypatch.setattr(figures.sys, "executable", "/nonexistent/python")
    X, y = binary_data
    fittrace.sklearn.autolog()
    model = LogisticRegression().fit(X, y)
    LogisticRegression().fit(X, y)

    first, second = runs()
    for run in (first, second):
        names = {f.path for f in Client().list_artifacts(run.info.run_id)}
        assert {"model", "training_roc_curve.json"} <= names
        assert not any(name.endswith(".png") for name in names)
    assert first.data.metrics["training_accuracy_score"] == model.score(X, y)
    assert len([r for r in caplog.records if "helper process" in r.getMessage()]) == 1


def test_a_figure_helper_that_dies_while_idle_is_reported_and_skipped_after(
    runs, binary_data, monkeypatch, caplog
) -> None:
    from fittrace.autologging import figures

    monkeypatch.setattr(figures, "_worker", None)
    monkeypatch.setattr(figures, "_broken", False)
    X, y = binary_data
    fittrace.sklearn.autolog()
    LogisticRegression().fit(X, y)
    fittrace.flush()  # the first run's figures are drawn
    figures._worker.process.kill()
    figures._worker.process.wait(10)
    for _ in range(100):  # the reading thread notices the end
        if figures._worker.gone:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the figure helper's end went unnoticed")
    model = LogisticRegression().fit(X, y)

    first, second = sorted(runs(), key=lambda r: r.info.start_time)
    pngs = [
        {f.path for f in Client().list_artifacts(r.info.run_id) if f.path.endswith(".png")}
        for r in (first, second)
    ]
    assert pngs[0] and not pngs[1]
    assert second.data.metrics["training_accuracy_score"] == model.score(X, y)
    assert len([r for r in caplog.records if "figure helper stopped" in r.getMessage()]) == 1


def test_an_estimator_without_predict_still_has_its_model_logged(runs) -> None:
    from sklearn.cluster import AgglomerativeClustering

    X = np.array([[0.0, 0.1], [0.2, 0.0], [5.0, 5.1], [5.2, 4.9]])
    fittrace.sklearn.autolog(log_model_signatures=True, log_input_examples=True)
    model = AgglomerativeClustering(n_clusters=2).fit(X)

    (run,) = runs()
    conf = _model_conf(run.info.run_id)
    assert conf.signature is None  # nothing to predict, so nothing to describe
    assert "python_function" not in conf.flavors  # and the MLmodel does not promise pyfunc
    reloaded = fittrace.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(reloaded.labels_, model.labels_)
