"""EarlyStopping as Keras ran it: params, stopped and restored epochs, and the restored model."""

from __future__ import annotations

import numpy as np
import pytest

import fittrace

keras = pytest.importorskip("keras")


def _never_improving(restore: bool) -> keras.callbacks.EarlyStopping:
    # min_delta far above any change of the loss: epoch 0 is the best, training stops at epoch 1
    return keras.callbacks.EarlyStopping(
        monitor="loss", patience=1, min_delta=10.0, restore_best_weights=restore
    )


def test_stopped_and_restored_epoch_params_and_restored_metrics(model, data, runs, history):
    fittrace.tensorflow.autolog()
    x, y = data
    result = model.fit(
        x, y, epochs=5, batch_size=16, verbose=0, callbacks=[_never_improving(restore=True)]
    )
    assert result.epoch == [0, 1]
    (run,) = runs()
    params = run.data.params
    assert (
        params["monitor"],
        params["patience"],
        params["min_delta"],
        params["restore_best_weights"],
    ) == (
        "loss",
        "1",
        "10.0",
        "True",
    )
    assert history(run.info.run_id, "stopped_epoch") == [(2, 1.0)]
    assert history(run.info.run_id, "restored_epoch") == [(2, 0.0)]
    # the epoch Keras restored is logged again after the last epoch: latest values describe the logged model
    losses = result.history["loss"]
    assert history(run.info.run_id, "loss") == [(0, losses[0]), (1, losses[1]), (2, losses[0])]
    assert run.data.metrics["accuracy"] == result.history["accuracy"][0]
    logged = fittrace.tensorflow.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(logged.predict(x, verbose=0), model.predict(x, verbose=0))


def test_stopping_without_restoring_logs_histories_unchanged(model, data, runs, history):
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    result = model.fit(
        x, y, epochs=5, batch_size=16, verbose=0, callbacks=[_never_improving(restore=False)]
    )
    (run,) = runs()
    assert history(run.info.run_id, "stopped_epoch") == [(2, 1.0)]
    assert "restored_epoch" not in run.data.metrics
    for key, values in result.history.items():
        assert history(run.info.run_id, key) == list(enumerate(values))


def test_no_early_stop_no_stopped_epoch(model, data, runs):
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    patient = keras.callbacks.EarlyStopping(monitor="loss", patience=10)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[patient])
    (run,) = runs()
    assert "stopped_epoch" not in run.data.metrics
    assert run.data.params["patience"] == "10"
