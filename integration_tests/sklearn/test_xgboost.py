"""XGBoost's scikit-learn classes with scikit-learn autologging on: one fit is one run, metrics still work."""

from __future__ import annotations

import pytest
import sklearn.metrics

import fittrace
import fittrace.sklearn
from fittrace.autologging import registry

xgboost = pytest.importorskip("xgboost")


@pytest.mark.parametrize("order", ["sklearn_first", "xgboost_first"])
def test_both_integrations_on_record_one_run_with_post_training_metrics(runs, binary_data, order):
    import fittrace.xgboost

    X, y = binary_data
    enable = [
        lambda: fittrace.sklearn.autolog(log_models=False),
        lambda: fittrace.xgboost.autolog(log_models=False),
    ]
    for turn_on in enable if order == "sklearn_first" else enable[::-1]:
        turn_on()
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    y_pred = model.predict(X)
    accuracy = sklearn.metrics.accuracy_score(y, y_pred)

    (run,) = runs()
    assert run.data.tags["fittrace.autologging"] == "xgboost"
    assert run.data.metrics == {"accuracy_score_X": pytest.approx(accuracy)}


def test_sklearn_alone_records_xgboost_estimators(runs, binary_data, monkeypatch):
    X, y = binary_data
    registry.unregister("xgboost")
    monkeypatch.setattr(registry, "_discovered", True)  # keep the xgboost integration out
    fittrace.sklearn.autolog(log_models=False)
    model = xgboost.XGBRegressor(n_estimators=5, max_depth=2).fit(X, y)
    (run,) = runs()
    assert run.data.tags["fittrace.autologging"] == "sklearn"
    assert run.data.params["n_estimators"] == "5"
    assert run.data.metrics["training_r2_score"] == pytest.approx(
        sklearn.metrics.r2_score(y, model.predict(X))
    )
