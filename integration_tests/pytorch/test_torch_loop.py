"""Plain PyTorch loops: what a user checks after ``fittrace.pytorch.autolog()`` and an ordinary loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fittrace
import fittrace.pytorch


class Regressor(nn.Module):
    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(20, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _loaders(regression, batch_size=32):
    x, y, xv, yv = regression
    train = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    val = DataLoader(TensorDataset(xv, yv), batch_size=16)
    return train, val


def _train(model, optimizer, train, val=None, epochs=3, loss_fn=None, scheduler=None):
    """A textbook loop; returns its own per-epoch averages and learning rates."""
    loss_fn = loss_fn or nn.MSELoss()
    own = {"train": [], "val": [], "lr": []}
    for _ in range(epochs):
        model.train()
        total, batches = 0.0, 0
        own["lr"].append(optimizer.param_groups[0]["lr"])
        for xb, yb in train:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        own["train"].append(total / batches)
        if scheduler is not None:
            scheduler.step()
        if val is not None:
            model.eval()
            total, batches = 0.0, 0
            with torch.no_grad():
                for xb, yb in val:
                    total += loss_fn(model(xb), yb).item()
                    batches += 1
            own["val"].append(total / batches)
    return own


def _values(pairs):
    return [value for _, value in pairs]


def test_epoch_losses_lr_schedule_and_params_match_the_loop(regression, runs, history, client):
    fittrace.pytorch.autolog()
    train, val = _loaders(regression)
    model = Regressor()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    own = _train(model, optimizer, train, val, epochs=3, scheduler=scheduler)
    run = fittrace.active_run()
    assert run is not None and run.data.tags["fittrace.autologging"] == "pytorch"
    fittrace.end_run()

    [done] = runs()
    run_id = done.info.run_id
    assert done.info.status == "FINISHED"
    assert history(run_id, "train_loss") == [
        (i, pytest.approx(v, rel=1e-6)) for i, v in enumerate(own["train"])
    ]
    assert history(run_id, "val_loss") == [
        (i, pytest.approx(v, rel=1e-6)) for i, v in enumerate(own["val"])
    ]
    assert (
        history(run_id, "lr") == [(0, 0.05), (1, 0.025), (2, 0.0125)] == list(enumerate(own["lr"]))
    )
    params = done.data.params
    assert params["optimizer_name"] == "SGD"
    assert (
        params["optimizer.lr"],
        params["optimizer.momentum"],
        params["optimizer.weight_decay"],
    ) == ("0.05", "0.9", "0.0001")
    assert params["model_class"].endswith("Regressor")
    assert params["model_params_total"] == str(sum(p.numel() for p in model.parameters()))
    assert done.data.metrics["epochs"] == 3
    assert done.data.metrics["optimizer_steps"] == 3 * len(train)
    summary = Path(client.download_artifacts(run_id, "model_summary.txt")).read_text()
    assert (
        "(head): Linear(in_features=16, out_features=1" in summary
        and "Total params: 353" in summary
    )


def test_model_reloads_with_identical_outputs(regression, runs):
    fittrace.pytorch.autolog(log_input_examples=True)
    train, val = _loaders(regression)
    model = Regressor()
    _train(model, torch.optim.Adam(model.parameters(), lr=1e-2), train, epochs=2)
    fittrace.end_run()
    [run] = runs()
    uri = f"runs:/{run.info.run_id}/model"
    x = regression[2]
    model.eval()
    with torch.no_grad():
        expected = model(x)
        full = fittrace.pytorch.load_model(uri)
        assert type(full) is Regressor
        torch.testing.assert_close(full(x), expected, rtol=0, atol=0)
        weights_only = fittrace.pytorch.load_model(uri, model=Regressor())
        torch.testing.assert_close(weights_only(x), expected, rtol=0, atol=0)
    predicted = fittrace.pyfunc.load_model(uri).predict(x.numpy())
    np.testing.assert_array_equal(predicted, expected.numpy())
    info = fittrace.models.Model.load(
        fittrace.MlflowClient().download_artifacts(run.info.run_id, "model")
    )
    assert info.signature.inputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 20]}}
    ]
    assert info.saved_input_example_info["type"] == "ndarray"


def test_functional_and_hand_written_losses(regression, runs, history):
    fittrace.pytorch.autolog()
    x, y, _, _ = regression
    labels = (y[:, 0] > 0).long()
    train = DataLoader(TensorDataset(x, labels), batch_size=32)
    model = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    functional = []
    for _ in range(2):  # F.cross_entropy, called through the module attribute
        losses = []
        for xb, yb in train:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        functional.append(sum(losses) / len(losses))
    fittrace.end_run()

    other = nn.Linear(20, 1)
    optimizer = torch.optim.SGD(other.parameters(), lr=1e-2)
    hand_written = []
    for _ in range(2):  # no loss function at all: the tensor .backward() is called on counts
        losses = []
        for xb, yb in DataLoader(TensorDataset(x, y), batch_size=32):
            optimizer.zero_grad()
            loss = ((other(xb) - yb) ** 2).mean()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        hand_written.append(sum(losses) / len(losses))
    fittrace.end_run()

    first, second = runs()
    assert _values(history(first.info.run_id, "train_loss")) == pytest.approx(functional, rel=1e-6)
    assert _values(history(second.info.run_id, "train_loss")) == pytest.approx(
        hand_written, rel=1e-6
    )


def test_param_groups_are_logged_each(regression, runs, history):
    fittrace.pytorch.autolog()
    train, _ = _loaders(regression)
    model = Regressor()
    optimizer = torch.optim.SGD(
        [{"params": model.body.parameters(), "lr": 0.1}, {"params": model.head.parameters()}],
        lr=0.01,
    )
    _train(model, optimizer, train, epochs=1)
    fittrace.end_run()
    [run] = runs()
    params = run.data.params
    assert (params["optimizer.pg0.lr"], params["optimizer.pg1.lr"]) == ("0.1", "0.01")
    assert history(run.info.run_id, "lr") == [(0, 0.1)]
    assert history(run.info.run_id, "lr_pg1") == [(0, 0.01)]


def test_step_losses_and_grad_norms_every_n_steps(regression, runs, history):
    fittrace.pytorch.autolog(log_every_n_step=2, log_grad_norm=True, log_models=False)
    train = DataLoader(TensorDataset(*regression[:2]), batch_size=16)  # 6 steps per epoch
    model = Regressor()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses, norms = [], []
    for _ in range(2):
        for xb, yb in train:
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            norms.append(torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]).item())
            optimizer.step()
            losses.append(loss.item())
    fittrace.end_run()
    [run] = runs()
    run_id = run.info.run_id
    expected_steps = list(range(2, 13, 2))
    assert history(run_id, "train_loss_step") == [
        (s, pytest.approx(losses[s - 1], rel=1e-6)) for s in expected_steps
    ]
    assert history(run_id, "grad_norm_step") == [
        (s, pytest.approx(norms[s - 1], rel=1e-5)) for s in expected_steps
    ]
    assert _values(history(run_id, "grad_norm")) == pytest.approx(
        [np.mean(norms[:6]), np.mean(norms[6:])], rel=1e-5
    )


def test_log_every_n_epoch(regression, runs, history):
    fittrace.pytorch.autolog(log_every_n_epoch=2, log_models=False)
    train, val = _loaders(regression)
    model = Regressor()
    own = _train(model, torch.optim.SGD(model.parameters(), lr=0.01), train, val, epochs=4)
    fittrace.end_run()
    [run] = runs()
    assert history(run.info.run_id, "train_loss") == [
        (1, pytest.approx(own["train"][1], rel=1e-6)),
        (3, pytest.approx(own["train"][3], rel=1e-6)),
    ]


def test_gradient_accumulation_counts_every_micro_batch(regression, runs, history):
    fittrace.pytorch.autolog(log_models=False)
    train = DataLoader(TensorDataset(*regression[:2]), batch_size=16)
    model = Regressor()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    losses = []
    for i, (xb, yb) in enumerate(train):
        loss = nn.MSELoss()(model(xb), yb)
        (loss / 2).backward()
        losses.append(loss.item())
        if i % 2 == 1:
            optimizer.step()
            optimizer.zero_grad()
    fittrace.end_run()
    [run] = runs()
    assert history(run.info.run_id, "train_loss") == [(0, pytest.approx(np.mean(losses), rel=1e-6))]
    assert run.data.metrics["optimizer_steps"] == 3


def test_eval_mode_losses_count_as_validation_even_with_grad(regression, runs, history):
    fittrace.pytorch.autolog(log_models=False)
    train, val = _loaders(regression)
    model = Regressor()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    _train(model, optimizer, train, epochs=1)
    model.eval()
    xv, yv = regression[2:]
    val_loss = nn.MSELoss()(model(xv), yv)  # autograd on, but the model is in eval mode
    fittrace.end_run()
    [run] = runs()
    assert history(run.info.run_id, "val_loss") == [(0, pytest.approx(val_loss.item(), rel=1e-6))]


def test_training_inside_a_user_run_logs_there_and_ends_with_it(regression, runs, client):
    fittrace.pytorch.autolog()
    train, _ = _loaders(regression)
    model = Regressor()
    with fittrace.start_run(run_name="mine") as mine:
        _train(model, torch.optim.Adam(model.parameters(), lr=1e-2), train, epochs=1)
        fittrace.log_metric("after", 1.0)
    [run] = runs()
    assert run.info.run_id == mine.info.run_id and run.info.status == "FINISHED"
    assert run.data.metrics["after"] == 1.0 and "train_loss" in run.data.metrics
    assert "model" in [f.path for f in client.list_artifacts(run.info.run_id)]


def test_exclusive_leaves_user_runs_alone(regression, runs):
    fittrace.pytorch.autolog(exclusive=True)
    train, _ = _loaders(regression)
    model = Regressor()
    with fittrace.start_run():
        _train(model, torch.optim.Adam(model.parameters(), lr=1e-2), train, epochs=1)
    [run] = runs()
    assert "train_loss" not in run.data.metrics and "optimizer_name" not in run.data.params


def test_a_new_model_opens_a_new_run(regression, runs, history):
    fittrace.pytorch.autolog(log_models=False)
    train, val = _loaders(regression)
    first, second = Regressor(), Regressor(hidden=8)
    own_first = _train(first, torch.optim.SGD(first.parameters(), lr=0.01), train, val, epochs=2)
    own_second = _train(second, torch.optim.SGD(second.parameters(), lr=0.02), train, val, epochs=2)
    fittrace.end_run()
    done_first, done_second = runs()
    assert done_first.info.status == done_second.info.status == "FINISHED"
    assert (done_first.data.params["optimizer.lr"], done_second.data.params["optimizer.lr"]) == (
        "0.01",
        "0.02",
    )
    assert done_second.data.params["model_params_total"] == str(
        sum(p.numel() for p in second.parameters())
    )
    for run, own in ((done_first, own_first), (done_second, own_second)):
        assert _values(history(run.info.run_id, "train_loss")) == pytest.approx(
            own["train"], rel=1e-6
        )
        assert _values(history(run.info.run_id, "val_loss")) == pytest.approx(own["val"], rel=1e-6)


def test_interleaved_optimizers_share_one_run(regression, runs):
    fittrace.pytorch.autolog(log_models=False)
    x = regression[0]
    generator, critic = nn.Linear(4, 20), nn.Linear(20, 1)
    g_opt = torch.optim.Adam(generator.parameters(), lr=1e-3)
    c_opt = torch.optim.SGD(critic.parameters(), lr=1e-2)
    for xb in DataLoader(TensorDataset(x), batch_size=32):
        c_opt.zero_grad()
        fake = generator(torch.randn(32, 4)).detach()
        F.softplus(critic(fake) - critic(xb[0])).mean().backward()
        c_opt.step()
        g_opt.zero_grad()
        F.softplus(-critic(generator(torch.randn(32, 4)))).mean().backward()
        g_opt.step()
    fittrace.end_run()
    [run] = runs()
    assert (run.data.params["optimizer_name"], run.data.params["optimizer1_name"]) == (
        "SGD",
        "Adam",
    )
    assert run.data.metrics["optimizer_steps"] == 6


def test_only_rank_zero_records(regression, runs, monkeypatch):
    fittrace.pytorch.autolog()
    train, _ = _loaders(regression)
    monkeypatch.setenv("RANK", "1")
    model = Regressor()
    _train(model, torch.optim.Adam(model.parameters(), lr=1e-2), train, epochs=1)
    assert fittrace.active_run() is None and runs() == []
    monkeypatch.setenv("RANK", "0")
    model = Regressor()
    _train(model, torch.optim.Adam(model.parameters(), lr=1e-2), train, epochs=1)
    fittrace.end_run()
    assert len(runs()) == 1


def test_disabled_or_plain_loops_off_records_nothing(regression, runs):
    train, _ = _loaders(regression)
    for options in ({"disable": True}, {"plain_loops": False}):
        fittrace.pytorch.autolog(**options)
        model = Regressor()
        _train(model, torch.optim.Adam(model.parameters(), lr=1e-2), train, epochs=1)
        assert fittrace.active_run() is None
    assert runs() == []


def test_run_closes_at_interpreter_exit(run_script, runs, client):
    script = """
        FAIL = {fail}
        import torch, fittrace.pytorch
        from torch.utils.data import DataLoader, TensorDataset
        fittrace.pytorch.autolog()
        class Net(torch.nn.Module):  # defined in __main__: the model file carries it
            def __init__(self):
                super().__init__()
                self.lin = torch.nn.Linear(20, 1)
            def forward(self, x):
                return self.lin(x)
        torch.manual_seed(0)
        x = torch.randn(64, 20); y = x.sum(1, keepdim=True)
        model = Net(); opt = torch.optim.Adam(model.parameters(), lr=0.01)
        for epoch in range(2):
            for xb, yb in DataLoader(TensorDataset(x, y), batch_size=16):
                opt.zero_grad(); torch.nn.functional.mse_loss(model(xb), yb).backward(); opt.step()
            if epoch == 1 and FAIL:
                raise RuntimeError("injected")
        torch.save((x[:4], model(x[:4]).detach()), "expected.pt")
    """
    run_script(script.format(fail=False))
    failed = run_script(script.format(fail=True), check=False)
    assert failed.returncode == 1 and "injected" in failed.stderr
    ok, crashed = runs()
    assert ok.info.status == "FINISHED" and crashed.info.status == "FAILED"
    assert ok.data.metrics["epochs"] == crashed.data.metrics["epochs"] == 2
    assert "model" not in [f.path for f in client.list_artifacts(crashed.info.run_id)]
    reloaded = fittrace.pytorch.load_model(f"runs:/{ok.info.run_id}/model")
    x, expected = torch.load("expected.pt")
    assert type(reloaded).__name__ == "Net"
    torch.testing.assert_close(reloaded(x).detach(), expected, rtol=0, atol=0)


def test_distributed_training_records_once_from_rank_zero(run_script, runs):
    run_script(
        """
        import os, torch, torch.distributed as dist, torch.multiprocessing as mp
        from torch.nn.parallel import DistributedDataParallel
        from torch.utils.data import DataLoader, TensorDataset
        from torch.utils.data.distributed import DistributedSampler

        def train(rank):
            import fittrace.pytorch
            fittrace.pytorch.autolog()
            torch.set_num_threads(1)
            init = "file://" + os.path.abspath("rendezvous")  # no TCP port to race for
            dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
            torch.manual_seed(0)
            x = torch.randn(64, 20); y = x.sum(1, keepdim=True)
            data = TensorDataset(x, y)
            loader = DataLoader(data, batch_size=8, sampler=DistributedSampler(data, num_replicas=2, rank=rank))
            model = DistributedDataParallel(torch.nn.Sequential(torch.nn.Linear(20, 4), torch.nn.Linear(4, 1)))
            opt = torch.optim.SGD(model.parameters(), lr=0.01)
            for epoch in range(2):
                loader.sampler.set_epoch(epoch)
                for xb, yb in loader:
                    opt.zero_grad(); torch.nn.functional.mse_loss(model(xb), yb).backward(); opt.step()
            fittrace.end_run()  # rank 0 saves the model here; the others wait at the barrier
            dist.barrier()
            dist.destroy_process_group()

        if __name__ == "__main__":
            mp.spawn(train, nprocs=2)
        """
    )
    [run] = runs()
    assert run.data.params["model_class"] == "torch.nn.modules.container.Sequential"
    assert run.data.metrics["epochs"] == 2 and run.data.metrics["optimizer_steps"] == 8
    assert type(fittrace.pytorch.load_model(f"runs:/{run.info.run_id}/model")) is nn.Sequential


def test_unpatch_restores_torch_exactly():
    from torch.utils.data.dataloader import _BaseDataLoaderIter

    from fittrace.autologging import unpatch

    def state():
        return (
            dict(vars(_BaseDataLoaderIter)),
            dict(vars(DataLoader)),
            dict(vars(torch.Tensor)),
            {name: getattr(F, name) for name in ("mse_loss", "cross_entropy", "kl_div")},
        )

    before = state()
    fittrace.pytorch.autolog()
    assert F.mse_loss is not before[3]["mse_loss"]
    assert (F.mse_loss.__name__, F.mse_loss.__module__) == ("mse_loss", "torch.nn.functional")
    unpatch()
    assert state() == before


def test_a_loop_run_yields_to_the_users_own_start_run(regression, runs):
    fittrace.pytorch.autolog(log_models=False)
    train, _ = _loaders(regression)
    model = Regressor()
    _train(model, torch.optim.SGD(model.parameters(), lr=0.01), train, epochs=1)
    loop_run = fittrace.active_run()
    assert loop_run is not None  # the plain loop opened a run on the user's behalf

    with fittrace.start_run(run_name="mine") as mine:  # no "already active" error
        fittrace.log_param("note", "after training")

    finished = {r.info.run_id: r for r in runs()}
    assert finished[loop_run.info.run_id].info.status == "FINISHED"
    assert "train_loss" in finished[loop_run.info.run_id].data.metrics
    assert finished[mine.info.run_id].data.params == {"note": "after training"}
    assert "fittrace.parentRunId" not in finished[mine.info.run_id].data.tags
