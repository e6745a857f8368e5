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

from fittrace.tracking.client import Client  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def torch_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Rank 0 by default, seeded weights, and no plain-loop session carried over between tests."""
    from fittrace.pytorch import _loop

    for name in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(name, raising=False)
    torch.manual_seed(0)
    yield
    _loop.TRACKER.end_session("FINISHED")


@pytest.fixture
def client() -> Client:
    return Client()


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
