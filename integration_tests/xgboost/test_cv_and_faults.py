"""``xgboost.cv`` recording, and fault injection with xgboost in the loop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xgboost as xgb

import fittrace.xgboost
from fittrace.autologging import AutologgingWarning
from fittrace.autologging import runs as autolog_runs
from fittrace.tracking.client import Client

PARAMS = {"objective": "binary:logistic", "max_depth": 2, "seed": 0}


def test_cv_logs_mean_and_std_per_round_and_the_best_round(binary_data, runs, history) -> None:
    X, y = binary_data
    fittrace.xgboost.autolog()
    result = xgb.cv(
        {**PARAMS, "eval_metric": "auc"},
        xgb.DMatrix(X, label=y),
        num_boost_round=8,
        nfold=3,
        seed=4,
    )

    (run,) = runs()
    assert run.data.params["nfold"] == "3"
    assert run.data.params["num_boost_round"] == "8"
    run_id = run.info.run_id
    for column in result.columns:
        assert history(run_id, column)[:8] == list(
            enumerate(pytest.approx(v) for v in result[column])
        )
    best = int(np.argmax(result["test-auc-mean"]))
    assert run.data.metrics["best_iteration"] == best
    assert run.data.metrics["stopped_iteration"] == 7
    assert history(run_id, "test-auc-mean")[-1] == (8, pytest.approx(result["test-auc-mean"][best]))


def test_cv_with_early_stopping_logs_the_round_it_kept(binary_data, runs, history) -> None:
    X, _ = binary_data
    noise = np.random.default_rng(2).integers(0, 2, size=len(X))
    fittrace.xgboost.autolog()
    result = xgb.cv(
        PARAMS,
        xgb.DMatrix(X, label=noise),
        num_boost_round=200,
        nfold=3,
        early_stopping_rounds=3,
        as_pandas=False,
    )

    (run,) = runs()
    kept = len(result["test-logloss-mean"])
    assert run.data.metrics["best_iteration"] == kept - 1
    assert run.data.metrics["stopped_iteration"] == kept - 1 + 3
    assert run.data.metrics["test-logloss-mean"] == pytest.approx(result["test-logloss-mean"][-1])
    assert [v for _, v in history(run.info.run_id, "test-logloss-std")[:kept]] == pytest.approx(
        result["test-logloss-std"]
    )


class _FailingClient:
    """A Client whose writes of the chosen kind raise, everything else passed through."""

    def __init__(self, client, fail_metrics_only: bool) -> None:
        self._client = client
        self._fail_metrics_only = fail_metrics_only

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        if metrics or not self._fail_metrics_only:
            raise OSError("tracking store unavailable")
        return self._client.log_batch(run_id, metrics=metrics, params=params, tags=tags)

    def __getattr__(self, name):
        return getattr(self._client, name)


@pytest.fixture
def failing_recorder(monkeypatch):
    """Swap the machinery's recorder for one whose client fails its writes (``fail_metrics_only`` picks which)."""
    monkeypatch.delenv("FITTRACE_TESTING")

    def install(fail_metrics_only: bool) -> None:
        class FailingRecorder(autolog_runs.Recorder):
            def client(self):
                return _FailingClient(super().client(), fail_metrics_only)

        monkeypatch.setattr(autolog_runs, "recorder", FailingRecorder())

    return install


@pytest.mark.parametrize("fail_metrics_only", [False, True], ids=["every-write", "metrics-only"])
def test_recorder_failures_leave_training_identical_with_one_warning(
    binary_data, failing_recorder, runs, fail_metrics_only
) -> None:
    X, y = binary_data
    dtrain, dvalid = xgb.DMatrix(X[:180], label=y[:180]), xgb.DMatrix(X[180:], label=y[180:])
    expected_result: dict = {}
    expected = xgb.train(
        PARAMS,
        dtrain,
        6,
        evals=[(dvalid, "valid")],
        evals_result=expected_result,
        verbose_eval=False,
    )

    failing_recorder(fail_metrics_only)
    fittrace.xgboost.autolog()
    callbacks: list = []
    evals_result: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        booster = xgb.train(
            PARAMS,
            dtrain,
            6,
            evals=[(dvalid, "valid")],
            evals_result=evals_result,
            verbose_eval=False,
            callbacks=callbacks,
        )

    np.testing.assert_array_equal(booster.predict(dvalid), expected.predict(dvalid))
    assert evals_result == expected_result
    assert callbacks == []
    assert len([w for w in caught if issubclass(w.category, AutologgingWarning)]) == 1
    (run,) = runs()
    if fail_metrics_only:  # the rest was recorded, and the run says what went wrong
        assert "tracking store unavailable" in run.data.tags["fittrace.autologging.errors"]
        assert run.data.params["num_boost_round"] == "6"
        assert "model" in {f.path for f in Client().list_artifacts(run.info.run_id)}


def test_sklearn_fit_with_a_failing_recorder_is_unchanged(binary_data, failing_recorder) -> None:
    X, y = binary_data
    expected = xgb.XGBClassifier(n_estimators=5, random_state=0).fit(X, y).predict_proba(X)
    failing_recorder(False)
    fittrace.xgboost.autolog()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = xgb.XGBClassifier(n_estimators=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), expected)
    assert len([w for w in caught if issubclass(w.category, AutologgingWarning)]) == 1
