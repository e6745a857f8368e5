"""Opt-in system metrics: sampled in a background thread while the run is open, stopped with it."""

from __future__ import annotations

import threading
import time

import pytest

import fittrace
from fittrace.tracking import system_metrics

HOST_METRICS = [
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage",
    "system/process_memory_rss_megabytes",
]


@pytest.fixture(autouse=True)
def fast_sampling(monkeypatch):
    monkeypatch.setenv(system_metrics.INTERVAL_ENV, "0.25")
    monkeypatch.setitem(system_metrics._switch, "enabled", None)


def _sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fittrace-system-metrics")]


def _history(run_id: str, key: str) -> list:
    return fittrace.MlflowClient().get_metric_history(run_id, key)


def test_three_second_training_records_samples_and_stops_the_thread():
    with fittrace.start_run(log_system_metrics=True) as run:
        assert len(_sampler_threads()) == 1
        deadline, step = time.monotonic() + 3, 0
        while time.monotonic() < deadline:
            sum(i * i for i in range(20_000))  # a little CPU work per "batch"
            fittrace.log_metric("loss", 1 / (step + 1), step=step)
            step += 1
            time.sleep(0.01)
    assert _sampler_threads() == []
    for key in HOST_METRICS:
        history = _history(run.info.run_id, key)
        assert len(history) >= 2, key
        assert [m.step for m in history] == list(range(len(history)))
    cpu = [m.value for m in _history(run.info.run_id, HOST_METRICS[0])]
    assert all(0 <= v <= 100 for v in cpu) and max(cpu) > 0
    assert all(m.value > 1 for m in _history(run.info.run_id, HOST_METRICS[3]))
    metrics = fittrace.get_run(run.info.run_id).data.metrics
    for key in ("disk_usage_percentage", "network_receive_megabytes", "disk_read_megabytes"):
        assert "system/" + key in metrics


def test_global_switch_argument_and_environment(monkeypatch):
    def sampled() -> bool:
        with fittrace.start_run(log_system_metrics=log) as run:
            time.sleep(0.3)
        return bool(_history(run.info.run_id, HOST_METRICS[0]))

    log = None
    assert not sampled()  # off by default
    fittrace.enable_system_metrics_logging()
    assert sampled()
    log = False
    assert not sampled()  # the argument wins over the switch
    log = None
    fittrace.disable_system_metrics_logging()
    monkeypatch.setenv(system_metrics.ENABLE_ENV, "true")
    assert not sampled()  # disable_system_metrics_logging() wins over the variable
    monkeypatch.setitem(system_metrics._switch, "enabled", None)
    assert sampled()
    assert _sampler_threads() == []


def test_bad_interval_falls_back_to_the_default(monkeypatch, caplog):
    monkeypatch.setenv(system_metrics.INTERVAL_ENV, "soon")
    assert system_metrics.interval() == system_metrics.DEFAULT_INTERVAL_S
    assert "FITTRACE_SYSTEM_METRICS_INTERVAL" in caplog.text


def test_psutil_reader_gives_the_proc_readers_metrics():
    pytest.importorskip("psutil")
    proc, other = system_metrics.ProcReader(), system_metrics.PsutilReader()
    assert set(other.sample()) == set(proc.sample())
