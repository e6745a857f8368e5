"""Each test: its own tracking store in tmp_path, autolog errors raised, no patches left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
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
    """A fresh store under tmp_path; FITTRACE_TESTING=1 so autolog bugs fail the test; unpatch after."""
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
def artifact_text() -> Callable[[str, str], str]:
    """The text of one artifact file of a run."""

    def _read(run_id: str, path: str) -> str:
        local = Client().download_artifacts(run_id, path)
        return Path(local).read_text(encoding="utf-8")

    return _read


@pytest.fixture
def binary_data() -> tuple[np.ndarray, np.ndarray]:
    """300 rows, 6 features, a noisy binary label."""
    from sklearn.datasets import make_classification

    return make_classification(n_samples=300, n_features=6, n_informative=4, random_state=0)


@pytest.fixture
def multiclass_data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=1
    )


@pytest.fixture
def regression_data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_regression

    return make_regression(n_samples=200, n_features=5, noise=3.0, random_state=0)


@pytest.fixture
def run_script(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run Python code in a fresh interpreter (cwd tmp_path, the test's environment plus ``env``)."""

    def _run(
        code: str, env: dict[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess:
        script = tmp_path / "script.py"
        script.write_text(textwrap.dedent(code).lstrip())
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        return result

    return _run
