"""What is particular to the PostgreSQL store; everything else runs against it through
``--tracking-store=postgresql`` (``nox -s stores`` runs tests/ and the scikit-learn suite so)."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("psycopg")

import fittrace  # noqa: E402
from fittrace.exceptions import StoreError  # noqa: E402
from fittrace.testing import new_postgres_database  # noqa: E402


def test_a_missing_database_is_named_without_the_password(postgres_server):
    host = postgres_server.split("@", 1)[1].rsplit("/", 1)[0]
    uri = f"postgresql://fittrace:s3cret@{host}/no_such_db"
    with pytest.raises(StoreError, match="no_such_db") as info:
        fittrace.MlflowClient(uri).search_experiments()
    assert "s3cret" not in str(info.value) and "***" in str(info.value)


def test_the_schema_is_created_once_and_reused(postgres_server, monkeypatch, tmp_path):
    import psycopg

    uri = new_postgres_database(postgres_server)
    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", str(tmp_path))
    first = fittrace.MlflowClient(uri).create_experiment("kept")
    fittrace.testing.reset_tracking()
    assert fittrace.MlflowClient(uri).get_experiment_by_name("kept").experiment_id == first
    with psycopg.connect(uri) as conn:
        assert conn.execute("SELECT version FROM fittrace_schema").fetchall() == [(1,)]


def test_threads_registering_versions_get_distinct_numbers(postgres_server, monkeypatch, tmp_path):
    """Registry numbering is a read-then-write; the advisory lock keeps concurrent writers apart."""
    uri = new_postgres_database(postgres_server)
    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", str(tmp_path))
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
    assert sorted(versions, key=int) == [str(v) for v in range(1, 9)]
