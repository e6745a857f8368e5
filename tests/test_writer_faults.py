"""The background writer under faults: a row the store refuses, a store that refuses everything."""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from fractions import Fraction

import numpy as np
import pytest

import fittrace
from fittrace.autologging import runs
from fittrace.exceptions import InvalidParameterError, StoreError, StoreWarning
from fittrace.tracking import validation


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: fittrace.log_metric("m", 0.5, step=2**63), "step"),
        (lambda: fittrace.log_metric("m", 0.5, step=np.uint64(2**64 - 1)), "step"),
        (lambda: fittrace.log_metric("m", 0.5, step=-(2**63) - 1), "step"),
        (lambda: fittrace.log_metric("m", 0.5, step=1e19), "step"),
        (lambda: fittrace.log_metric("m", 0.5, timestamp=2**63), "timestamp"),
        (lambda: fittrace.log_metric("m", 0.5, timestamp=np.uint64(2**63)), "timestamp"),
        (lambda: fittrace.log_metrics({"m": 0.5}, step=2**64), "step"),
        (lambda: fittrace.log_metric("m", 10**400), "'m'"),
        (lambda: fittrace.log_metric("m", Fraction(10**400, 3)), "'m'"),
    ],
)
def test_out_of_range_numbers_fail_at_the_call_site_naming_the_argument(call, named):
    with fittrace.start_run() as run:
        with pytest.raises(InvalidParameterError, match=named):
            call()
        fittrace.log_metric("m", 1.0, step=2**63 - 1, timestamp=-(2**63))
    history = fittrace.MlflowClient().get_metric_history(run.info.run_id, "m")
    assert [(m.value, m.step, m.timestamp) for m in history] == [(1.0, 2**63 - 1, -(2**63))]


def test_a_row_the_store_refuses_is_dropped_and_everything_else_is_stored(monkeypatch):
    """Forced past validation, step 2**63 reaches the store, which cannot hold it."""
    client = fittrace.MlflowClient()
    first = client.create_run("0").info.run_id
    second = client.create_run("0").info.run_id
    checked = validation.integer
    monkeypatch.setattr(
        validation, "integer", lambda name, v: v if v == 2**63 else checked(name, v)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(50):
            client.log_metric(first, "loss", step, step=step)
        client.log_metric(first, "bad", 0.5, step=2**63)
        for step in range(50):
            client.log_metric(second, "acc", step, step=step)
        client.set_tag(second, "after", "yes")
        client.log_param(first, "lr", 0.1)
        fittrace.flush()
        client.set_terminated(first)
        client.set_terminated(second)
    dropped = [w for w in caught if issubclass(w.category, StoreWarning)]
    assert len(dropped) == 1, [str(w.message) for w in caught]
    assert first in str(dropped[0].message) and "'bad'" in str(dropped[0].message)
    one, two = client.get_run(first), client.get_run(second)
    assert (one.info.status, two.info.status) == ("FINISHED", "FINISHED")
    assert one.data.metrics == {"loss": 49} and one.data.params == {"lr": "0.1"}
    assert two.data.metrics == {"acc": 49} and two.data.tags["after"] == "yes"
    assert [m.step for m in client.get_metric_history(first, "loss")] == list(range(50))
    assert client.get_metric_history(first, "bad") == []


@contextlib.contextmanager
def _refusing_writes(store):
    """The store refuses every write (as a full disk would) inside the block; yields the attempts."""
    calls = []

    def refuse(*args):
        calls.append(time.monotonic())
        raise StoreError("disk I/O error")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "write_batch", refuse)
        yield calls


def test_a_failing_store_warns_once_and_keeps_the_rows_until_it_works_again(capfd):
    client = fittrace.MlflowClient()
    run_id = client.create_run("0").info.run_id
    with _refusing_writes(client._recorder.store) as calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for step in range(100):
                client.log_metric(run_id, "m", step, step=step)
            deadline = time.monotonic() + 30
            while len(calls) < 8 and time.monotonic() < deadline:  # the writer retried
                time.sleep(0.05)
        assert len(calls) >= 8
        failures = [str(w.message) for w in caught if issubclass(w.category, StoreWarning)]
        assert len(failures) == 1 and "disk I/O error" in failures[0], failures
        assert "Traceback" not in capfd.readouterr().err
        with pytest.raises(StoreError, match="disk I/O error"):
            fittrace.flush()
    fittrace.flush()
    assert [m.step for m in client.get_metric_history(run_id, "m")] == list(range(100))


def test_ending_autologgings_run_warns_instead_of_raising_a_store_error():
    """A plain PyTorch loop's run is started on the user's behalf; the user ends it with end_run()."""
    run_id = runs.recorder.start_implicit_run({runs.AUTOLOGGING_TAG: "pytorch"})
    store = fittrace.MlflowClient()._recorder.store
    with _refusing_writes(store):
        fittrace.log_metric("loss", 0.5)
        with pytest.warns(StoreWarning, match=run_id):
            fittrace.end_run()
    assert fittrace.active_run() is None
    with fittrace.start_run() as run:  # the user's own run still reports store errors
        with _refusing_writes(store):
            fittrace.log_metric("loss", 0.25)
            with pytest.raises(StoreError, match="disk I/O error"):
                fittrace.end_run()
    assert fittrace.MlflowClient().get_run(run.info.run_id).info.status == "RUNNING"


def test_an_unrecognised_fittrace_sync_value_warns_when_recording_starts(monkeypatch, reopen):
    monkeypatch.setenv("FITTRACE_SYNC", "maybe")
    with pytest.warns(StoreWarning, match="FITTRACE_SYNC='maybe'"):
        client = reopen()
    assert client._recorder.sync is False


def test_log_metric_from_many_threads_under_backpressure_loses_nothing():
    run_id = fittrace.MlflowClient().create_run("0").info.run_id
    client = fittrace.MlflowClient()

    def work(n):
        for step in range(5000):
            client.log_metric(run_id, f"t{n}", step, step=step)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in range(4):
        assert [m.step for m in client.get_metric_history(run_id, f"t{n}")] == list(range(5000))


def test_a_param_another_process_logged_differently_is_dropped_with_a_warning():
    """The store catches the conflict in its transaction; the buffered writer drops only that row."""
    client = fittrace.MlflowClient()
    run_id = client.create_run("0").info.run_id
    client.log_param(run_id, "bs", 32)
    fittrace.flush()
    client._recorder.store.write_batch([], [(run_id, "lr", "0.1")], [])  # as another process
    with pytest.warns(StoreWarning, match=rf"param 'lr' of run {run_id}.*ParamConflictError"):
        client.log_param(run_id, "lr", 0.2)
        client.log_metric(run_id, "m", 1.0)
        fittrace.flush()
    run = client.get_run(run_id)
    assert run.data.params == {"bs": "32", "lr": "0.1"} and run.data.metrics == {"m": 1.0}
