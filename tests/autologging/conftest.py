"""Fixtures for the autologging machinery: a fake framework written to tmp_path and its integration."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
from fakeml_support import SOURCE, make_integration

from fittrace.autologging import Integration, registry, safety


@pytest.fixture
def tracking(tracking_uri, monkeypatch) -> str:
    """The test's tracking store (tests/conftest.py), synchronous writes, autolog errors raised."""
    monkeypatch.setenv("FITTRACE_SYNC", "1")
    monkeypatch.setenv("FITTRACE_TESTING", "1")
    return tracking_uri


@pytest.fixture
def fake_source(tmp_path, monkeypatch) -> Iterator[str]:
    """``fakeml.py`` in a directory on sys.path (not imported yet); its module name."""
    folder = tmp_path / "fakeml_src"
    folder.mkdir()
    (folder / "fakeml.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    yield "fakeml"
    sys.modules.pop("fakeml", None)


@pytest.fixture
def integration(fake_source, monkeypatch) -> Iterator[Integration]:
    """The fake integration registered directly; entry points are not loaded."""
    monkeypatch.setattr(registry, "_discovered", True)
    safety.reset_warnings()
    integ = make_integration()
    registry.register(integ)
    yield integ
    registry.unregister("fakeml")


@pytest.fixture
def fakeml(integration, tracking) -> ModuleType:
    """The fake framework, imported, with autologging enabled."""
    integration.autolog()
    return importlib.import_module("fakeml")


@pytest.fixture
def all_runs():
    """A function returning every run of the default experiment, oldest first."""
    from fittrace.tracking.client import Client

    def _runs(experiment_id: str = "0"):
        return sorted(
            Client().search_runs([experiment_id]), key=lambda r: (r.info.start_time, r.info.run_id)
        )

    return _runs
