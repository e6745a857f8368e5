"""``lightgbm.train`` and ``lightgbm.cv`` as a user sees them recorded."""

from __future__ import annotations

import json
import pickle

import lightgbm as lgb
import numpy as np
import pytest

import fittrace
import fittrace.lightgbm
from fittrace import tags
from fittrace.tracking.client import Client

PARAMS = {"objective": "binary", "num_leaves": 4, "verbose": -1, "seed": 1}


def _read_json(run_id, path):
    with open(Client().download_artifacts(run_id, path)) as f:
        return json.load(f)


def _sets(frame):
    X, y = frame
    return lgb.Dataset(X[:200], label=y[:200]), lgb.Dataset(X[200:], label=y[200:]), X


def test_train_records_params_metric_history_importance_and_datasets(frame, runs, history):
    dtrain, dvalid, X = _sets(frame)
    fittrace.lightgbm.autolog()
    callbacks = [lgb.log_evaluation(0)]
    result: dict = {}
    booster = lgb.train(
        PARAMS,
        dtrain,
        num_boost_round=6,
        valid_sets=[dvalid],
        valid_names=["valid"],
        callbacks=callbacks + [lgb.record_evaluation(result)],
    )

    (run,) = runs()
    assert run.data.params["num_leaves"] == "4"
    assert run.data.params["num_boost_round"] == "6"
    assert run.data.tags[tags.AUTOLOGGING] == "lightgbm"
    assert history(run.info.run_id, "valid-binary_logloss") == list(
        enumerate(pytest.approx(v) for v in result["valid"]["binary_logloss"])
    )
    assert "best_iteration" not in run.data.metrics
    assert len(callbacks) == 1
    gain, split = (
        _read_json(run.info.run_id, f"feature_importance_{k}.json") for k in ("gain", "split")
    )
    names = booster.feature_name()
    assert gain == dict(zip(names, booster.feature_importance("gain").tolist(), strict=True))
    assert split == dict(zip(names, booster.feature_importance("split").tolist(), strict=True))
    inputs = {d.name: d.context for d in run.inputs.dataset_inputs}
    assert inputs == {"train": "train", "valid": "eval"}


def test_train_model_is_lightgbm_text_with_signature_and_reloads(frame, runs):
    dtrain, _, X = _sets(frame)
    fittrace.lightgbm.autolog(log_input_examples=True)
    booster = lgb.train(PARAMS, dtrain, num_boost_round=4)

    (run,) = runs()
    uri = f"runs:/{run.info.run_id}/model"
    info = fittrace.models.get_model_info(uri)
    assert [c["name"] for c in info.signature.inputs.to_dict()] == ["a", "b", "c", "d"]
    assert info.flavors["lightgbm"]["model_format"] == "text"
    loaded = fittrace.lightgbm.load_model(uri)
    np.testing.assert_allclose(loaded.predict(X), booster.predict(X))
    pyfunc = fittrace.pyfunc.load_model(uri)
    np.testing.assert_allclose(pyfunc.predict(X), booster.predict(X))
    np.testing.assert_allclose(pickle.loads(pickle.dumps(loaded)).predict(X), booster.predict(X))


def test_early_stopping_logs_best_and_stopped_iteration(frame, runs, history):
    X, _ = frame
    noise = np.random.default_rng(9).integers(0, 2, size=len(X))
    dtrain = lgb.Dataset(X[:200], label=noise[:200])
    dvalid = lgb.Dataset(X[200:], label=noise[200:])
    fittrace.lightgbm.autolog()
    booster = lgb.train(
        PARAMS,
        dtrain,
        num_boost_round=200,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(3, verbose=False)],
    )

    (run,) = runs()
    stopped = booster.best_iteration + 3
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    assert run.data.metrics["stopped_iteration"] == stopped
    steps = history(run.info.run_id, "valid_0-binary_logloss")
    assert steps[-1] == (stopped, pytest.approx(steps[booster.best_iteration - 1][1]))
    assert run.data.metrics["valid_0-binary_logloss"] == pytest.approx(
        booster.best_score["valid_0"]["binary_logloss"]
    )


def test_cv_logs_mean_and_stdv_per_iteration(frame, runs, history):
    X, y = frame
    fittrace.lightgbm.autolog()
    result = lgb.cv(PARAMS, lgb.Dataset(X, label=y), num_boost_round=5, nfold=3, seed=2)

    (run,) = runs()
    assert run.data.params["nfold"] == "3"
    means = history(run.info.run_id, "valid-binary_logloss-mean")
    assert [v for _, v in means] == pytest.approx(result["valid binary_logloss-mean"])
    stdvs = history(run.info.run_id, "valid-binary_logloss-stdv")
    assert [v for _, v in stdvs] == pytest.approx(result["valid binary_logloss-stdv"])
    assert [s for s, _ in means] == list(range(5))


def test_failing_training_ends_the_run_failed_with_iterations_so_far(frame, runs, history):
    dtrain, dvalid, _ = _sets(frame)

    def explode(env):
        if env.iteration == 2:
            raise RuntimeError("out of memory")

    fittrace.lightgbm.autolog()
    with pytest.raises(RuntimeError, match="out of memory"):
        lgb.train(PARAMS, dtrain, 10, valid_sets=[dvalid], callbacks=[explode])
    (run,) = runs()
    assert run.info.status == "FAILED"
    # the failing callback (order 0) runs before the recorder in iteration 2
    assert [s for s, _ in history(run.info.run_id, "valid_0-binary_logloss")] == [0, 1]


def test_the_recorder_callback_pickles_and_writes_nowhere_after(frame):
    from fittrace.lightgbm.autologger import MetricsRecorder

    written = []
    recorder = MetricsRecorder(written.append, None)
    dtrain, dvalid, _ = _sets(frame)
    lgb.train(PARAMS, dtrain, 3, valid_sets=[dvalid], callbacks=[recorder])
    recorder.flush()
    copy = pickle.loads(pickle.dumps(recorder))
    assert copy.history == recorder.history and len(written) == 1
    copy.flush()
    assert len(written) == 1
