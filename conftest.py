"""Shared by tests/ and integration_tests/: which store a test tracks into.

``--tracking-store=sqlite`` (default): a SQLite file in the test's temporary folder.
``--tracking-store=postgresql``: a fresh database per test on the PostgreSQL server
``fittrace.testing.postgres_server`` starts for the session (``FITTRACE_TEST_POSTGRES_URI``
names an existing server instead).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from fittrace.testing import new_postgres_database
from fittrace.testing import postgres_server as running_postgres


class NewStore(NamedTuple):
    uri: str
    artifact_root: str | None  # to set as FITTRACE_ARTIFACT_ROOT; None: beside the SQLite file


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
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> NewStore:
    """An empty store of the kind ``--tracking-store`` asks for, for this test alone.

    Tests marked ``sqlite_store``, or opening the SQLite file themselves (fixtures
    ``db_path``, ``sql``), run only against SQLite.
    """
    if request.config.getoption("--tracking-store") == "sqlite":
        return NewStore(f"sqlite:///{tmp_path / 'fitruns' / 'fittrace.db'}", None)
    if request.node.get_closest_marker("sqlite_store") or {"db_path", "sql"} & set(
        request.fixturenames
    ):
        pytest.skip("about the SQLite file itself; runs in the SQLite suite")
    uri = new_postgres_database(request.getfixturevalue("postgres_server"))
    return NewStore(uri, str(tmp_path / "fitruns" / "artifacts"))
