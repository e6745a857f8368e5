"""Keras under autologging, as MLflow users expect it (issue 15): copies of what fittrace adds,
MLflow's names, early stopping that never stopped, checkpoints, options, datasets."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import fittrace  # noqa: E402
import fittrace.keras  # noqa: E402
import fittrace.tensorflow  # noqa: E402
from fittrace.tracking.client import Client  # noqa: E402


@pytest.fixture
def client() -> Client:
    return Client()


class Copier(keras.callbacks.Callback):
    """A user's callback copying the model mid-fit."""

    def __init__(self) -> None:
        super().__init__()
        self.copies: list[keras.Model] = []

    def on_epoch_end(self, epoch, logs=None):
        self.copies += [copy.deepcopy(self.model), pickle.loads(pickle.dumps(self.model))]


def test_the_model_and_fits_callbacks_copy_and_pickle_mid_fit(
    model, data, runs, history, monkeypatch
):
    fittrace.tensorflow.autolog(log_models=False)
    seen: list[list] = []
    original = keras.callbacks.CallbackList.on_train_begin

    def spy(self, logs=None):  # what fit hands its callbacks: fittrace's among them
        seen.append(list(self.callbacks))
        return original(self, logs)

    monkeypatch.setattr(keras.callbacks.CallbackList, "on_train_begin", spy)
    copier = Copier()
    x, y = data
    model.fit(x, y, epochs=1, verbose=0, callbacks=[copier])
    for copied in copier.copies:
        np.testing.assert_allclose(copied.predict(x, verbose=0), model.predict(x, verbose=0))

    [run] = runs()
    [ours] = [c for c in seen[0] if type(c).__module__ == "fittrace.tensorflow._callback"]
    clone = pickle.loads(pickle.dumps(ours))
    clone.writer.log_metrics({"from_a_copy": 1.0}, step=7)  # the copy writes into the same run
    assert history(run.info.run_id, "from_a_copy") == [(7, 1.0)]
    assert copy.deepcopy(ours).writer.run_id == run.info.run_id


def test_mlflow_names_for_optimizer_and_validation(model, data, runs, history):
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.25)
    [run] = runs()
    params = run.data.params
    assert params["opt_learning_rate"] == params["optimizer_learning_rate"] == "0.01"
    assert params["opt_name"] == params["optimizer_name"] == model.optimizer.name
    assert params["optimizer_class"] == "Adam"
    run_id = run.info.run_id
    assert history(run_id, "validation_loss") == history(run_id, "val_loss")
    assert [step for step, _ in history(run_id, "validation_accuracy")] == [0, 1]


def test_mlflow_flush_async_logging_then_reading_the_run(model, data, runs, history):
    from fittrace.tracking.fluent import flush_async_logging  # where MLflow's Keras tests import it

    fittrace.keras.autolog(log_models=False)
    x, y = data
    with fittrace.start_run() as run:
        model.fit(x, y, epochs=2, verbose=0)
        fittrace.flush_async_logging()
    flush_async_logging()
    [logged] = runs()
    assert logged.info.run_id == run.info.run_id
    assert [step for step, _ in history(run.info.run_id, "loss")] == [0, 1]


def test_step_values_under_their_own_name_when_epochs_are_not_logged(
    make_model, data, runs, history
):
    x, y = data  # 64 rows, batch 16: 4 steps per epoch
    fittrace.tensorflow.autolog(log_models=False, log_every_epoch=False, log_every_n_steps=2)
    make_model().fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y))
    fittrace.tensorflow.autolog(log_models=False, log_every_n_steps=2)
    make_model().fit(x, y, batch_size=16, epochs=2, verbose=0)
    steps_only, both = runs()
    assert [s for s, _ in history(steps_only.info.run_id, "loss")] == [2, 4, 6, 8]
    assert history(steps_only.info.run_id, "loss") == history(steps_only.info.run_id, "batch_loss")
    assert [s for s, _ in history(steps_only.info.run_id, "validation_loss")] == [0, 1]
    assert [s for s, _ in history(both.info.run_id, "batch_loss")] == [2, 4, 6, 8]
    assert [s for s, _ in history(both.info.run_id, "loss")] == [0, 1]  # epochs only


def test_early_stopping_that_never_stopped_restores_nothing(model, data, runs):
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    patient = keras.callbacks.EarlyStopping("loss", patience=10, restore_best_weights=True)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[patient])
    [run] = runs()
    assert not {"restored_epoch", "stopped_epoch"} & set(run.data.metrics)
    assert run.data.params["restore_best_weights"] == "True"


def test_checkpoints_every_epoch_and_best_only_are_loadable(make_model, data, runs, client):
    x, y = data
    fittrace.tensorflow.autolog(log_models=False, checkpoint=True, checkpoint_save_best_only=False)
    every = make_model()
    every.fit(x, y, epochs=2, verbose=0, validation_split=0.25)
    fittrace.tensorflow.autolog(
        log_models=False,
        checkpoint=True,
        checkpoint_monitor="loss",
        checkpoint_save_weights_only=True,
    )
    best = make_model()
    best.fit(x, y, epochs=2, verbose=0)
    every_run, best_run = runs()

    folders = [f.path for f in client.list_artifacts(every_run.info.run_id, "checkpoints")]
    assert folders == ["checkpoints/epoch_0", "checkpoints/epoch_1"]
    latest = fittrace.tensorflow.load_checkpoint(run_id=every_run.info.run_id)
    np.testing.assert_allclose(latest.predict(x, verbose=0), every.predict(x, verbose=0))
    first = fittrace.tensorflow.load_checkpoint(run_id=every_run.info.run_id, epoch=0)
    assert not np.allclose(first.predict(x, verbose=0), every.predict(x, verbose=0))

    files = {f.path for f in client.list_artifacts(best_run.info.run_id, "checkpoints")}
    assert files == {
        "checkpoints/latest_checkpoint.weights.h5",
        "checkpoints/latest_checkpoint_metrics.json",
    }
    restored = fittrace.tensorflow.load_checkpoint(make_model(), run_id=best_run.info.run_id)
    np.testing.assert_allclose(restored.predict(x, verbose=0), best.predict(x, verbose=0))


