"""``log_datasets`` for PyTorch: the data each training iterates, as the run's inputs (never a copy)."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

import fittrace
import fittrace.pytorch
from fittrace.autologging import AutologgingWarning
from fittrace.autologging import datasets as shared
from fittrace.exceptions import AutologgingError
from fittrace.pytorch import _datasets

try:
    import lightning.pytorch as pl
except ImportError:  # the plain-loop tests still run
    pl = None

needs_lightning = pytest.mark.skipif(pl is None, reason="lightning is not installed")


def _tensor_schema(*shape: int) -> str:
    """MLflow's schema JSON of one unnamed float32 tensor."""
    return json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [*shape]}}])


TENSORS = {
    "mlflow_tensorspec": {"features": _tensor_schema(-1, 20), "targets": _tensor_schema(-1, 1)}
}


def _inputs(run_id: str) -> dict[str, dict]:
    """The run's inputs by context (each context at most once in these tests), JSON fields parsed."""
    inputs = fittrace.MlflowClient().get_run(run_id).inputs.dataset_inputs
    by_context = {
        d.context: {
            "name": d.name,
            "digest": d.digest,
            "source_type": d.source_type,
            "schema": json.loads(d.schema),
            "profile": json.loads(d.profile),
        }
        for d in inputs
    }
    assert len(by_context) == len(inputs), inputs
    return by_context


def _loop(model, optimizer, train, val=None, epochs=2, max_steps=None):
    """A textbook plain loop; returns its own losses."""
    losses, steps = [], 0
    for _ in range(epochs):
        model.train()
        for xb, yb in train:
            optimizer.zero_grad()
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            steps += 1
            if max_steps is not None and steps >= max_steps:
                return losses
        if val is not None:
            model.eval()
            with torch.no_grad():
                for xb, yb in val:
                    F.mse_loss(model(xb), yb)
    return losses


