"""Every test gets its own tracking store (``--tracking-store``: see the root conftest) and a clean fluent state."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import fittrace
from fittrace.testing import reset_tracking, tracking_server


@pytest.fixture(autouse=True)
def tracking_uri(store_uri: str) -> Iterator[str]:
    """The test's own store (root conftest), with a clean fluent state before and after."""
    reset_tracking()
    yield store_uri
    reset_tracking()


@pytest.fixture
def server(tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A writable tracking server over the test's store; the fluent API and Client() use it."""
    monkeypatch.setenv("FITTRACE_HTTP_RETRIES", "1")
    with tracking_server(tracking_uri, writable=True) as url:
        fittrace.set_tracking_uri(url)
        yield url


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """The SQLite file the autouse fixture points the tracking URI at."""
    return tmp_path / "fitruns" / "fittrace.db"


@pytest.fixture
def reopen() -> Callable[[], fittrace.MlflowClient]:
    """Forget every open store and return a Client on a freshly opened one (as a new process would)."""

    def _reopen() -> fittrace.MlflowClient:
        reset_tracking()
        return fittrace.MlflowClient()

    return _reopen


@pytest.fixture
def sql(db_path: Path) -> Callable[..., list[tuple]]:
    """Run a query straight on the test's SQLite file, bypassing fittrace; returns all rows."""

    def _sql(query: str, args: tuple = ()) -> list[tuple]:
        conn = sqlite3.connect(db_path, timeout=30)
        try:
            return conn.execute(query, args).fetchall()
        finally:
            conn.close()

    return _sql


@pytest.fixture
def run_python(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run a Python script in a subprocess with the test's environment; returns the CompletedProcess."""

    def _run(
        code: str,
        *,
        name: str = "script.py",
        cwd: Path | None = None,
        env: dict | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess:
        path = (cwd or tmp_path) / name
        path.write_text(textwrap.dedent(code).lstrip())
        return subprocess.run(
            [sys.executable, str(path)],
            cwd=cwd or tmp_path,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return _run
