"""Lightning ``Trainer.fit``: what a user checks after ``fittrace.pytorch.autolog()``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pl = pytest.importorskip("lightning.pytorch")

import fittrace  # noqa: E402
import fittrace.pytorch  # noqa: E402


class Regressor(pl.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 8, fail_at_epoch: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(20, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.step_losses: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        if self.current_epoch == self.hparams.fail_at_epoch:
            raise ValueError("injected failure")
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.step_losses.append(loss.item())
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self(x), y))

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_loss", F.mse_loss(self(x), y))

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.5)
        return {
            "optimizer": optimizer,
            "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5),
        }


class TwoOptimizers(pl.LightningModule):
    """Manual optimization with two optimizers (each half of the network)."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.encoder, self.head = nn.Linear(20, 4), nn.Linear(4, 1)

    def forward(self, x):
        return self.head(self.encoder(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        for optimizer in self.optimizers():
            optimizer.zero_grad()
            loss = F.mse_loss(self(x), y)
            self.manual_backward(loss)
            optimizer.step()

    def configure_optimizers(self):
        return torch.optim.Adam(self.encoder.parameters(), lr=1e-3), torch.optim.RMSprop(
            self.head.parameters(), lr=1e-2
        )


class Recorder(pl.Callback):
    """What the user sees in ``trainer.callback_metrics`` at each epoch and validation end."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []
        self.validations: list[float] = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.epochs.append({k: float(v) for k, v in trainer.callback_metrics.items()})

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self.validations.append(float(trainer.callback_metrics["val_loss"]))


def _loaders(regression):
    x, y, xv, yv = regression
    return DataLoader(TensorDataset(x, y), batch_size=32), DataLoader(
        TensorDataset(xv, yv), batch_size=16
    )


def _trainer(**kwargs):
    options = dict(max_epochs=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
                   enable_checkpointing=False)  # fmt: skip
    return pl.Trainer(**{**options, **kwargs})


def _values(pairs):
    return [value for _, value in pairs]


def test_fit_records_params_epoch_metrics_and_the_model(regression, runs, history, client):
    fittrace.pytorch.autolog()
    train, val = _loaders(regression)
    recorder = Recorder()
    model = Regressor()
    _trainer(callbacks=[recorder]).fit(model, train, val)

    [run] = runs()
    run_id, params = run.info.run_id, run.data.params
    assert run.info.status == "FINISHED" and run.data.tags["fittrace.autologging"] == "pytorch"
    assert {k: params[k] for k in ("epochs", "max_epochs", "precision", "accumulate_grad_batches", "devices")} == {
        "epochs": "3", "max_epochs": "3", "precision": "32-true", "accumulate_grad_batches": "1", "devices": "1",
    }  # fmt: skip
    assert (params["optimizer_name"], params["optimizer.lr"], params["optimizer.momentum"]) == (
        "SGD",
        "0.1",
        "0.5",
    )
    assert (
        params["lr_scheduler"],
        params["lr_scheduler.gamma"],
        params["lr_scheduler.interval"],
    ) == ("StepLR", "0.5", "epoch")
    assert (params["lr"], params["hidden"]) == ("0.1", "8")  # the LightningModule's hparams
    assert _values(history(run_id, "train_loss_epoch")) == pytest.approx(
        [e["train_loss_epoch"] for e in recorder.epochs]
    )
    assert history(run_id, "val_loss") == list(
        enumerate(pytest.approx(v) for v in recorder.validations)
    )
    assert history(run_id, "lr") == [(0, 0.1), (1, 0.05), (2, 0.025)]
    summary = Path(client.download_artifacts(run_id, "model_summary.txt")).read_text()
    assert "net" in summary and "Sequential" in summary

    x = regression[2]
    model.eval()
    with torch.no_grad():
        reloaded = fittrace.pytorch.load_model(f"runs:/{run_id}/model")
        torch.testing.assert_close(reloaded(x), model(x), rtol=0, atol=0)
        into_fresh = fittrace.pytorch.load_model(f"runs:/{run_id}/model", model=Regressor())
        torch.testing.assert_close(into_fresh(x), model(x), rtol=0, atol=0)
    signature = fittrace.models.Model.load(client.download_artifacts(run_id, "model")).signature
    assert signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == [-1, 20]


def test_every_optimizer_is_logged(regression, runs):
    fittrace.pytorch.autolog(log_models=False)
    train, _ = _loaders(regression)
    _trainer(max_epochs=1).fit(TwoOptimizers(), train)
    [run] = runs()
    params = run.data.params
    assert (params["optimizer_name"], params["optimizer.lr"]) == ("Adam", "0.001")
    assert (params["optimizer1_name"], params["optimizer1.lr"]) == ("RMSprop", "0.01")


class Forked(Regressor):
    """Also logs ``epoch_only`` with ``on_step=False, on_epoch=True``."""

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.log("epoch_only", loss, on_step=False, on_epoch=True)
        return loss


def test_step_metrics_every_n_global_steps_epoch_metrics_per_epoch(regression, runs, history):
    fittrace.pytorch.autolog(log_every_n_step=2, log_models=False)
    train, val = _loaders(regression)  # 3 batches per epoch
    model = Forked()
    _trainer(max_epochs=2).fit(model, train, val)
    [run] = runs()
    run_id = run.info.run_id
    assert history(run_id, "train_loss_step") == [
        (step, pytest.approx(model.step_losses[step - 1])) for step in (2, 4, 6)
    ]
    for per_epoch in ("epoch_only", "train_loss_epoch", "val_loss"):
        assert [step for step, _ in history(run_id, per_epoch)] == [0, 1]


def test_early_stopping_values_are_the_callbacks_state(regression, runs, history):
    fittrace.pytorch.autolog(log_models=False)
    train, val = _loaders(regression)
    stopper = pl.callbacks.EarlyStopping("val_loss", patience=2, min_delta=0.5)
    trainer = _trainer(max_epochs=30, callbacks=[stopper])
    trainer.fit(Regressor(lr=0.02), train, val)
    assert 0 < stopper.stopped_epoch < 29  # it did stop early

    [run] = runs()
    metrics, params = run.data.metrics, run.data.params
    assert metrics["early_stopping.stopped_epoch"] == stopper.stopped_epoch
    assert metrics["early_stopping.wait_count"] == stopper.wait_count
    assert metrics["early_stopping.best_score"] == pytest.approx(float(stopper.best_score))
    val_losses = _values(history(run.info.run_id, "val_loss"))
    assert val_losses[int(metrics["early_stopping.best_epoch"])] == pytest.approx(
        float(stopper.best_score)
    )
    assert (
        params["early_stopping.monitor"],
        params["early_stopping.patience"],
        params["early_stopping.min_delta"],
    ) == ("val_loss", "2", "0.5")
    if hasattr(stopper, "stopping_reason"):  # Lightning >= 2.5
        assert (
            run.data.tags["early_stopping.stopping_reason"] == stopper.stopping_reason.name.lower()
        )
    else:
        assert "early_stopping.stopping_reason" not in run.data.tags


def test_model_checkpoint_best_path_score_and_files(regression, runs, client):
    fittrace.pytorch.autolog(checkpoint=True, log_models=False)
    train, val = _loaders(regression)
    checkpoint = pl.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=1)
    _trainer(callbacks=[checkpoint], enable_checkpointing=True).fit(Regressor(), train, val)
    [run] = runs()
    assert run.data.tags["model_checkpoint.best_model_path"] == checkpoint.best_model_path
    assert run.data.metrics["model_checkpoint.best_model_score"] == pytest.approx(
        float(checkpoint.best_model_score)
    )
    uploaded = [f.path for f in client.list_artifacts(run.info.run_id, "checkpoints")]
    assert f"checkpoints/{Path(checkpoint.best_model_path).name}" in uploaded


def test_test_metrics_go_to_the_fit_run(regression, runs, history):
    fittrace.pytorch.autolog(log_models=False)
    train, val = _loaders(regression)
    trainer = _trainer(max_epochs=2)
    model = Regressor()
    trainer.fit(model, train, val)
    [result] = trainer.test(model, val, verbose=False)
    [run] = runs()
    assert history(run.info.run_id, "test_loss") == [(2, pytest.approx(result["test_loss"]))]


def test_fit_inside_a_user_run_with_registered_model(regression, runs, client):
    fittrace.pytorch.autolog(registered_model_name="lightning-regressor")
    train, val = _loaders(regression)
    with fittrace.start_run() as mine:
        _trainer(max_epochs=1).fit(Regressor(), train, val)
        assert fittrace.active_run().info.run_id == mine.info.run_id
    [run] = runs()
    assert run.info.run_id == mine.info.run_id and "optimizer_name" in run.data.params
    [version] = client.search_model_versions("name='lightning-regressor'")
    assert version.run_id == mine.info.run_id


def test_only_rank_zero_records(regression, runs, monkeypatch):
    fittrace.pytorch.autolog()
    monkeypatch.setenv("RANK", "1")
    train, val = _loaders(regression)
    _trainer(max_epochs=1).fit(Regressor(), train, val)
    assert runs() == [] and fittrace.active_run() is None


def test_a_failing_fit_raises_unchanged_and_ends_its_run_failed(regression, runs, history):
    fittrace.pytorch.autolog()
    train, val = _loaders(regression)
    with pytest.raises(ValueError, match="injected failure"):
        _trainer().fit(Regressor(fail_at_epoch=1), train, val)
    [run] = runs()
    assert run.info.status == "FAILED"
    assert [step for step, _ in history(run.info.run_id, "val_loss")] == [0]


def test_a_plain_loop_run_is_closed_before_fit(regression, runs):
    fittrace.pytorch.autolog(log_models=False)
    train, val = _loaders(regression)
    plain = nn.Linear(20, 1)
    optimizer = torch.optim.SGD(plain.parameters(), lr=1e-2)
    for xb, yb in train:
        optimizer.zero_grad()
        F.mse_loss(plain(xb), yb).backward()
        optimizer.step()
    _trainer(max_epochs=1).fit(Regressor(), train, val)
    first, second = runs()
    assert first.data.params["optimizer_name"] == "SGD" and "max_epochs" not in first.data.params
    assert (
        second.data.params["max_epochs"] == "1" and "fittrace.parentRunId" not in second.data.tags
    )
    assert first.info.status == second.info.status == "FINISHED"
