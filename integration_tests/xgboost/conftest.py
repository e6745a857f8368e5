"""Each test gets its own tracking store in tmp_path, a clean fluent state and no leftover patches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import fittrace
from fittrace.autologging import safety, unpatch
from fittrace.tracking import fluent, stores
from fittrace.tracking.client import Client


def _reset() -> None:
    while fittrace.active_run() is not None:
        fittrace.end_run()
    stores.set_tracking_uri(None)
    fluent._state.update(experiment=None, last_run=None)
    for recorder in list(stores._open.values()):
        recorder.flush()
    stores._open.clear()


@pytest.fixture(autouse=True)
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh store under tmp_path, autolog errors raised (FITTRACE_TESTING=1), patches removed after."""
    for name in (
        "FITTRACE_TRACKING_URI",
        "MLFLOW_TRACKING_URI",
        "FITTRACE_ARTIFACT_ROOT",
        "FITTRACE_AUTOLOG",
    ):
        monkeypatch.delenv(name, raising=False)
    uri = f"sqlite:///{tmp_path / 'fitruns' / 'fittrace.db'}"
    monkeypatch.setenv("FITTRACE_TRACKING_URI", uri)
    monkeypatch.setenv("FITTRACE_TESTING", "1")
    monkeypatch.chdir(tmp_path)
    safety.reset_warnings()
    _reset()
    yield uri
    unpatch()
    _reset()


@pytest.fixture
def runs() -> Callable[[], list]:
    """Every run of the default experiment, oldest first."""

    def _runs() -> list:
        found = Client().search_runs(["0"])
        return sorted(found, key=lambda r: (r.info.start_time, r.info.run_id))

    return _runs


@pytest.fixture
def history() -> Callable[[str, str], list[tuple[int, float]]]:
    """``(step, value)`` pairs of a run's metric, in step order."""

    def _history(run_id: str, key: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in Client().get_metric_history(run_id, key))

    return _history


@pytest.fixture
def binary_data() -> tuple[np.ndarray, np.ndarray]:
    """240 rows, 5 features, a noisy binary label."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(240, 5))
    y = (X[:, 0] - 0.5 * X[:, 1] + 0.8 * rng.normal(size=240) > 0).astype(int)
    return X, y