def test_mlflow_options_are_accepted_and_unsupported_ones_warn_once(model, data, runs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fittrace.keras.autolog(
            save_exported_model=True, keras_model_kwargs={"zipped": True}, checkpoint_save_freq=3
        )
    messages = [str(w.message) for w in caught if "fittrace" in str(w.message)]
    assert len(messages) == 1 and "save_exported_model" in messages[0]
    x, y = data
    model.fit(x, y, epochs=1, verbose=0)
    [run] = runs()
    loaded = fittrace.keras.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_tensor_inputs_and_predict_data_are_datasets(model, data, runs):
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.Tensor inputs need the TensorFlow backend")
    fittrace.tensorflow.autolog(log_models=False)
    x, y = data
    model.fit(tf.constant(x), tf.constant(y), epochs=1, verbose=0)
    model.predict(x[:8], verbose=0)
    [run] = runs()
    digests = {d.context: d.digest for d in run.inputs.dataset_inputs}
    assert set(digests) == {"train", "eval"}
    assert digests["train"] != digests["eval"]  # the train tensor, and the rows predicted


def test_tensorboard_logs_when_tensorboard_is_installed_and_opt_out(
    make_model, data, runs, client, history, tmp_path, monkeypatch
):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    seen: list[list] = []
    original = keras.callbacks.CallbackList.on_train_begin

    def spy(self, logs=None):  # what fit hands its callbacks
        seen.append(list(self.callbacks))
        return original(self, logs)

    monkeypatch.setattr(keras.callbacks.CallbackList, "on_train_begin", spy)
    x, y = data
    fittrace.tensorflow.autolog(log_models=False)
    make_model().fit(x, y, epochs=3, verbose=0, validation_split=0.25)
    own = keras.callbacks.TensorBoard(str(tmp_path / "tb"))
    make_model().fit(x, y, epochs=1, verbose=0, callbacks=[own])
    fittrace.tensorflow.autolog(log_models=False, log_tensorboard=False)
    make_model().fit(x, y, epochs=1, verbose=0)
    written, users, off = runs()

    def uploaded(run) -> list[str]:
        return [f.path for f in client.list_artifacts(run.info.run_id, "tensorboard_logs")]

    def scalars(run, folder: str, tag: str) -> list[tuple[int, float]]:
        local = client.download_artifacts(
            run.info.run_id, f"tensorboard_logs/{folder}", str(tmp_path)
        )
        events = EventAccumulator(local)
        events.Reload()
        return [(e.step, e.value) for e in events.Scalars(tag)]

    # fittrace adds no TensorBoard callback to the training: it writes what its own callback saw
    assert not any(isinstance(c, keras.callbacks.TensorBoard) for c in seen[0])
    assert uploaded(written) == ["tensorboard_logs/train", "tensorboard_logs/validation"]
    run_id = written.info.run_id
    for folder, tag, metric in [
        ("train", "epoch_loss", "loss"),
        ("train", "epoch_learning_rate", "learning_rate"),
        ("validation", "epoch_loss", "validation_loss"),
    ]:
        logged, drawn = history(run_id, metric), scalars(written, folder, tag)
        assert [step for step, _ in drawn] == [step for step, _ in logged] == [0, 1, 2]
        assert [v for _, v in drawn] == pytest.approx([v for _, v in logged])  # float32 there
    assert uploaded(users) == ["tensorboard_logs/train"]
    assert (tmp_path / "tb" / "train").is_dir()  # the user's folder stays
    assert uploaded(off) == []


class _FailsInEpoch(keras.callbacks.Callback):
    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("injected")


def test_tensorboard_logs_without_epoch_metrics_and_of_a_fit_that_raises(
    make_model, data, runs, client, tmp_path
):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    x, y = data
    fittrace.tensorflow.autolog(log_models=False, log_every_epoch=False)
    trained = make_model().fit(x, y, epochs=2, verbose=0)
    fittrace.tensorflow.autolog(log_models=False)
    with pytest.raises(RuntimeError, match="injected"):
        make_model().fit(x, y, epochs=3, verbose=0, callbacks=[_FailsInEpoch(2)])
    quiet, failed = runs()

    def scalars(run, tag: str) -> list[tuple[int, float]]:
        local = client.download_artifacts(
            run.info.run_id, "tensorboard_logs/train", str(tmp_path / run.info.run_id)
        )
        events = EventAccumulator(local)
        events.Reload()
        return [(e.step, e.value) for e in events.Scalars(tag)]

    # the epochs are drawn even where they are not logged as metrics (as Keras's callback would)
    assert "loss" not in quiet.data.metrics
    assert [v for _, v in scalars(quiet, "epoch_loss")] == pytest.approx(trained.history["loss"])
    assert [s for s, _ in scalars(quiet, "epoch_learning_rate")] == [0, 1]
    # a fit that raises keeps the epochs it finished
    assert failed.info.status == "FAILED"
    assert [s for s, _ in scalars(failed, "epoch_loss")] == [0, 1]
