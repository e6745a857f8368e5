"""Distributed xgboost on a local Dask cluster: the client records, the workers do not."""

from __future__ import annotations

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")


import fittrace.xgboost  # noqa: E402
from fittrace.tracking.client import Client  # noqa: E402


@pytest.fixture(scope="module")
def dask_client():
    """Two in-process workers: their threads share this process and its patches, so a worker that recorded would show."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def _arrays(binary_data):
    X, y = binary_data
    return da.from_array(X, chunks=60), da.from_array(y, chunks=60)


def test_dask_estimator_records_once_on_the_client(binary_data, dask_client, runs, history) -> None:
    from xgboost import dask as dxgb

    dX, dy = _arrays(binary_data)
    fittrace.xgboost.autolog()
    model = dxgb.DaskXGBClassifier(n_estimators=6, max_depth=2, eval_metric="logloss")
    model.client = dask_client
    model.fit(dX, dy, eval_set=[(dX, dy)], verbose=False)

    (run,) = runs()
    assert run.data.params["n_estimators"] == "6"
    expected = model.evals_result()["validation_0"]["logloss"]
    assert [v for _, v in history(run.info.run_id, "validation_0-logloss")] == pytest.approx(
        expected
    )
    reloaded = fittrace.xgboost.load_model(f"runs:/{run.info.run_id}/model")
    X = binary_data[0]
    np.testing.assert_allclose(
        reloaded.get_booster().inplace_predict(X), model.get_booster().inplace_predict(X), rtol=1e-6
    )


def test_dask_train_records_history_and_booster_on_the_client(
    binary_data, dask_client, runs, history
) -> None:
    from xgboost import dask as dxgb

    dX, dy = _arrays(binary_data)
    fittrace.xgboost.autolog()
    dtrain = dxgb.DaskDMatrix(dask_client, dX, dy)
    output = dxgb.train(
        dask_client,
        {"objective": "binary:logistic"},
        dtrain,
        4,
        evals=[(dtrain, "train")],
        verbose_eval=False,
    )

    (run,) = runs()
    assert run.data.params["num_boost_round"] == "4"
    assert [v for _, v in history(run.info.run_id, "train-logloss")] == pytest.approx(
        output["history"]["train"]["logloss"]
    )
    booster = fittrace.xgboost.load_model(f"runs:/{run.info.run_id}/model")
    X = binary_data[0]
    np.testing.assert_allclose(
        booster.inplace_predict(X), output["booster"].inplace_predict(X), rtol=1e-6
    )
    assert len(Client().list_artifacts(run.info.run_id)) >= 3
