"""The metrics callback on its own, driven by real xgboost training (no tracking store)."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from fittrace.xgboost._callback import MetricsCallback, metric_key, metrics_at


def _data(seed: int = 0) -> tuple[xgb.DMatrix, xgb.DMatrix]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(120, 4))
    y = (x[:, 0] + 0.3 * rng.normal(size=120) > 0).astype(int)
    return xgb.DMatrix(x[:80], label=y[:80]), xgb.DMatrix(x[80:], label=y[80:])


@pytest.mark.parametrize(
    ("data", "metric", "expected"),
    [
        ("valid", "ndcg@5", "valid-ndcg_at_5"),
        ("train", "error@0.7", "train-error_at_0.7"),
        ("eval", "my metric(x)", "eval-my metric_x_"),
        ("test", "rmse", "test-rmse"),
    ],
)
def test_metric_key_maps_forbidden_characters(data: str, metric: str, expected: str) -> None:
    assert metric_key(data, metric) == expected


def test_batches_equal_evals_result_with_steps_and_timestamps() -> None:
    dtrain, dvalid = _data()
    batches: list[list] = []
    errors: list[BaseException] = []
    callback = MetricsCallback(batches.append, errors.append, flush_interval_s=0.0, batch_size=7)
    evals_result: dict = {}
    xgb.train(
        {"objective": "binary:logistic", "eval_metric": ["logloss", "error@0.7"]},
        dtrain,
        num_boost_round=6,
        evals=[(dtrain, "train"), (dvalid, "valid")],
        evals_result=evals_result,
        verbose_eval=False,
        callbacks=[callback],
    )
    assert not errors
    assert all(len(batch) <= 7 for batch in batches)
    logged = [m for batch in batches for m in batch]
    for data_name, metrics in evals_result.items():
        for metric_name, values in metrics.items():
            history = [m for m in logged if m.key == metric_key(data_name, metric_name)]
            assert [m.step for m in history] == list(range(6))
            assert [m.value for m in history] == pytest.approx(values)
            assert all(m.timestamp > 0 for m in history)
    assert callback.stopped_iteration == 5


def test_cv_logs_mean_and_std() -> None:
    dtrain, _ = _data()
    batches: list[list] = []
    callback = MetricsCallback(batches.append, pytest.fail)
    result = xgb.cv(
        {"objective": "binary:logistic"},
        dtrain,
        num_boost_round=4,
        nfold=3,
        callbacks=[callback],
        as_pandas=False,
    )
    logged = {(m.key, m.step): m.value for batch in batches for m in batch}
    assert [logged["test-logloss-mean", i] for i in range(4)] == pytest.approx(
        result["test-logloss-mean"]
    )
    assert [logged["train-logloss-std", i] for i in range(4)] == pytest.approx(
        result["train-logloss-std"]
    )
    assert metrics_at(callback.history, 3)["test-logloss-mean"] == pytest.approx(
        result["test-logloss-mean"][3]
    )


def test_failing_sink_reports_once_and_training_is_unchanged() -> None:
    dtrain, dvalid = _data()
    params = {"objective": "binary:logistic", "seed": 3}
    expected = xgb.train(params, dtrain, 5, evals=[(dvalid, "valid")], verbose_eval=False)

    def sink(_batch: list) -> None:
        raise RuntimeError("store down")

    errors: list[BaseException] = []
    callback = MetricsCallback(sink, errors.append, flush_interval_s=0.0)
    booster = xgb.train(
        params, dtrain, 5, evals=[(dvalid, "valid")], verbose_eval=False, callbacks=[callback]
    )
    assert [str(e) for e in errors] == ["store down"]
    np.testing.assert_array_equal(booster.predict(dvalid), expected.predict(dvalid))
