"""Lightning under autologging, as MLflow users expect it (issue 15): copies of what fittrace
attaches, step granularity, MLflow's names, early stopping, checkpoints."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pl = pytest.importorskip("lightning.pytorch")

import fittrace  # noqa: E402
import fittrace.pytorch  # noqa: E402

from .test_torch_lightning import Regressor, TwoOptimizers, _loaders, _trainer  # noqa: E402


class TwoOptimizersLogging(TwoOptimizers):
    def training_step(self, batch, batch_idx):
        super().training_step(batch, batch_idx)
        x, y = batch
        self.log("loss", F.mse_loss(self(x), y), on_step=True, on_epoch=True)


class Copier(pl.Callback):
    """What a user's code may do to the trainer's objects mid-fit: copy, pickle, torch.save."""

    def __init__(self) -> None:
        self.copies: list[nn.Module] = []

    def on_train_epoch_end(self, trainer, pl_module):
        pickle.dumps(trainer.callbacks)
        copy.deepcopy(trainer.callbacks)
        buffer = io.BytesIO()
        torch.save(pl_module, buffer)
        buffer.seek(0)
        self.copies += [
            copy.deepcopy(pl_module),
            pickle.loads(pickle.dumps(pl_module)),
            torch.load(buffer, weights_only=False),
        ]


def test_trainer_callbacks_and_module_copy_pickle_and_save_mid_fit(regression, runs):
    fittrace.pytorch.autolog(log_input_examples=True)
    train, val = _loaders(regression)
    copier, model = Copier(), Regressor()
    trainer = _trainer(max_epochs=1, callbacks=[copier])
    trainer.fit(model, train, val)

    x = regression[2][:4]
    for copied in copier.copies:
        assert "forward" not in vars(copied)  # nothing of fittrace's is left on a copy
        torch.testing.assert_close(copied(x), model(x))
    copied_callbacks = copy.deepcopy(trainer.callbacks)  # after fit too
    assert [type(c).__name__ for c in copied_callbacks] == [
        type(c).__name__ for c in trainer.callbacks
    ]
    [run] = runs()
    loaded = fittrace.pytorch.load_model(f"runs:/{run.info.run_id}/model")
    torch.testing.assert_close(loaded(x), model(x))


DDP_SCRIPT = """
import atexit
import torch, fittrace, fittrace.pytorch
import lightning.pytorch as pl
from torch.utils.data import DataLoader, TensorDataset


