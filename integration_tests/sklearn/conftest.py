"""Each test: its own tracking store in tmp_path, autolog errors raised, no patches left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fittrace.tracking.client import Client


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
