"""Every integration test: its own tracking store in tmp_path, autolog errors raised, no patches left behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fittrace.autologging import safety, unpatch
from fittrace.testing import reset_tracking
from fittrace.tracking.client import Client

_ENV_VARS = ("FITTRACE_TRACKING_URI", "MLFLOW_TRACKING_URI", "FITTRACE_ARTIFACT_ROOT", "FITTRACE_AUTOLOG",
             "FITTRACE_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME", "FITTRACE_SYNC")  # fmt: skip


@pytest.fixture(autouse=True)
def tracking_uri(new_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test's own store (root conftest); FITTRACE_TESTING=1 so autolog bugs fail the test; unpatch after."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    uri = new_store.uri
    if new_store.artifact_root:
        monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", new_store.artifact_root)
    monkeypatch.setenv("FITTRACE_TRACKING_URI", uri)
    monkeypatch.setenv("FITTRACE_TESTING", "1")
    monkeypatch.chdir(tmp_path)
    safety.reset_warnings()
    reset_tracking()
    yield uri
    unpatch()
    reset_tracking()


@pytest.fixture
def runs() -> Callable[[], list]:
    """Every run of the default experiment, oldest first."""

    def _runs() -> list:
        return sorted(Client().search_runs(["0"]), key=lambda r: (r.info.start_time, r.info.run_id))

    return _runs


@pytest.fixture
def history() -> Callable[[str, str], list[tuple[int, float]]]:
    """``(step, value)`` pairs of a run's metric, in step order."""

    def _history(run_id: str, key: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in Client().get_metric_history(run_id, key))

    return _history
