"""``fittrace.xgboost.autolog()`` around ``xgboost.train``, checked as a user would check the run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import fittrace
import fittrace.exceptions
import fittrace.pyfunc
import fittrace.xgboost
from fittrace.tracking.client import Client

PARAMS = {
    "objective": "binary:logistic",
    "max_depth": 3,
    "eta": 0.3,
    "eval_metric": ["logloss", "error@0.6"],
    "seed": 1,
}


def _matrices(X: np.ndarray, y: np.ndarray, **kwargs) -> tuple[xgb.DMatrix, xgb.DMatrix]:
    return xgb.DMatrix(X[:180], label=y[:180], **kwargs), xgb.DMatrix(
        X[180:], label=y[180:], **kwargs
    )


def _read_artifact(run_id: str, path: str) -> str:
    with open(Client().download_artifacts(run_id, path)) as f:
        return f.read()


def test_train_records_params_and_every_eval_metric_history(binary_data, runs, history) -> None:
    dtrain, dvalid = _matrices(*binary_data)
    fittrace.xgboost.autolog()
    evals_result: dict = {}
    xgb.train(
        PARAMS,
        dtrain,
        12,
        evals=[(dtrain, "train"), (dvalid, "valid")],
        evals_result=evals_result,
        verbose_eval=False,
    )

    (run,) = runs()
    assert run.info.status == "FINISHED"
    assert run.data.tags["fittrace.autologging"] == "xgboost"
    params = run.data.params
    assert params["objective"] == "binary:logistic"
    assert params["max_depth"] == "3"
    assert params["eval_metric"] == str(["logloss", "error@0.6"])
    assert params["num_boost_round"] == "12"
    assert params["verbose_eval"] == "False"
    assert params["early_stopping_rounds"] == "None"
    assert not {"dtrain", "evals", "evals_result", "callbacks", "xgb_model"} & set(params)
    for data_name, metrics in evals_result.items():
        for metric_name, values in metrics.items():
            key = f"{data_name}-{metric_name}".replace("@", "_at_")
            assert history(run.info.run_id, key) == list(enumerate(values))
    assert "valid-error_at_0.6" in run.data.metrics
    assert "best_iteration" not in run.data.metrics


def test_callers_callback_list_is_left_unchanged(binary_data, runs) -> None:
    class CountRounds(xgb.callback.TrainingCallback):
        def __init__(self) -> None:
            super().__init__()
            self.rounds = 0

        def after_iteration(self, model, epoch, evals_log) -> bool:
            self.rounds += 1
            return False

    dtrain, dvalid = _matrices(*binary_data)
    counter = CountRounds()
    callbacks = [counter]
    fittrace.xgboost.autolog()
    xgb.train(PARAMS, dtrain, 4, evals=[(dvalid, "valid")], verbose_eval=False, callbacks=callbacks)
    xgb.train(PARAMS, dtrain, 4, evals=[(dvalid, "valid")], verbose_eval=False, callbacks=callbacks)

    assert callbacks == [counter]
    assert counter.rounds == 8
    assert len(runs()) == 2


@pytest.mark.parametrize("how", ["early_stopping_rounds", "EarlyStopping"])
def test_early_stopping_logs_best_and_stopped_iteration(binary_data, runs, history, how) -> None:
    X, y = binary_data
    rng = np.random.default_rng(3)
    dtrain = xgb.DMatrix(X[:180], label=y[:180])
    dvalid = xgb.DMatrix(
        X[180:], label=rng.integers(0, 2, size=60)
    )  # unrelated labels: stops early
    kwargs = (
        {"early_stopping_rounds": 3}
        if how == "early_stopping_rounds"
        else {
            "callbacks": [
                xgb.callback.EarlyStopping(rounds=3, metric_name="logloss", save_best=True)
            ]
        }
    )
    params = {**PARAMS, "eval_metric": ["error", "logloss"]}
    fittrace.xgboost.autolog()
    evals_result: dict = {}
    booster = xgb.train(
        params,
        dtrain,
        200,
        evals=[(dvalid, "valid")],
        evals_result=evals_result,
        verbose_eval=False,
        **kwargs,
    )

    (run,) = runs()
    rounds = len(evals_result["valid"]["logloss"])
    assert rounds < 200
    best = int(booster.attr("best_iteration"))
    assert run.data.metrics["best_iteration"] == best
    assert run.data.metrics["stopped_iteration"] == rounds - 1
    for metric_name, values in evals_result["valid"].items():
        key = f"valid-{metric_name}"
        assert run.data.metrics[key] == pytest.approx(values[best])
        assert history(run.info.run_id, key) == [
            *enumerate(values),
            (rounds, pytest.approx(values[best])),
        ]


def test_feature_importance_is_the_boosters_own(binary_data, runs) -> None:
    dtrain, _ = _matrices(*binary_data, feature_names=["a", "b", "c", "d", "e"])
    fittrace.xgboost.autolog(importance_types=["weight", "total_gain"])  # PNGs by default
    booster = xgb.train(PARAMS, dtrain, 5)

    (run,) = runs()
    paths = {f.path for f in Client().list_artifacts(run.info.run_id)}
    assert {"feature_importance_weight.json", "feature_importance_total_gain.json"} <= paths
    assert {"feature_importance_weight.png", "feature_importance_total_gain.png"} <= paths
    assert "feature_importance_gain.json" not in paths
    for kind in ("weight", "total_gain"):
        logged = json.loads(_read_artifact(run.info.run_id, f"feature_importance_{kind}.json"))
        assert logged == pytest.approx(booster.get_score(importance_type=kind))
        assert set(logged) <= {"a", "b", "c", "d", "e"}
    with open(
        Client().download_artifacts(run.info.run_id, "feature_importance_weight.png"), "rb"
    ) as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_default_importance_types_are_weight_and_gain(binary_data, runs) -> None:
    dtrain, _ = _matrices(*binary_data)
    fittrace.xgboost.autolog()
    xgb.train(PARAMS, dtrain, 3)
    (run,) = runs()
    json_files = {
        f.path for f in Client().list_artifacts(run.info.run_id) if f.path.endswith(".json")
    }
    assert json_files == {"feature_importance_weight.json", "feature_importance_gain.json"}


def test_model_reloads_and_predicts_identically(binary_data, runs) -> None:
    X, y = binary_data
    dtrain, dvalid = _matrices(X, y)
    fittrace.xgboost.autolog()
    booster = xgb.train(PARAMS, dtrain, 6, evals=[(dvalid, "valid")], verbose_eval=False)

    (run,) = runs()
    uri = f"runs:/{run.info.run_id}/model"
    reloaded = fittrace.xgboost.load_model(uri)
    assert isinstance(reloaded, xgb.Booster)
    np.testing.assert_array_equal(reloaded.predict(dvalid), booster.predict(dvalid))
    np.testing.assert_allclose(
        fittrace.pyfunc.load_model(uri).predict(X[180:]), booster.predict(dvalid), rtol=1e-6
    )
    files = {f.path for f in Client().list_artifacts(run.info.run_id, "model")}
    assert "model/model.ubj" in files
    signature = fittrace.pyfunc.load_model(uri).metadata.signature
    assert signature.inputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 5]}}
    ]


def test_signature_and_input_example_carry_feature_names(binary_data, runs) -> None:
    X, y = binary_data
    names = ["age", "height", "weight", "income", "score"]
    frame = pd.DataFrame(X, columns=names)
    dtrain = xgb.DMatrix(frame.iloc[:180], label=y[:180])
    fittrace.xgboost.autolog(log_input_examples=True, model_format="json")
    booster = xgb.train(PARAMS, dtrain, 4)

    (run,) = runs()
    uri = f"runs:/{run.info.run_id}/model"
    model = fittrace.pyfunc.load_model(uri)
    assert model.metadata.signature.inputs.input_names() == names
    assert {f.path for f in Client().list_artifacts(run.info.run_id, "model")} >= {
        "model/model.json"
    }
    mlmodel_dir = Client().download_artifacts(run.info.run_id, "model")
    example = fittrace.models.load_input_example(mlmodel_dir)
    assert list(example.columns) == names
    np.testing.assert_allclose(example.to_numpy(), X[:5])
    expected = booster.predict(xgb.DMatrix(frame.iloc[180:]))
    np.testing.assert_allclose(model.predict(frame.iloc[180:]), expected, rtol=1e-6)


def test_registered_model_name_creates_a_version(binary_data, runs) -> None:
    dtrain, _ = _matrices(*binary_data)
    fittrace.xgboost.autolog(registered_model_name="churn")
    xgb.train(PARAMS, dtrain, 3)
    xgb.train(PARAMS, dtrain, 3)
    versions = sorted(
        Client().search_model_versions("name = 'churn'"), key=lambda v: int(v.version)
    )
    assert [v.version for v in versions] == [1, 2]
    assert [v.run_id for v in versions] == [r.info.run_id for r in runs()]


def test_log_models_false_logs_no_model_and_disable_logs_nothing(binary_data, runs) -> None:
    dtrain, _ = _matrices(*binary_data)
    fittrace.xgboost.autolog(log_models=False)
    xgb.train(PARAMS, dtrain, 3)
    (run,) = runs()
    assert "model" not in {f.path for f in Client().list_artifacts(run.info.run_id)}

    fittrace.xgboost.autolog(disable=True)
    xgb.train(PARAMS, dtrain, 3)
    assert len(runs()) == 1


def test_datasets_are_logged_as_run_inputs(binary_data, runs) -> None:
    dtrain, dvalid = _matrices(*binary_data)
    fittrace.xgboost.autolog()
    xgb.train(PARAMS, dtrain, 3, evals=[(dtrain, "train"), (dvalid, "valid")], verbose_eval=False)
    (run,) = runs()
    inputs = {(d.name, d.context): d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {("train", "train"), ("train", "eval"), ("valid", "eval")}
    assert inputs["train", "eval"].digest == inputs["train", "train"].digest  # as MLflow records
    assert json.loads(inputs["valid", "eval"].profile)["features_shape"] == [60, 5]
    assert inputs["train", "train"].digest != inputs["valid", "eval"].digest


def test_logs_into_an_active_run_and_leaves_it_open(binary_data, runs) -> None:
    dtrain, _ = _matrices(*binary_data)
    fittrace.xgboost.autolog()
    with fittrace.start_run() as active:
        xgb.train(PARAMS, dtrain, 3)
        assert fittrace.active_run().info.run_id == active.info.run_id
    (run,) = runs()
    assert run.info.run_id == active.info.run_id
    assert run.data.params["num_boost_round"] == "3"


def test_continued_training_logs_absolute_rounds(binary_data, runs, history) -> None:
    dtrain, dvalid = _matrices(*binary_data)
    first = xgb.train(PARAMS, dtrain, 4)
    fittrace.xgboost.autolog()
    evals_result: dict = {}
    xgb.train(
        PARAMS,
        dtrain,
        3,
        evals=[(dvalid, "valid")],
        evals_result=evals_result,
        xgb_model=first,
        verbose_eval=False,
    )
    (run,) = runs()
    assert history(run.info.run_id, "valid-logloss") == [
        (4 + i, v) for i, v in enumerate(evals_result["valid"]["logloss"])
    ]


def test_failing_training_ends_the_run_failed_with_rounds_so_far(
    binary_data, runs, history
) -> None:
    class Boom(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log) -> bool:
            if epoch == 2:
                raise RuntimeError("boom at 2")
            return False

    dtrain, dvalid = _matrices(*binary_data)
    fittrace.xgboost.autolog()
    with pytest.raises(RuntimeError, match="boom at 2"):
        xgb.train(
            PARAMS, dtrain, 10, evals=[(dvalid, "valid")], verbose_eval=False, callbacks=[Boom()]
        )
    (run,) = runs()
    assert run.info.status == "FAILED"
    assert [step for step, _ in history(run.info.run_id, "valid-logloss")] == [0, 1, 2]


def test_custom_objective_and_metric_are_logged_by_name(binary_data, runs) -> None:
    def squared_log(predt: np.ndarray, dtrain: xgb.DMatrix) -> tuple[np.ndarray, np.ndarray]:
        y = dtrain.get_label()
        return predt - y, np.ones_like(predt)

    def mean_abs(predt: np.ndarray, dmat: xgb.DMatrix) -> tuple[str, float]:
        return "mean@abs", float(np.mean(np.abs(predt - dmat.get_label())))

    dtrain, dvalid = _matrices(*binary_data)
    fittrace.xgboost.autolog()
    evals_result: dict = {}
    xgb.train(
        {"disable_default_eval_metric": 1},
        dtrain,
        3,
        evals=[(dvalid, "valid")],
        obj=squared_log,
        custom_metric=mean_abs,
        evals_result=evals_result,
        verbose_eval=False,
    )
    (run,) = runs()
    assert run.data.params["obj"].endswith("squared_log")
    assert run.data.params["custom_metric"].endswith("mean_abs")
    assert run.data.metrics["valid-mean_at_abs"] == pytest.approx(
        evals_result["valid"]["mean@abs"][-1]
    )


def test_secondary_rank_of_a_collective_records_nothing(binary_data, runs, monkeypatch) -> None:
    dtrain, _ = _matrices(*binary_data)
    monkeypatch.setattr(xgb.collective, "is_distributed", lambda: True)
    monkeypatch.setattr(xgb.collective, "get_rank", lambda: 1)
    fittrace.xgboost.autolog()
    xgb.train(PARAMS, dtrain, 3)
    assert runs() == []
    monkeypatch.setattr(xgb.collective, "get_rank", lambda: 0)
    xgb.train(PARAMS, dtrain, 3)
    assert len(runs()) == 1


def test_wrong_arguments_reach_the_caller_as_xgboost_raises_them(binary_data, runs) -> None:
    fittrace.xgboost.autolog()
    with pytest.raises(TypeError, match="dtrain"):
        xgb.train(PARAMS)
    assert runs() == []


def test_unknown_options_are_refused_when_autolog_is_called() -> None:
    with pytest.raises(fittrace.exceptions.InvalidParameterError, match="importance_types"):
        fittrace.xgboost.autolog(importance_types=["weight", "splits"])
    with pytest.raises(fittrace.exceptions.InvalidParameterError, match="model_format"):
        fittrace.xgboost.autolog(model_format="pickle")
    with pytest.raises(TypeError, match="log_everything"):
        fittrace.xgboost.autolog(log_everything=True)


def test_top_level_autolog_covers_xgboost(binary_data, runs) -> None:
    dtrain, _ = _matrices(*binary_data)
    fittrace.autolog(log_models=False)
    xgb.train(PARAMS, dtrain, 3)
    (run,) = runs()
    assert run.data.tags["fittrace.autologging"] == "xgboost"
    assert "model" not in {f.path for f in Client().list_artifacts(run.info.run_id)}


def test_linear_booster_logs_the_one_importance_type_it_defines(binary_data, runs) -> None:
    X, y = binary_data
    fittrace.xgboost.autolog()
    booster = xgb.train(
        {"booster": "gblinear", "objective": "multi:softprob", "num_class": 3},
        xgb.DMatrix(X, label=y + X[:, 2].round().clip(0, 1)),
        3,
    )
    (run,) = runs()
    json_files = {
        f.path for f in Client().list_artifacts(run.info.run_id) if f.path.endswith(".json")
    }
    assert json_files == {"feature_importance_weight.json"}
    logged = json.loads(_read_artifact(run.info.run_id, "feature_importance_weight.json"))
    expected = booster.get_score(importance_type="weight")
    assert logged.keys() == expected.keys()
    assert all(logged[k] == pytest.approx(v) for k, v in expected.items())
    reloaded = fittrace.xgboost.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(reloaded.predict(xgb.DMatrix(X)), booster.predict(xgb.DMatrix(X)))
