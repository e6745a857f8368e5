"""Datasets, generators and PyDatasets: batch size and signature read without consuming the input."""

from __future__ import annotations

import pytest

import fittrace
from fittrace import models
from fittrace.tracking.client import Client

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


class BatchCounter(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def _signature_inputs(run_id: str) -> list:
    return models.Model.load(
        Client().download_artifacts(run_id, "model")
    ).signature.inputs.to_dict()


def test_tf_dataset_is_peeked_once_not_consumed(data, runs, make_model):
    x, y = data
    drawn = [0]

    def rows():
        for i in range(len(x)):
            drawn[0] += 1
            yield x[i], y[i]

    spec = (tf.TensorSpec((4,), tf.float32), tf.TensorSpec((), tf.float32))
    dataset = (
        tf.data.Dataset.from_generator(rows, output_signature=spec).shuffle(8, seed=0).batch(16)
    )
    make_model().fit(dataset, epochs=2, verbose=0)
    bare = drawn[0]
    drawn[0] = 0
    fittrace.tensorflow.autolog()
    make_model().fit(dataset, epochs=2, verbose=0)
    assert bare <= drawn[0] <= bare + 16 + 8  # one batch (and the shuffle buffer) for the signature
    (run,) = runs()
    assert run.data.params["batch_size"] == "16"
    assert _signature_inputs(run.info.run_id) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}
    ]


def test_infinite_repeated_dataset_is_never_materialized(data, runs, make_model):
    # mlflow issue 9600: reading a repeated dataset to the end for the signature
    x, y = data
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, y)).batch(8).map(lambda a, b: (a * 2.0, b)).repeat()
    )
    fittrace.tensorflow.autolog()
    make_model().fit(dataset, epochs=2, steps_per_epoch=3, verbose=0)
    (run,) = runs()
    assert run.data.params["batch_size"] == "8"
    assert run.data.params["steps_per_epoch"] == "3"
    assert _signature_inputs(run.info.run_id)[0]["tensor-spec"]["shape"] == [-1, 4]


def test_unbatched_dataset_has_no_batch_size(data, runs, make_model):
    x, y = data
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).unbatch().batch(4)
    fittrace.tensorflow.autolog(log_models=False)
    make_model().fit(dataset, epochs=1, verbose=0)
    assert runs()[0].data.params["batch_size"] == "4"
    make_model().fit(dataset.unbatch().map(lambda a, b: (a[None, :], b[None])), epochs=1, verbose=0)
    assert runs()[1].data.params["batch_size"] == "None"


def test_python_generator_is_peeked_and_replayed_whole(data, runs, make_model):
    x, y = data

    def batches():
        for start in range(0, len(x), 8):
            yield x[start : start + 8], y[start : start + 8]

    counter = BatchCounter()
    fittrace.tensorflow.autolog()
    model = make_model()
    model.fit(batches(), epochs=1, verbose=0, callbacks=[counter])
    assert counter.batches == 8  # Keras saw every batch, the peeked one included
    (run,) = runs()
    assert run.data.params["batch_size"] == "8"
    assert _signature_inputs(run.info.run_id)[0]["tensor-spec"]["shape"] == [-1, 4]


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, size):
        super().__init__()
        self.x, self.y, self.size = x, y, size

    def __len__(self):
        return len(self.x) // self.size

    def __getitem__(self, i):
        part = slice(i * self.size, (i + 1) * self.size)
        return self.x[part], self.y[part]


def test_py_dataset_batch_size_from_its_first_batch(data, runs, make_model):
    x, y = data
    fittrace.tensorflow.autolog()
    make_model().fit(Batches(x, y, 16), epochs=1, verbose=0)
    (run,) = runs()
    assert run.data.params["batch_size"] == "16"
    assert _signature_inputs(run.info.run_id)[0]["tensor-spec"]["shape"] == [-1, 4]


def test_numpy_training_and_validation_data_are_logged_as_inputs(model, data, runs):
    x, y = data
    fittrace.tensorflow.autolog(log_models=False)
    model.fit(x[:48], y[:48], epochs=1, verbose=0, validation_data=(x[48:], y[48:]))
    (run,) = runs()
    contexts = sorted(d.context for d in run.inputs.dataset_inputs)
    assert contexts == ["eval", "train"]
    digests = {d.context: d.digest for d in run.inputs.dataset_inputs}
    assert digests["eval"] != digests["train"]
