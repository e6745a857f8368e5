"""System tags live under MLflow's names; the ``fittrace.`` spellings keep working everywhere."""

from __future__ import annotations

import getpass
import sqlite3

import fittrace


def test_system_tags_are_stored_once_under_mlflow_names():
    with fittrace.start_run(run_name="first", description="why") as parent:
        with fittrace.start_run(nested=True) as child:
            pass
    run = fittrace.get_run(child.info.run_id)
    tags = run.data.tags
    assert tags["mlflow.parentRunId"] == parent.info.run_id
    assert tags["mlflow.user"] == getpass.getuser()
    assert not [k for k in tags if k.startswith("fittrace.")]
    assert fittrace.get_run(parent.info.run_id).data.tags["mlflow.note.content"] == "why"
    # MLflow code drops the mlflow.* keys and compares what is left
    assert {k: v for k, v in tags.items() if not k.startswith("mlflow.")} == {}


def test_fittrace_spellings_are_aliases_on_write_lookup_and_search():
    with fittrace.start_run(run_name="a") as run:
        fittrace.set_tag("fittrace.note.content", "written with the old spelling")
    tags = fittrace.get_run(run.info.run_id).data.tags
    assert tags["mlflow.note.content"] == "written with the old spelling"
    assert tags["fittrace.note.content"] == tags.get("fittrace.note.content")
    assert "fittrace.runName" in tags and tags["fittrace.runName"] == "a"
    assert "fittrace.missing" not in tags and tags.get("fittrace.missing", 1) == 1
    for spelling in ("mlflow", "fittrace"):
        found = fittrace.search_runs(
            filter_string=f"tags.{spelling}.runName = 'a'", output_format="list"
        )
        assert [r.info.run_id for r in found] == [run.info.run_id]


def test_an_older_store_has_its_fittrace_tags_renamed_on_open(db_path, sql, reopen):
    with fittrace.start_run(run_name="old") as run:
        pass
    fittrace.flush()
    # Rewind the file to how the previous release wrote it: schema 1, fittrace.* keys, metrics
    # one row per point.
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(
            "UPDATE tags SET key = 'fittrace.' || substr(key, 8) WHERE key LIKE 'mlflow.%'"
        )
        conn.execute("DROP TABLE metric_blocks")
        conn.execute(
            "CREATE TABLE metrics (run_uuid TEXT NOT NULL, key TEXT NOT NULL, value REAL,"
            " is_nan INTEGER NOT NULL DEFAULT 0, timestamp INTEGER NOT NULL,"
            " step INTEGER NOT NULL DEFAULT 0)"
        )
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    assert sql("SELECT count(*) FROM tags WHERE key LIKE 'mlflow.%'") == [(0,)]
    client = reopen()
    tags = client.get_run(run.info.run_id).data.tags
    assert tags["mlflow.runName"] == "old"
    assert not [k for k in tags if k.startswith("fittrace.")]
