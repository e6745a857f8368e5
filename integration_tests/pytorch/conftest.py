"""PyTorch tests: a fresh tracking store per test, autolog errors raised, no patches or sessions left behind.

Everything is tiny (two CPU cores): 20 features, a 16-unit hidden layer, a few epochs of a
few batches, one torch thread.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import fittrace  # noqa: E402
from fittrace.autologging import safety, unpatch  # noqa: E402
from fittrace.tracking import fluent, stores  # noqa: E402
from fittrace.tracking.client import Client  # noqa: E402

torch.set_num_threads(1)


def _end_tracking() -> None:
    from fittrace.pytorch import _loop

    _loop.TRACKER.end_session("FINISHED")
    while fittrace.active_run() is not None:
        fittrace.end_run()
    stores.set_tracking_uri(None)
    fluent._state.update(experiment=None, last_run=None)
    for recorder in list(stores._open.values()):
        recorder.flush()
    stores._open.clear()


@pytest.fixture(autouse=True)
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A store under tmp_path, FITTRACE_TESTING=1, no rank variables; unpatched afterwards."""
    for name in ("FITTRACE_TRACKING_URI", "MLFLOW_TRACKING_URI", "FITTRACE_AUTOLOG", "RANK", "LOCAL_RANK",
                 "SLURM_PROCID", "JSM_NAMESPACE_RANK"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    uri = f"sqlite:///{tmp_path / 'fitruns' / 'fittrace.db'}"
    monkeypatch.setenv("FITTRACE_TRACKING_URI", uri)
    monkeypatch.setenv("FITTRACE_TESTING", "1")
    monkeypatch.chdir(tmp_path)
    safety.reset_warnings()
    _end_tracking()
    torch.manual_seed(0)
    yield uri
    _end_tracking()
    unpatch()


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def runs(client: Client) -> Callable[[], list]:
    """Every run of the default experiment, oldest first."""

    def _runs() -> list:
        return sorted(client.search_runs(["0"]), key=lambda r: (r.info.start_time, r.info.run_id))

    return _runs


@pytest.fixture
def history(client: Client) -> Callable[[str, str], list[tuple[int, float]]]:
    """(step, value) pairs of a metric, in logging order."""

    def _history(run_id: str, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]

    return _history


@pytest.fixture
def regression() -> tuple:
    """Train (96 rows) and validation (32 rows) tensors: 20 features, a linear target with noise."""
    x = torch.randn(128, 20)
    y = x[:, :3].sum(1, keepdim=True) + 0.1 * torch.randn(128, 1)
    return x[:96], y[:96], x[96:], y[96:]


@pytest.fixture
def run_script(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run Python code in a fresh interpreter (cwd tmp_path, this test's environment plus ``env``)."""

    def _run(
        code: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        script = tmp_path / "train.py"
        script.write_text(textwrap.dedent(code).lstrip())
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert result.returncode == 0, result.stderr[-4000:]
        return result

    return _run
