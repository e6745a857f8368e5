"""Shared by tests/ and integration_tests/: which store a test tracks into.

``--tracking-store=sqlite`` (default): a SQLite file in the test's temporary folder.
``--tracking-store=postgresql``: a fresh database per test on the PostgreSQL server
``fittrace.testing.postgres_server`` starts for the session (``FITTRACE_TEST_POSTGRES_URI``
names an existing server instead), dropped when the test ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fittrace.testing import drop_postgres_database, new_postgres_database, reset_tracking
from fittrace.testing import postgres_server as running_postgres

# Settings a developer's shell may hold that would send a test's runs elsewhere.
_ENV_VARS = (
    "FITTRACE_TRACKING_URI", "MLFLOW_TRACKING_URI", "FITTRACE_ARTIFACT_ROOT", "FITTRACE_SYNC",
    "FITTRACE_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME", "FITTRACE_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_ID", "FITTRACE_AUTOLOG", "FITTRACE_TESTING", "FITTRACE_TRACKING_TOKEN",
    "FITTRACE_ENABLE_SYSTEM_METRICS_LOGGING", "FITTRACE_SYSTEM_METRICS_INTERVAL",
    "FITTRACE_AUTOLOG_LOG_SYSTEM_METRICS",
)  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--tracking-store",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the store every test tracks into (postgresql: a server started for the session)",
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with running_postgres() as uri:
        yield uri


@pytest.fixture
def store_uri(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """This test's own empty store, of the kind ``--tracking-store`` asks for, as
    FITTRACE_TRACKING_URI; other tracking settings cleared; the working directory ``tmp_path``.

    PostgreSQL stores put artifacts in ``tmp_path/fitruns/artifacts``, where SQLite's go. Tests
    marked ``sqlite_store``, or opening the SQLite file themselves (fixtures ``db_path``,
    ``sql``), run only against SQLite.
    """
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    server = None
    if request.config.getoption("--tracking-store") == "sqlite":
        uri = f"sqlite:///{tmp_path / 'fitruns' / 'fittrace.db'}"
    elif request.node.get_closest_marker("sqlite_store") or {"db_path", "sql"} & set(
        request.fixturenames
    ):
        pytest.skip("about the SQLite file itself; runs in the SQLite suite")
    else:
        server = request.getfixturevalue("postgres_server")
        uri = new_postgres_database(server)
        monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", str(tmp_path / "fitruns" / "artifacts"))
    monkeypatch.setenv("FITTRACE_TRACKING_URI", uri)
    # Off unless a test is about it: the background capture adds environment/ and code/
    # artifacts that would change every other test's artifact listings.
    monkeypatch.setenv("FITTRACE_LOG_PROVENANCE", "false")
    monkeypatch.chdir(tmp_path)
    yield uri
    if server is not None:
        reset_tracking()  # closes this process's connections to the database
        drop_postgres_database(server, uri)


@pytest.fixture
def ui_server() -> Iterator[Callable[..., str]]:
    """Starts the UI (``make_server``'s keyword arguments) on a free port over the test's store
    and returns its base URL; every server started is stopped after the test."""
    from fittrace.ui import make_server

    started = []

    def start(**kwargs: Any) -> str:
        server = make_server(None, "127.0.0.1", 0, **kwargs)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        started.append((server, thread))
        return server.url

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(10)
