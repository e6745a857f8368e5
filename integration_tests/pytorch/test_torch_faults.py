"""Fault injection with torch in the loop: training results never change, errors reach the user untouched."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fittrace
import fittrace.pytorch
from fittrace.autologging import AutologgingWarning
from fittrace.autologging import runs as autolog_runs


def _train(regression, epochs=2):
    """Deterministic training; returns the final weights and the loop's own losses."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(TensorDataset(*regression[:2]), batch_size=32, shuffle=True,
                        generator=torch.Generator().manual_seed(2))  # fmt: skip
    losses = []
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = nn.MSELoss()(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return [p.detach().clone() for p in model.parameters()], losses


class _Broken(autolog_runs.Recorder):
    def start_run(self, tags, nested):
        raise OSError("disk full")


class _BrokenWrites(autolog_runs.Recorder):
    def client(self):
        client = super().client()

        def log_batch(*args, **kwargs):
            raise OSError("store unreachable")

        client.log_batch = log_batch
        return client


@pytest.mark.parametrize("recorder", [_Broken(), _BrokenWrites()], ids=["no-run", "no-writes"])
def test_failing_recorder_leaves_training_untouched(regression, monkeypatch, recorder):
    weights, losses = _train(regression)
    monkeypatch.delenv("FITTRACE_TESTING")
    monkeypatch.setattr(autolog_runs, "recorder", recorder)
    fittrace.pytorch.autolog()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logged_weights, logged_losses = _train(regression)
        fittrace.end_run()
    assert logged_losses == losses
    for ours, theirs in zip(logged_weights, weights, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    messages = [str(w.message) for w in caught if issubclass(w.category, AutologgingWarning)]
    assert messages and any("disk full" in m or "store unreachable" in m for m in messages)
    assert len(messages) == len(set(messages))  # once per cause, not once per step


@pytest.mark.filterwarnings("ignore:Using a target size")
def test_errors_from_torch_reach_the_user_unchanged(regression, runs, history):
    fittrace.pytorch.autolog(log_models=False)
    x, y = regression[:2]
    model = nn.Linear(20, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    with pytest.raises(RuntimeError, match="size of tensor a"):
        nn.MSELoss()(model(x), y[:10])  # shape mismatch inside the patched loss module
    with pytest.raises(RuntimeError, match="size of tensor a"):
        nn.functional.l1_loss(model(x), y[:10])
    loss = nn.MSELoss()(model(x), y)
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()
    optimizer.step()  # the run opens here, with this step's loss
    losses = [loss.item()]
    loader = DataLoader(TensorDataset(x, y), batch_size=48)
    iterator = iter(loader)
    for xb, yb in iterator:
        optimizer.zero_grad()
        loss = nn.MSELoss()(model(xb), yb)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    for _ in range(2):  # asking an exhausted iterator again ends no further epoch
        with pytest.raises(StopIteration):
            next(iterator)
    fittrace.end_run()
    [run] = runs()
    assert history(run.info.run_id, "train_loss") == [(0, pytest.approx(sum(losses) / 3, rel=1e-6))]
    assert run.data.metrics["epochs"] == 1 and run.data.metrics["optimizer_steps"] == 3


def test_a_loss_module_returning_a_tuple_is_ignored(regression, runs, history):
    class PairLoss(nn.modules.loss._Loss):
        def forward(self, a, b):
            mse = ((a - b) ** 2).mean()
            return mse, mse.detach()

    fittrace.pytorch.autolog(log_models=False)
    x, y = regression[:2]
    model = nn.Linear(20, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    values = []
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=32):
        optimizer.zero_grad()
        loss, _ = PairLoss()(model(xb), yb)
        loss.backward()  # nothing captured before it: the backward tensor counts
        optimizer.step()
        values.append(loss.item())
    fittrace.end_run()
    [run] = runs()
    assert history(run.info.run_id, "train_loss") == [
        (0, pytest.approx(sum(values) / len(values), rel=1e-6))
    ]
