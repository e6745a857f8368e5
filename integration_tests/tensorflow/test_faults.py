"""Fault injection with Keras in the loop: fittrace failing never stops or changes training."""

from __future__ import annotations

import json

import pytest

import fittrace
from fittrace.autologging import AutologgingWarning
from fittrace.exceptions import AutologgingError
from fittrace.tensorflow import _callback, _params
from fittrace.tracking.client import Client

keras = pytest.importorskip("keras")


class EpochCounter(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)


@pytest.fixture
def production(monkeypatch):
    """Errors become warnings, as for users (the suite otherwise runs with FITTRACE_TESTING=1)."""
    monkeypatch.delenv("FITTRACE_TESTING")


def test_store_failing_during_epochs_leaves_training_intact(
    model, data, runs, monkeypatch, production
):
    original = Client.log_batch

    def failing(self, run_id, metrics=(), params=(), tags=()):
        if metrics:
            raise OSError("disk full")
        return original(self, run_id, metrics=metrics, params=params, tags=tags)

    monkeypatch.setattr(Client, "log_batch", failing)
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    counter = EpochCounter()
    with pytest.warns(AutologgingWarning, match="disk full"):
        result = model.fit(x, y, epochs=3, verbose=0, callbacks=[counter])
    assert counter.epochs == [0, 1, 2]
    assert len(result.history["loss"]) == 3
    (run,) = runs()
    assert run.info.status == "FINISHED"
    assert run.data.params["epochs"] == "3"
    assert "disk full" in run.data.tags["fittrace.autologging.errors"]


def test_callback_hook_error_does_not_stop_training(model, data, runs, monkeypatch, production):
    def broken(logs):
        raise RuntimeError("bug in fittrace")

    monkeypatch.setattr(_callback, "scalar_logs", broken)
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    counter = EpochCounter()
    with pytest.warns(AutologgingWarning, match="bug in fittrace"):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[counter])
    assert counter.epochs == [0, 1, 2]
    (run,) = runs()
    assert "callback" in run.data.tags["fittrace.autologging.errors"]


def test_callback_hook_error_raises_in_testing_mode(model, data, monkeypatch):
    def broken(logs):
        raise RuntimeError("bug in fittrace")

    monkeypatch.setattr(_callback, "scalar_logs", broken)
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    with pytest.raises(AutologgingError, match="bug in fittrace"):
        model.fit(x, y, epochs=1, verbose=0)


def test_failing_params_still_leave_metrics(model, data, runs, monkeypatch, production):
    def broken(optimizer):
        raise KeyError("no config")

    monkeypatch.setattr(_params, "optimizer_params", broken)
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    with pytest.warns(AutologgingWarning):
        result = model.fit(x, y, epochs=2, verbose=0)
    (run,) = runs()
    assert run.data.metrics["loss"] == result.history["loss"][-1]
    assert "params" in run.data.tags["fittrace.autologging.errors"]


def test_keras_error_reaches_caller_unchanged_and_run_fails(model, data, runs):
    fittrace.tensorflow.autolog()
    x, y = data
    with pytest.raises(ValueError) as raised:
        model.fit(x[:, :3], y, epochs=1, verbose=0)  # the model expects 4 features
    assert not isinstance(raised.value, AutologgingError)
    (run,) = runs()
    assert run.info.status == "FAILED"


@pytest.mark.parametrize(
    ("task", "records"),
    [
        ({"type": "worker", "index": 1}, False),
        ({"type": "worker", "index": 0}, True),
        ({"type": "evaluator", "index": 0}, False),
        ({"type": "chief", "index": 0}, True),
    ],
)
def test_only_the_chief_records(data, runs, monkeypatch, task, records, make_model):
    cluster = {"worker": ["host-a:2222", "host-b:2222"]}
    if task["type"] == "chief":
        cluster["chief"] = ["host-c:2222"]
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert len(runs()) == (1 if records else 0)


def test_disabled_autolog_records_nothing(model, data, runs):
    fittrace.tensorflow.autolog()
    fittrace.tensorflow.autolog(disable=True)
    x, y = data
    model.fit(x, y, epochs=1, verbose=0)
    assert runs() == []


@pytest.mark.parametrize(("rank", "records"), [(1, False), (0, True)])
def test_only_rank_zero_records_under_torch_distributed(
    data, runs, monkeypatch, make_model, rank, records
):
    import sys
    import types

    distributed = types.SimpleNamespace(
        is_available=lambda: True, is_initialized=lambda: True, get_rank=lambda: rank
    )
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(distributed=distributed))
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    make_model().fit(x, y, epochs=1, verbose=0)
    assert len(runs()) == (1 if records else 0)
