"""Tracking stores that fail, for the plugins' safety checks (the training must not notice)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from fittrace.autologging import AutologgingWarning
from fittrace.autologging import runs as autolog_runs

STORE_FAULTS = ["down", "lossy"]


def _unavailable() -> None:
    """One place that fails: one cause, so one warning per integration."""
    raise OSError("tracking store unavailable")


class _LossyClient:
    """Runs start and end and take params and tags; metrics, artifacts and inputs fail."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def log_batch(self, run_id: str, metrics: Any = (), params: Any = (), tags: Any = ()) -> None:
        if metrics:
            _unavailable()
        self._client.log_batch(run_id, params=params, tags=tags)

    def __getattr__(self, name: str) -> Any:
        if name.startswith(("log_artifact", "log_text", "log_dict", "log_figure", "log_inputs")):
            _unavailable()
        return getattr(self._client, name)


def break_store(monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    """From now on the autologging machinery's store is ``down`` (nothing works) or ``lossy``."""

    class Broken(autolog_runs.Recorder):
        def client(self) -> Any:
            if fault == "down":
                raise OSError("tracking store unavailable")
            return _LossyClient(super().client())

        def start_run(self, tags: Any, nested: bool) -> str:
            if fault == "down":
                raise OSError("tracking store unavailable")
            return super().start_run(tags, nested)

    monkeypatch.delenv("FITTRACE_TESTING")
    monkeypatch.setattr(autolog_runs, "recorder", Broken())


def assert_unchanged_with_one_warning(train: Callable[[], Any], compare: Callable) -> None:
    """``train()`` gives what it gave before, and each integration involved warned exactly once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = train()
    compare(got)
    warned = [str(w.message) for w in caught if issubclass(w.category, AutologgingWarning)]
    integrations = [message.split("'")[1] for message in warned]
    assert warned and len(set(integrations)) == len(integrations), warned