class Model(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


# Every process ends its gloo group before exit, as Lightning does for NCCL only: left to the
# interpreter's teardown, a spawned rank aborts ("terminate called without an active exception")
# in about 1 run of 10 with torch 2.13 and Lightning 2.6, with or without fittrace imported.
atexit.register(lambda: torch.distributed.is_initialized() and torch.distributed.destroy_process_group())


if __name__ == "__main__":
    torch.manual_seed(0)
    fittrace.pytorch.autolog()
    data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    trainer = pl.Trainer(max_epochs=2, strategy="ddp_spawn", devices=2, accelerator="cpu",
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    model = Model()
    trainer.fit(model, DataLoader(data, batch_size=8))
    run = fittrace.last_active_run()
    client = fittrace.tracking.Client()
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert sorted(m.step for m in history) == [0, 1], history
    assert run.data.params["optimizer_name"] == "Adam" and run.data.params["lr"] == "0.01"
    loaded = fittrace.pytorch.load_model(f"runs:/{run.info.run_id}/model")
    x = torch.randn(3, 4)
    torch.testing.assert_close(loaded(x), model(x))
    print("OK", run.info.status)
"""


def test_ddp_spawn_on_two_cpu_processes_trains_and_records(run_script):
    result = run_script(DDP_SCRIPT, env={"FITTRACE_TESTING": "1"})
    assert "OK FINISHED" in result.stdout


def test_step_metrics_stay_out_of_epoch_logs_before_their_first_logged_step(
    regression, runs, history
):
    fittrace.pytorch.autolog(log_every_n_step=4, log_models=False)
    train, val = _loaders(regression)  # 3 batches per epoch: epoch 0 ends before step 4
    model = Regressor()
    _trainer(max_epochs=2).fit(model, train, val)
    [run] = runs()
    assert history(run.info.run_id, "train_loss_step") == [(4, pytest.approx(model.step_losses[3]))]


def test_step_logging_with_two_optimizers_logs_once_per_batch(regression, runs, history):
    fittrace.pytorch.autolog(log_every_n_step=1, log_models=False)
    train, _ = _loaders(regression)
    _trainer(max_epochs=2).fit(TwoOptimizersLogging(), train)
    [run] = runs()
    steps = [step for step, _ in history(run.info.run_id, "loss_step")]
    assert steps == [2, 4, 6, 8, 10, 12]  # 6 batches, two optimizer steps each
    assert [step for step, _ in history(run.info.run_id, "loss")] == [0, 1]


def test_mlflow_param_names_beside_fittrace_ones(regression, runs):
    fittrace.pytorch.autolog(log_models=False)
    train, val = _loaders(regression)

    class AdamRegressor(Regressor):
        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=0.05, weight_decay=0.01)

    stopper = pl.callbacks.EarlyStopping("val_loss", patience=1, min_delta=0.1, mode="min")
    _trainer(max_epochs=2, callbacks=[stopper]).fit(AdamRegressor(lr=0.05), train, val)
    [run] = runs()
    params = run.data.params
    assert params["optimizer_name"] == "Adam"
    assert (params["lr"], params["weight_decay"], params["eps"]) == ("0.05", "0.01", "1e-08")
    assert params["betas"] == "(0.9, 0.999)"
    assert (params["optimizer.lr"], params["optimizer.weight_decay"]) == ("0.05", "0.01")
    assert (params["monitor"], params["mode"], params["patience"], params["min_delta"]) == (
        "val_loss",
        "min",
        "1",
        "0.1",
    )
    assert params["early_stopping.patience"] == "1"
    assert params["stopped_epoch"] == str(stopper.stopped_epoch)


def test_an_hparam_named_like_an_optimizer_setting_keeps_its_value(regression, runs):
    fittrace.pytorch.autolog(log_models=False)
    train, _ = _loaders(regression)

    class Slow(Regressor):
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr / 10)

    _trainer(max_epochs=1).fit(Slow(lr=0.5), train)
    [run] = runs()
    assert run.data.params["lr"] == "0.5"  # the hparam; the optimizer's is optimizer.lr
    assert run.data.params["optimizer.lr"] == "0.05"


def test_early_stopping_that_stops_logs_mlflow_metrics_and_restored_checkpoint(
    regression, runs, history, client, tmp_path
):
    fittrace.pytorch.autolog()
    train, val = _loaders(regression)
    stopper = pl.callbacks.EarlyStopping("val_loss", patience=1, min_delta=100.0)
    checkpoint = pl.callbacks.ModelCheckpoint(tmp_path, monitor="val_loss", save_top_k=1)
    _trainer(max_epochs=10, callbacks=[stopper, checkpoint], enable_checkpointing=True).fit(
        Regressor(), train, val
    )
    assert stopper.stopped_epoch > 0
    [run] = runs()
    metrics = run.data.metrics
    assert metrics["stopped_epoch"] == stopper.stopped_epoch
    assert metrics["wait_count"] == stopper.wait_count
    assert metrics["best_score"] == pytest.approx(float(stopper.best_score))
    val_losses = [value for _, value in history(run.info.run_id, "val_loss")]
    assert val_losses[int(metrics["restored_epoch"])] == pytest.approx(float(stopper.best_score))
    names = [f.path for f in client.list_artifacts(run.info.run_id, "restored_model_checkpoint")]
    assert names == [f"restored_model_checkpoint/{checkpoint.best_model_path.split('/')[-1]}"]


def test_early_stopping_that_never_stops_logs_no_stop_metrics(regression, runs):
    fittrace.pytorch.autolog(log_models=False)
    train, val = _loaders(regression)
    stopper = pl.callbacks.EarlyStopping("val_loss", patience=50)
    _trainer(max_epochs=2, callbacks=[stopper]).fit(Regressor(), train, val)
    [run] = runs()
    assert run.data.params["stopped_epoch"] == "0"
    assert not {"stopped_epoch", "restored_epoch", "wait_count"} & set(run.data.metrics)


def test_checkpoint_every_epoch_loadable_by_epoch(regression, runs, client):
    fittrace.pytorch.autolog(
        checkpoint=True, checkpoint_save_best_only=False, checkpoint_save_weights_only=True
    )
    train, val = _loaders(regression)
    model = Regressor()
    _trainer(max_epochs=2).fit(model, train, val)
    [run] = runs()
    run_id = run.info.run_id
    folders = [f.path for f in client.list_artifacts(run_id, "checkpoints")]
    assert folders == ["checkpoints/epoch_0", "checkpoints/epoch_1"]
    last = fittrace.pytorch.load_checkpoint(Regressor, run_id)
    x = regression[2][:4]
    torch.testing.assert_close(last(x), model(x))
    first = fittrace.pytorch.load_checkpoint(Regressor, run_id, epoch=0)
    assert not torch.allclose(first(x), model(x))


def test_checkpoint_best_only_and_every_n_steps(regression, runs, client):
    fittrace.pytorch.autolog(checkpoint=True, checkpoint_monitor="val_loss")
    train, val = _loaders(regression)
    _trainer(max_epochs=2).fit(Regressor(), train, val)
    fittrace.pytorch.autolog(
        checkpoint=True, checkpoint_save_best_only=False, checkpoint_save_freq=4, log_models=False
    )
    _trainer(max_epochs=2).fit(Regressor(), train, val)
    best, steps = runs()
    best_files = {f.path for f in client.list_artifacts(best.info.run_id, "checkpoints")}
    assert best_files == {
        "checkpoints/latest_checkpoint.pth",
        "checkpoints/latest_checkpoint_metrics.json",
    }
    assert isinstance(fittrace.pytorch.load_checkpoint(Regressor, best.info.run_id), Regressor)
    step_folders = [f.path for f in client.list_artifacts(steps.info.run_id, "checkpoints")]
    assert step_folders == ["checkpoints/global_step_4"]
    loaded = fittrace.pytorch.load_checkpoint(Regressor, steps.info.run_id, global_step=4)
    assert isinstance(loaded, Regressor)


def test_plain_torch_loop_objects_copy_pickle_and_save_mid_training(runs, tmp_path):
    """What ``spawn`` does with a model is this pickle round trip (a real spawn costs seconds)."""
    fittrace.pytorch.autolog()
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(torch.randn(16, 4), torch.randn(16, 1)), batch_size=8)
    for x, y in loader:
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        optimizer.step()
        copies = [copy.deepcopy(model), pickle.loads(pickle.dumps(model))]
        torch.save({"model": model, "optimizer": optimizer.state_dict()}, tmp_path / "ckpt.pt")
        copy.deepcopy(optimizer)
    copies.append(torch.load(tmp_path / "ckpt.pt", weights_only=False)["model"])
    for copied in copies:
        torch.testing.assert_close(copied(x), model(x))
    fittrace.end_run()
    [run] = runs()
    assert run.data.params["model_class"].endswith("Sequential")
