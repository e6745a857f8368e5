"""What is particular to the PostgreSQL store; everything else runs against it through
``--tracking-store=postgresql`` (``nox -s stores`` runs tests/ and the scikit-learn suite so)."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("psycopg")

import fittrace  # noqa: E402
from fittrace.exceptions import StoreError  # noqa: E402
from fittrace.store.schema import SCHEMA_VERSION  # noqa: E402
from fittrace.testing import (  # noqa: E402
    drop_postgres_database,
    new_postgres_database,
    reset_tracking,
)
from fittrace.tracking import stores  # noqa: E402


@pytest.fixture
def uri(postgres_server, monkeypatch, tmp_path) -> Iterator[str]:
    """The URI of a new database (artifacts in ``tmp_path``), dropped when the test ends."""
    database = new_postgres_database(postgres_server)
    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", str(tmp_path))
    yield database
    reset_tracking()
    drop_postgres_database(postgres_server, database)


def test_a_missing_database_is_named_without_the_password(postgres_server):
    host = postgres_server.split("@", 1)[1].rsplit("/", 1)[0]
    uri = f"postgresql://fittrace:s3cret@{host}/no_such_db"
    with pytest.raises(StoreError, match="no_such_db") as info:
        fittrace.MlflowClient(uri).search_experiments()
    assert "s3cret" not in str(info.value) and "***" in str(info.value)


def test_the_schema_is_created_once_and_reused(uri):
    import psycopg

    first = fittrace.MlflowClient(uri).create_experiment("kept")
    reset_tracking()
    assert fittrace.MlflowClient(uri).get_experiment_by_name("kept").experiment_id == first
    with psycopg.connect(uri) as conn:
        assert conn.execute("SELECT version FROM fittrace_schema").fetchall() == [(SCHEMA_VERSION,)]


def test_threads_registering_versions_get_distinct_numbers(uri):
    """Registry numbering is a read-then-write; the advisory lock keeps concurrent writers apart."""
    client = fittrace.MlflowClient(uri)
    client.create_registered_model("shared")
    versions: list[str] = []

    def register(i: int) -> None:
        versions.append(client.create_model_version("shared", f"runs:/r{i}/model").version)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(versions) == list(range(1, 9))


def _sessions(uri: str) -> int:
    import psycopg

    with psycopg.connect(uri) as conn:  # this probe's own session is not counted
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchone()[0]


def test_a_thread_that_ends_gives_its_connection_back(uri):
    client = fittrace.MlflowClient(uri)
    run = client.create_run("0")
    client.log_metric(run.info.run_id, "warm", 1.0)
    client.flush()  # the main thread and the background writer have their connections now
    baseline = _sessions(uri)
    for _ in range(3):  # short-lived threads, as a server or a thread-per-task script makes them
        threads = [threading.Thread(target=client.search_experiments) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    deadline = time.monotonic() + 10  # a thread's state and a server backend end just after join()
    while _sessions(uri) > baseline and time.monotonic() < deadline:
        gc.collect()  # a thread's locals in a reference cycle wait for the collector
        time.sleep(0.05)
    assert _sessions(uri) == baseline  # 30 threads came and went, leaving no connection open


def test_a_forked_child_leaves_the_parents_session_working(uri):
    client = fittrace.MlflowClient(uri)
    experiment = client.create_experiment("before-fork")
    pid = os.fork()
    if pid == 0:  # the child tracks on its own connection and drops the inherited ones
        status = 1
        try:
            fittrace.MlflowClient(uri).create_experiment("from-child")
            for conn in stores.recorder_for(uri).store.connections():  # inherited ones included
                conn.close()  # libpq says goodbye, on a socket an inherited one shares
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    gc.collect()
    assert client.get_experiment(experiment).name == "before-fork"  # the parent's session lives
    assert client.get_experiment_by_name("from-child") is not None
