"""Each test gets its own tracking store in tmp_path and a clean fluent state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import fittrace
from fittrace.tracking import fluent, stores


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "mlflow_interop: needs the real mlflow package (nox session 'interop')"
    )


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
    for name in (
        "FITTRACE_TRACKING_URI",
        "MLFLOW_TRACKING_URI",
        "FITTRACE_ARTIFACT_ROOT",
        "FITTRACE_EXPERIMENT_NAME",
    ):
        monkeypatch.delenv(name, raising=False)
    uri = f"sqlite:///{tmp_path / 'fitruns' / 'fittrace.db'}"
    monkeypatch.setenv("FITTRACE_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    _reset()
    yield uri
    _reset()