def _plain_run(regression, **autolog):
    """One plain-loop training over the regression fixture's train/val tensors; the run's id."""
    fittrace.pytorch.autolog(log_models=False, **autolog)
    x, y, xv, yv = regression
    model = nn.Linear(20, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    _loop(model, optimizer, DataLoader(TensorDataset(x, y), batch_size=32),
          DataLoader(TensorDataset(xv, yv), batch_size=16))  # fmt: skip
    run_id = fittrace.active_run().info.run_id
    fittrace.end_run()
    return run_id


# -- the shared describer on torch tensors ----------------------------------------------------------
def test_tensor_digest_reads_values_dtype_and_shape_not_layout():
    x = torch.randn(1000, 20)
    assert shared.digest(x) == shared.digest(x.clone())
    assert shared.digest(x[:, :5]) == shared.digest(x[:, :5].contiguous())  # strided view
    assert shared.digest(x.requires_grad_()) == shared.digest(x.detach())
    changed = x.detach().clone()
    changed[0, 0] += 1
    assert shared.digest(changed) != shared.digest(x)
    assert shared.digest(x.double()) != shared.digest(x)
    assert shared.digest(x.reshape(2000, 10)) != shared.digest(x)
    assert len({shared.digest(x.to(t)) for t in (torch.bfloat16, torch.float16, torch.bool)}) == 3


def test_tensor_digest_cost_is_bounded():
    """A tensor of 10**9 rows (a broadcast view, nothing allocated): only sampled rows are read."""
    huge = torch.zeros(1, 20).expand(10**9, 20)
    assert len(shared.digest(huge)) == 8
    schema = json.loads(shared.schema_text(huge, None))["mlflow_tensorspec"]
    assert schema == {"features": _tensor_schema(-1, 20), "targets": None}
    assert shared._nbytes(huge) == 10**9 * 20 * 4


# -- plain loops ------------------------------------------------------------------------------------
def test_plain_loop_records_train_and_eval_data(regression):
    run_id = _plain_run(regression)
    inputs = _inputs(run_id)
    assert set(inputs) == {"train", "eval"}
    train, val = inputs["train"], inputs["eval"]
    assert train["name"] == val["name"] == "dataset" and train["source_type"] == "code"
    assert train["schema"] == val["schema"] == TENSORS
    assert train["profile"] == {
        "features_shape": [96, 20], "features_size": 1920, "features_nbytes": 7680,
        "targets_shape": [96, 1], "targets_size": 96, "targets_nbytes": 384,
    }  # fmt: skip
    assert val["profile"]["features_shape"] == [32, 20]
    assert train["digest"] == shared.digest(*regression[:2])


def test_same_data_same_digest_changed_data_another(regression, runs):
    first = _inputs(_plain_run(regression))
    again = _inputs(_plain_run(regression))
    x, y, xv, yv = regression
    changed = _inputs(_plain_run((x + 1, y, xv, yv)))
    assert again["train"]["digest"] == first["train"]["digest"]
    assert changed["train"]["digest"] != first["train"]["digest"]
    assert changed["eval"]["digest"] == first["eval"]["digest"]
    assert len(runs()) == 3


def test_each_dataset_once_however_many_loaders_and_epochs(regression, runs):
    fittrace.pytorch.autolog(log_models=False)
    x, y = regression[:2]
    data = TensorDataset(x, y)
    model = nn.Linear(20, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(3):  # a new DataLoader each epoch, over the same dataset
        _loop(model, optimizer, DataLoader(data, batch_size=32, shuffle=True), epochs=1)
    fittrace.end_run()
    [run] = runs()
    inputs = fittrace.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert [(d.name, d.context) for d in inputs] == [("dataset", "train")]


def test_training_data_is_recorded_when_the_run_opens(regression, runs):
    """A loop that stops mid-epoch never ends a pass: the loader it trained on is still recorded."""
    fittrace.pytorch.autolog(log_models=False)
    x, y = regression[:2]
    model = nn.Linear(20, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    _loop(model, optimizer, DataLoader(TensorDataset(x, y), batch_size=8), max_steps=3)
    fittrace.end_run()
    [run] = runs()
    inputs = _inputs(run.info.run_id)
    assert set(inputs) == {"train"} and inputs["train"]["profile"]["features_shape"] == [96, 20]


class Ramp(Dataset):
    """A dataset computing its items: no tensors to describe, only its class and length."""

    def __init__(self, rows: int) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, index: int):
        x = torch.full((20,), index / self.rows)
        return x, x[:1]


class Stream(IterableDataset):
    def __iter__(self):
        for index in range(40):
            x = torch.full((20,), index / 40)
            yield x, x[:1]


def test_other_datasets_are_described_by_class_and_length(runs):
    fittrace.pytorch.autolog(log_models=False)
    model = nn.Linear(20, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    _loop(
        model, optimizer, DataLoader(Ramp(64), batch_size=16), DataLoader(Stream(), batch_size=16)
    )
    fittrace.end_run()
    [run] = runs()
    inputs = _inputs(run.info.run_id)
    train, val = inputs["train"], inputs["eval"]
    assert train["schema"] == {"features": {"type": "dataset", "class": f"{__name__}.Ramp"}}
    assert train["profile"] == {"num_rows": 64}
    assert val["schema"]["features"]["class"] == f"{__name__}.Stream" and val["profile"] == {}
    # contents are not read: the class and length are the digest
    source = "s"
    assert _datasets.describe(Ramp(64), "d", "train", source).digest == train["digest"]
    assert _datasets.describe(Ramp(65), "d", "train", source).digest != train["digest"]


def test_log_datasets_false_records_none(regression):
    run_id = _plain_run(regression, log_datasets=False)
    assert fittrace.MlflowClient().get_run(run_id).inputs.dataset_inputs == []


def _broken_describe(*args, **kwargs):
    raise RuntimeError("cannot describe this data")


def _trained_weights(regression):
    torch.manual_seed(1)
    model = nn.Linear(20, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y, xv, yv = regression
    losses = _loop(model, optimizer, DataLoader(TensorDataset(x, y), batch_size=32),
                   DataLoader(TensorDataset(xv, yv), batch_size=16))  # fmt: skip
    return [p.detach().clone() for p in model.parameters()], losses


def test_a_failing_describer_never_changes_plain_training(regression, runs, monkeypatch):
    weights, losses = _trained_weights(regression)
    fittrace.pytorch.autolog(log_models=False)
    monkeypatch.setattr(_datasets, "describe", _broken_describe)
    monkeypatch.delenv("FITTRACE_TESTING")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logged_weights, logged_losses = _trained_weights(regression)
        fittrace.end_run()
    assert logged_losses == losses
    for ours, theirs in zip(logged_weights, weights, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    messages = [str(w.message) for w in caught if issubclass(w.category, AutologgingWarning)]
    assert len(messages) == 1 and "cannot describe this data" in messages[0]
    [run] = runs()
    errors = run.data.tags["fittrace.autologging.errors"]
    assert "recording the train data" in errors and "recording the eval data" in errors
    assert run.data.metrics["epochs"] == 2  # the rest of the run is complete
    assert fittrace.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs == []


def test_a_failing_describer_raises_in_testing_mode(regression, monkeypatch):
    fittrace.pytorch.autolog(log_models=False)
    monkeypatch.setattr(_datasets, "describe", _broken_describe)
    with pytest.raises(AutologgingError, match="recording the train data"):
        _trained_weights(regression)


# -- Lightning ----------------------------------------------------------------------------------------
if pl is not None:

    class LitRegressor(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(20, 1)

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            return F.mse_loss(self(batch[0]), batch[1])

        def validation_step(self, batch, batch_idx, dataloader_idx=0):
            self.log("val_loss", F.mse_loss(self(batch[0]), batch[1]))

        def test_step(self, batch, batch_idx):
            self.log("test_loss", F.mse_loss(self(batch[0]), batch[1]))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    class LitData(pl.LightningDataModule):
        def __init__(self, regression) -> None:
            super().__init__()
            self.regression = regression

        def train_dataloader(self):
            return DataLoader(TensorDataset(*self.regression[:2]), batch_size=32)

        def val_dataloader(self):
            return DataLoader(TensorDataset(*self.regression[2:]), batch_size=16)


def _trainer(**kwargs):
    options = dict(max_epochs=2, logger=False, enable_progress_bar=False, enable_model_summary=False,
                   enable_checkpointing=False)  # fmt: skip
    return pl.Trainer(**{**options, **kwargs})


def _lit_loaders(regression):
    x, y, xv, yv = regression
    return (DataLoader(TensorDataset(x, y), batch_size=32),
            DataLoader(TensorDataset(xv, yv), batch_size=16))  # fmt: skip


@needs_lightning
def test_lightning_fit_records_train_and_eval_data(regression, runs):
    fittrace.pytorch.autolog(log_models=False)
    train, val = _lit_loaders(regression)
    _trainer().fit(LitRegressor(), train, val)
    [run] = runs()
    inputs = _inputs(run.info.run_id)
    assert set(inputs) == {"train", "eval"}
    assert inputs["train"]["schema"] == inputs["eval"]["schema"] == TENSORS
    assert inputs["train"]["profile"]["features_shape"] == [96, 20]
    assert inputs["eval"]["profile"]["targets_shape"] == [32, 1]
    assert inputs["train"]["digest"] == shared.digest(*regression[:2])
    assert inputs["eval"]["digest"] == shared.digest(*regression[2:])


@needs_lightning
def test_lightning_datamodule_data_matches_the_loaders_data(regression, runs):
    fittrace.pytorch.autolog(log_models=False)
    _trainer(max_epochs=1).fit(LitRegressor(), datamodule=LitData(regression))
    train, val = _lit_loaders(regression)
    _trainer(max_epochs=1).fit(LitRegressor(), train, val)
    from_datamodule, from_loaders = (_inputs(r.info.run_id) for r in runs())
    assert from_datamodule == from_loaders


@needs_lightning
def test_lightning_validate_and_test_record_their_own_data(regression, runs):
    fittrace.pytorch.autolog(log_models=False)
    train, val = _lit_loaders(regression)
    trainer = _trainer(max_epochs=1)
    model = LitRegressor()
    trainer.fit(model, train, val)
    x, y = regression[2][:8], regression[3][:8]
    trainer.test(model, DataLoader(TensorDataset(x, y)), verbose=False)
    trainer.validate(model, DataLoader(TensorDataset(x * 2, y)), verbose=False)
    [run] = runs()
    inputs = fittrace.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    digests = {(d.context, d.digest) for d in inputs}
    assert digests == {
        ("train", shared.digest(*regression[:2])),
        ("eval", shared.digest(*regression[2:])),
        ("test", shared.digest(x, y)),
        ("eval", shared.digest(x * 2, y)),  # validate's own loader, not the fit's
    }


@needs_lightning
def test_lightning_several_val_loaders_are_numbered(regression, runs):
    fittrace.pytorch.autolog(log_models=False)
    train, val = _lit_loaders(regression)
    other = DataLoader(TensorDataset(regression[2][:8], regression[3][:8]), batch_size=8)
    _trainer(max_epochs=1).fit(LitRegressor(), train, [val, other])
    [run] = runs()
    inputs = fittrace.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert sorted((d.name, d.context) for d in inputs) == [
        ("dataset", "train"),
        ("dataset_0", "eval"),
        ("dataset_1", "eval"),
    ]


@needs_lightning
def test_lightning_log_datasets_false_records_none(regression, runs):
    fittrace.pytorch.autolog(log_models=False, log_datasets=False)
    train, val = _lit_loaders(regression)
    trainer = _trainer(max_epochs=1)
    model = LitRegressor()
    trainer.fit(model, train, val)
    trainer.test(model, val, verbose=False)
    [run] = runs()
    assert fittrace.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs == []


@needs_lightning
def test_lightning_other_datasets_by_class_and_length(runs):
    fittrace.pytorch.autolog(log_models=False)
    _trainer(max_epochs=1).fit(LitRegressor(), DataLoader(Ramp(48), batch_size=16))
    [run] = runs()
    inputs = _inputs(run.info.run_id)
    assert set(inputs) == {"train"} and inputs["train"]["profile"] == {"num_rows": 48}
    assert inputs["train"]["schema"]["features"]["class"] == f"{__name__}.Ramp"


def _lightning_weights(regression):
    """The weights of a seeded Lightning fit on the regression data."""
    torch.manual_seed(3)
    model = LitRegressor()
    _trainer().fit(model, *_lit_loaders(regression))
    return [p.detach().clone() for p in model.parameters()]


def _faulty_lightning_run(regression, runs, monkeypatch, owner, attribute, broken):
    """A Lightning fit with ``owner.attribute`` replaced by ``broken`` (testing mode off): the
    weights equal an unrecorded fit's, the run still finishes; returns its warnings and run."""
    expected = _lightning_weights(regression)
    fittrace.pytorch.autolog(log_models=False)
    monkeypatch.setattr(owner, attribute, broken)
    monkeypatch.delenv("FITTRACE_TESTING")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        weights = _lightning_weights(regression)
    for ours, theirs in zip(weights, expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    [run] = runs()
    assert run.info.status == "FINISHED" and "optimizer_name" in run.data.params
    return [str(w.message) for w in caught if issubclass(w.category, AutologgingWarning)], run


@needs_lightning
def test_a_failing_describer_never_changes_a_lightning_fit(regression, runs, monkeypatch):
    messages, run = _faulty_lightning_run(
        regression, runs, monkeypatch, _datasets, "describe", _broken_describe
    )
    assert len(messages) == 1 and "cannot describe this data" in messages[0]
    errors = run.data.tags["fittrace.autologging.errors"]
    assert "fit (recording the train data)" in errors and "fit (recording the eval data)" in errors


@needs_lightning
def test_a_failing_describer_raises_after_a_lightning_fit_in_testing_mode(regression, monkeypatch):
    fittrace.pytorch.autolog(log_models=False)
    monkeypatch.setattr(_datasets, "describe", _broken_describe)
    model = LitRegressor()
    trainer = _trainer(max_epochs=1)
    with pytest.raises(AutologgingError, match="recording the"):
        trainer.fit(model, *_lit_loaders(regression))
    assert trainer.current_epoch == 1  # the fit itself ran to its end


@needs_lightning
def test_a_failing_callback_hook_never_changes_a_lightning_fit(regression, runs, monkeypatch):
    """Every hook fittrace's callback runs inside Lightning's loop keeps the safety contract."""

    def broken(*args, **kwargs):
        raise RuntimeError("cannot read the learning rates")

    messages, run = _faulty_lightning_run(
        regression, runs, monkeypatch, fittrace.pytorch._describe, "lr_metrics", broken
    )
    assert len(messages) == 1 and "cannot read the learning rates" in messages[0]
    assert "on_train_epoch_start" in run.data.tags["fittrace.autologging.errors"]
