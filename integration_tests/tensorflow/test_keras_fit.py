"""fittrace.tensorflow.autolog() around real Keras fits: runs, params, metric histories, artifacts, models."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import fittrace
from fittrace import models
from fittrace.tracking.client import Client

keras = pytest.importorskip("keras")


class EpochCounter(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []
        self.batches = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def _model_dir(run_id: str) -> str:
    return Client().download_artifacts(run_id, "model")


def test_metric_histories_equal_keras_history_with_validation_steps(model, data, runs, history):
    fittrace.tensorflow.autolog()
    x, y = data
    result = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    (run,) = runs()
    assert run.info.status == "FINISHED"
    assert run.data.tags["fittrace.autologging"] == "tensorflow"
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key, values in result.history.items():
        assert history(run.info.run_id, key) == list(enumerate(values)), key
    learning_rates = history(run.info.run_id, "learning_rate")
    assert [step for step, _ in learning_rates] == [0, 1, 2]
    assert all(math.isclose(v, 0.01, rel_tol=1e-6) for _, v in learning_rates)


def test_params_as_bound_positionally_equal_keyword_call(data, runs, make_model):
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    make_model().fit(x, y, 16, 2, 0, None, 0.25, None, False)
    make_model().fit(
        x=x, y=y, batch_size=16, epochs=2, verbose=0, validation_split=0.25, shuffle=False
    )
    positional, keyword = (r.data.params for r in runs())
    unique = {"optimizer_name", "opt_name"}  # Keras names each optimizer object apart: adam_2
    assert {k: v for k, v in positional.items() if k not in unique} == {
        k: v for k, v in keyword.items() if k not in unique
    }
    expected = {
        "batch_size": "16",
        "epochs": "2",
        "validation_split": "0.25",
        "shuffle": "False",
        "initial_epoch": "0",
        "steps_per_epoch": "None",
        "class_weight": "False",
        "sample_weight": "False",
        "optimizer_class": "Adam",
        "optimizer_learning_rate": "0.01",
        "loss": "binary_crossentropy",
        "metrics": "accuracy",
        "total_params": "25",  # Dense(4): 4*4+4, Dense(1): 4+1
        "trainable_params": "25",
        "non_trainable_params": "0",
    }
    assert {k: positional[k] for k in expected} == expected


def test_class_weight_is_logged_as_presence_and_default_batch_size(model, data, runs):
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    model.fit(x, y, epochs=1, class_weight={0: 1.0, 1: 3.0}, verbose=0)
    (run,) = runs()
    assert run.data.params["class_weight"] == "True"
    assert run.data.params["batch_size"] == "32"  # what Keras uses for arrays without batch_size


def test_learning_rate_schedule_config_and_value_per_epoch(data, runs, history, make_model):
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5)
    model = make_model(optimizer=keras.optimizers.SGD(schedule))
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)  # 4 steps per epoch
    (run,) = runs()
    params = run.data.params
    assert params["optimizer_class"] == "SGD"
    assert params["optimizer_learning_rate"] == "ExponentialDecay"
    assert params["optimizer_learning_rate_initial_learning_rate"] == "0.1"
    assert params["optimizer_learning_rate_decay_steps"] == "4"
    assert params["optimizer_learning_rate_decay_rate"] == "0.5"
    rates = history(run.info.run_id, "learning_rate")
    assert [s for s, _ in rates] == [0, 1]
    assert [round(v, 6) for _, v in rates] == [0.05, 0.025]  # 0.1 * 0.5 ** (steps done / 4)


def test_batch_metrics_every_n_steps(model, data, runs, history):
    fittrace.tensorflow.autolog(log_models=False, log_every_n_steps=2)
    x, y = data
    result = model.fit(x, y, batch_size=16, epochs=2, verbose=0)  # 4 steps per epoch
    (run,) = runs()
    batch_loss = history(run.info.run_id, "batch_loss")
    assert [s for s, _ in batch_loss] == [2, 4, 6, 8]
    # at an epoch's last step the running batch value is the epoch's value
    assert dict(batch_loss)[4] == result.history["loss"][0]
    assert dict(batch_loss)[8] == result.history["loss"][1]
    assert history(run.info.run_id, "loss") == list(enumerate(result.history["loss"]))


def test_evaluate_after_fit_logs_eval_metrics_into_the_fit_run(model, data, runs, history):
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    model.fit(x, y, epochs=2, verbose=0)
    scores = model.evaluate(x, y, verbose=0, return_dict=True)
    (run,) = runs()  # evaluate started no run of its own
    assert run.data.metrics["eval_loss"] == scores["loss"]
    assert run.data.metrics["eval_accuracy"] == scores["accuracy"]
    assert history(run.info.run_id, "eval_loss") == [(2, scores["loss"])]  # after the last epoch


def test_evaluate_without_autologged_fit_or_run_records_nothing(model, data, runs):
    x, y = data
    model.fit(x, y, epochs=1, verbose=0)
    fittrace.tensorflow.autolog()
    model.evaluate(x, y, verbose=0)
    assert runs() == []


@pytest.mark.parametrize("kind", ["list", "tuple", "single", "positional"])
def test_caller_callbacks_unchanged_and_still_called(model, data, runs, history, kind):
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    counter = EpochCounter()
    callbacks = {
        "list": [counter],
        "tuple": (counter,),
        "single": counter,
        "positional": [counter],
    }[kind]
    if kind == "positional":
        model.fit(x, y, 16, 2, 0, callbacks)
    else:
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=callbacks)
    if kind in ("list", "positional"):
        assert callbacks == [counter]
    assert counter.epochs == [0, 1]
    (run,) = runs()
    assert [s for s, _ in history(run.info.run_id, "loss")] == [0, 1]


def test_callback_list_argument_is_not_mutated(model, data, runs):
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    counter = EpochCounter()
    callback_list = keras.callbacks.CallbackList([counter], add_history=True, model=model, epochs=2)
    model.fit(x, y, epochs=2, verbose=0, callbacks=callback_list)
    assert callback_list.callbacks[0] is counter
    assert not any(type(c).__module__.startswith("fittrace") for c in callback_list.callbacks)
    assert counter.epochs == [0, 1]
    (run,) = runs()
    assert "loss" in run.data.metrics


def test_repeated_fits_continue_steps_from_initial_epoch(model, data, runs, history):
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    first = model.fit(x, y, epochs=2, verbose=0)
    second = model.fit(x, y, epochs=4, initial_epoch=2, verbose=0)
    one, two = runs()
    assert history(one.info.run_id, "loss") == list(enumerate(first.history["loss"]))
    assert history(two.info.run_id, "loss") == list(
        zip([2, 3], second.history["loss"], strict=True)
    )
    assert two.data.params["initial_epoch"] == "2"


def test_repeated_fits_in_a_user_run_log_first_into_it_then_as_children(model, data, runs, history):
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    with fittrace.start_run() as parent:
        model.fit(x, y, epochs=2, verbose=0)
        model.fit(x, y, epochs=3, initial_epoch=2, verbose=0)
    parent_run, child = runs()
    assert parent_run.info.run_id == parent.info.run_id
    assert [s for s, _ in history(parent.info.run_id, "loss")] == [0, 1]
    assert child.data.tags["fittrace.parentRunId"] == parent.info.run_id
    assert [s for s, _ in history(child.info.run_id, "loss")] == [2]


def test_artifacts_and_reloaded_model_predict_identically(model, data, runs):
    fittrace.tensorflow.autolog(log_input_examples=True)
    x, y = data
    model.fit(x, y, epochs=2, verbose=0)
    (run,) = runs()
    run_id = run.info.run_id
    paths = {f.path for f in Client().list_artifacts(run_id)}
    assert {"model", "model_summary.txt"} <= paths
    summary = Client().download_artifacts(run_id, "model_summary.txt")
    assert "Trainable params: 25" in Path(summary).read_text()
    expected = model.predict(x, verbose=0)
    reloaded = fittrace.tensorflow.load_model(f"runs:/{run_id}/model")
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), expected)
    np.testing.assert_array_equal(
        fittrace.pyfunc.load_model(f"runs:/{run_id}/model").predict(x), expected
    )
    mlmodel = models.Model.load(_model_dir(run_id))
    assert mlmodel.signature.inputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}
    ]
    example = models.load_input_example(_model_dir(run_id))
    np.testing.assert_array_equal(np.asarray(example), x[:5])


def test_no_input_example_unless_asked_and_no_model_when_disabled(data, runs, make_model):
    fittrace.tensorflow.autolog()
    x, y = data
    make_model().fit(x, y, epochs=1, verbose=0)
    fittrace.tensorflow.autolog(log_models=False)
    make_model().fit(x, y, epochs=1, verbose=0)
    with_model, without = runs()
    assert models.Model.load(_model_dir(with_model.info.run_id)).saved_input_example_info is None
    assert "model" not in {f.path for f in Client().list_artifacts(without.info.run_id)}


def test_registered_model_name_creates_versions(data, runs, make_model):
    fittrace.tensorflow.autolog(registered_model_name="keras-mlp")
    x, y = data
    make_model().fit(x, y, epochs=1, verbose=0)
    second = make_model()
    second.fit(x, y, epochs=1, verbose=0)
    version = Client().get_model_version("keras-mlp", 2)
    assert version.run_id == runs()[1].info.run_id
    np.testing.assert_array_equal(
        fittrace.tensorflow.load_model("models:/keras-mlp/2").predict(x, verbose=0),
        second.predict(x, verbose=0),
    )


def test_dict_inputs_signature_and_pyfunc(data, runs):
    fittrace.tensorflow.autolog()
    x, y = data
    a = keras.Input((3,), name="a")
    b = keras.Input((1,), name="b")
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Concatenate()([a, b]))
    model = keras.Model({"a": a, "b": b}, out)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    inputs = {"a": x[:, :3], "b": x[:, 3:]}
    model.fit(inputs, y, epochs=1, verbose=0)
    (run,) = runs()
    signature = models.Model.load(_model_dir(run.info.run_id)).signature
    assert {spec["name"]: spec["tensor-spec"]["shape"] for spec in signature.inputs.to_dict()} == {
        "a": [-1, 3],
        "b": [-1, 1],
    }
    predicted = fittrace.pyfunc.load_model(f"runs:/{run.info.run_id}/model").predict(inputs)
    np.testing.assert_array_equal(predicted, model.predict(inputs, verbose=0))


def test_keras_alias_is_the_same_integration(model, data, runs):
    fittrace.keras.autolog(log_models=False)
    x, y = data
    model.fit(x, y, epochs=1, verbose=0)
    (run,) = runs()
    assert run.data.tags["fittrace.autologging"] == "tensorflow"
    fittrace.keras.autolog(disable=True)
    model.fit(x, y, epochs=1, verbose=0)
    assert len(runs()) == 1


def test_global_autolog_enables_keras(model, data, runs):
    fittrace.autolog(log_models=False)
    x, y = data
    model.fit(x, y, epochs=1, verbose=0)
    (run,) = runs()
    assert run.data.tags["fittrace.autologging"] == "tensorflow"


class _Flatten(keras.layers.Layer):  # an output whose size Keras knows only once data flows
    def compute_output_spec(self, x):
        return keras.KerasTensor((None, None), dtype=x.dtype)

    def call(self, x):
        return keras.ops.reshape(x, (keras.ops.shape(x)[0], -1))


def _two_outputs() -> keras.Model:
    x = keras.Input((4,))
    hidden = keras.layers.Dense(3)(x)
    outputs = {"score": keras.layers.Dense(1)(hidden), "classes": keras.layers.Dense(2)(hidden)}
    return keras.Model(x, outputs)


def _unknown_width() -> keras.Model:
    x = keras.Input((4,))
    return keras.Model(x, _Flatten()(keras.layers.Dense(2)(x)))


@pytest.mark.parametrize("build, predicts", [(_two_outputs, False), (_unknown_width, True)])
def test_the_output_signature_is_what_predict_returns(build, predicts, data, runs, monkeypatch):
    """Outputs come from Keras's shape inference, without a first ``predict``; where that cannot
    tell a shape, from ``predict``: either way the signature describes what predict returns."""
    from fittrace.tensorflow import _flavor

    predicted = []
    real_predict = _flavor._predict
    monkeypatch.setattr(_flavor, "_predict", lambda m, d: predicted.append(1) or real_predict(m, d))
    fittrace.tensorflow.autolog()
    x, y = data
    model = build()
    model.compile(optimizer="adam", loss="mse")
    targets = (
        {"score": y, "classes": np.stack([y, 1 - y], 1)}
        if isinstance(model.output, dict)
        else np.stack([y, 1 - y], 1)
    )
    model.fit(x, targets, epochs=1, verbose=0)
    (run,) = runs()
    logged = models.Model.load(_model_dir(run.info.run_id)).signature.outputs.to_dict()
    expected = models.infer_signature(x[:5], model.predict(x[:5], verbose=0)).outputs.to_dict()
    assert logged == expected
    assert logged[0]["tensor-spec"]["shape"][0] == -1
    assert bool(predicted) == predicts
