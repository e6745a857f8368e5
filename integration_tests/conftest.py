"""Every integration test: its own tracking store in tmp_path, autolog errors raised, no patches left behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from fittrace.autologging import safety, unpatch
from fittrace.testing import reset_tracking
from fittrace.tracking.client import Client


@pytest.fixture(autouse=True)
def tracking_uri(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test's own store (root conftest); FITTRACE_TESTING=1 so autolog bugs fail the test; unpatch after."""
    monkeypatch.setenv("FITTRACE_TESTING", "1")
    safety.reset_warnings()
    reset_tracking()
    yield store_uri
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
