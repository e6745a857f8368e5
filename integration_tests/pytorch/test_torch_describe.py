"""The names fittrace gives optimizer hyperparameters, learning rates and ranks."""

from __future__ import annotations

import pytest
import torch

from fittrace.pytorch import _describe


def test_optimizer_params_per_group_and_configured_lr():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.1)
    optimizer.step()
    scheduler.step()  # lr moves; the configured value stays as initial_lr
    params = _describe.optimizer_params(optimizer, index=1)
    assert params["optimizer1_name"] == "SGD"
    assert (params["optimizer1.pg0.lr"], params["optimizer1.pg1.lr"]) == (0.1, 0.5)
    assert params["optimizer1.pg1.momentum"] == 0.9
    assert not any(key.endswith((".params", ".initial_lr")) for key in params)
    assert _describe.lr_metrics([torch.optim.Adam([a], lr=1e-3), optimizer]) == {
        "lr": 1e-3,
        "optimizer1_lr": pytest.approx(0.01),
        "optimizer1_lr_pg1": pytest.approx(0.05),
    }


def test_parameter_counts_count_shared_tensors_once():
    shared = torch.nn.Linear(3, 3)
    model = torch.nn.Sequential(shared, torch.nn.ReLU(), shared, torch.nn.Linear(3, 1))
    model[3].weight.requires_grad_(False)
    assert _describe.parameter_counts(model.parameters()) == (16, 13)
    summary = _describe.model_summary(model)
    assert "Total params: 16" in summary and "Non-trainable params: 3" in summary


@pytest.mark.parametrize(
    ("environ", "rank"),
    [({}, 0), ({"RANK": "2", "LOCAL_RANK": "0"}, 2), ({"LOCAL_RANK": "1"}, 1), ({"SLURM_PROCID": "3"}, 3),
     ({"RANK": "x", "LOCAL_RANK": "1"}, 1)],
)  # fmt: skip
def test_env_rank(environ, rank):
    assert _describe.env_rank(environ) == rank


def test_flatten_nested_hparams():
    assert _describe.flatten({"a": {"b": 1, "c": {"d": 2}}, "e": {}, "f": 3}) == {
        "a.b": 1,
        "a.c.d": 2,
        "e": {},
        "f": 3,
    }
