"""A process forked during a plain training loop leaves the loop's run to its parent."""

from __future__ import annotations

import atexit
import os

import pytest
import torch

import fittrace
import fittrace.pytorch

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_a_forked_child_exiting_normally_leaves_the_parents_training_run_running(
    regression, client
):
    fittrace.pytorch.autolog()
    x, y, _, _ = regression
    model = torch.nn.Linear(20, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    def epoch():
        for i in range(0, 96, 32):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x[i : i + 32]), y[i : i + 32])
            loss.backward()
            optimizer.step()

    epoch()
    run_id = fittrace.active_run().info.run_id
    pid = os.fork()
    if pid == 0:  # the child exits normally: its exit handlers run, then it is gone
        try:
            atexit._run_exitfuncs()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert client.get_run(run_id).info.status == "RUNNING"
    epoch()
    fittrace.end_run()
    assert client.get_run(run_id).info.status == "FINISHED"
