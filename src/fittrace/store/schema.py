"""The tracking database schema as an ordered list of forward migrations.

``PRAGMA user_version`` holds how many migrations a SQLite file has applied;
opening a store applies the missing ones in one transaction. A migration is SQL, or a function
of the connection and the column ordering rows by insertion (``SqlStore._row_order``).
Timestamps are integer milliseconds since the epoch.
"""

from __future__ import annotations

import itertools
import logging
import operator
from collections.abc import Callable
from typing import Any

from fittrace.store import metric_blocks

_logger = logging.getLogger(__name__)


def metric_rows_to_blocks(conn: Any, row_order: str) -> None:
    """Migration 7: each run's metrics rows become one ordered block per key."""
    points = conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    if points > 100_000:
        _logger.warning(
            "fittrace: moving this store's %s metric points into column blocks (once; about"
            " 5 s per million)",
            f"{points:,}",
        )
    runs = [r[0] for r in conn.execute("SELECT DISTINCT run_uuid FROM metrics").fetchall()]
    for run_id in runs:
        rows = conn.execute(
            "SELECT key, step, timestamp, value, is_nan FROM metrics WHERE run_uuid = ?"
            f" ORDER BY key, step, timestamp, {row_order}",
            (run_id,),
        ).fetchall()
        for key, points in itertools.groupby(rows, operator.itemgetter(0)):
            _, steps, timestamps, values, nans = zip(*points, strict=True)
            values = [float("nan") if n else v for v, n in zip(values, nans, strict=True)]
            conn.execute(
                "INSERT INTO metric_blocks (run_uuid, key, ordered, steps, timestamps, vals)"
                " VALUES (?, ?, 1, ?, ?, ?)",
                (
                    run_id,
                    key,
                    *metric_blocks.packed(metric_blocks.block(steps, timestamps, values)),
                ),
            )
    conn.execute("DROP TABLE metrics")


MIGRATIONS: list[str | Callable[[Any, str], None]] = [
    # 1: tracking and registry
    """
    CREATE TABLE experiments (
        experiment_id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        artifact_location TEXT NOT NULL,
        lifecycle_stage TEXT NOT NULL DEFAULT 'active',
        creation_time INTEGER,
        last_update_time INTEGER
    );
    CREATE TABLE experiment_tags (
        experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
        key TEXT NOT NULL,
        value TEXT,
        PRIMARY KEY (experiment_id, key)
    );
    CREATE TABLE runs (
        run_uuid TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
        user_id TEXT,
        status TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        end_time INTEGER,
        artifact_uri TEXT NOT NULL,
        lifecycle_stage TEXT NOT NULL DEFAULT 'active',
        owner_host TEXT,
        owner_pid INTEGER,
        owner_start TEXT
    );
    CREATE INDEX runs_experiment ON runs(experiment_id, start_time);
    CREATE TABLE params (
        run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_uuid, key)
    );
    CREATE TABLE tags (
        run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
        key TEXT NOT NULL,
        value TEXT,
        PRIMARY KEY (run_uuid, key)
    );
    CREATE TABLE metrics (
        run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
        key TEXT NOT NULL,
        value REAL,
        is_nan INTEGER NOT NULL DEFAULT 0,
        timestamp INTEGER NOT NULL,
        step INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX metrics_run_key ON metrics(run_uuid, key, step);
    CREATE TABLE latest_metrics (
        run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
        key TEXT NOT NULL,
        value REAL,
        is_nan INTEGER NOT NULL DEFAULT 0,
        timestamp INTEGER NOT NULL,
        step INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (run_uuid, key)
    );
    CREATE INDEX latest_metrics_key ON latest_metrics(key, value);
    CREATE INDEX params_key ON params(key, value);
    CREATE INDEX tags_key ON tags(key, value);
    CREATE TABLE inputs (
        run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
        name TEXT NOT NULL,
        digest TEXT NOT NULL,
        source_type TEXT,
        source TEXT,
        schema TEXT,
        profile TEXT,
        context TEXT,
        PRIMARY KEY (run_uuid, name, digest, context)
    );
    CREATE TABLE registered_models (
        name TEXT PRIMARY KEY,
        creation_time INTEGER NOT NULL,
        last_updated_time INTEGER NOT NULL,
        description TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE registered_model_tags (
        name TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT,
        PRIMARY KEY (name, key)
    );
    CREATE TABLE model_versions (
        name TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        creation_time INTEGER NOT NULL,
        last_updated_time INTEGER NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL,
        run_id TEXT,
        status TEXT NOT NULL DEFAULT 'READY',
        PRIMARY KEY (name, version)
    );
    CREATE TABLE model_version_tags (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT,
        PRIMARY KEY (name, version, key),
        FOREIGN KEY (name, version) REFERENCES model_versions(name, version) ON DELETE CASCADE
    );
    CREATE TABLE registered_model_aliases (
        name TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE,
        alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (name, alias)
    );
    """,
    # 2: system tags move to MLflow's names (fittrace.<x> -> mlflow.<x>), see fittrace.tags
    """
    UPDATE tags SET key = 'mlflow.' || substr(key, 10) WHERE key LIKE 'fittrace.%';
    UPDATE experiment_tags SET key = 'mlflow.' || substr(key, 10) WHERE key LIKE 'fittrace.%'
    """,
    # 3: the keys of write batches already applied, so a batch sent again is applied once
    """
    CREATE TABLE IF NOT EXISTS batch_keys (
        key TEXT PRIMARY KEY,
        created INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS batch_keys_created ON batch_keys(created);
    """,
    # 4: an experiment's active runs, newest first, from the index alone (the runs page of the
    # UI: counts, and deep pages without reading the skipped rows)
    """
    CREATE INDEX IF NOT EXISTS runs_experiment_stage
        ON runs(experiment_id, lifecycle_stage, start_time DESC, run_uuid);
    """,
    # 5: searches at 100,000 runs: a filter on a param or metric, and a walk along a metric's
    # values, read the run ids from the index alone; a metric's history comes out of its
    # index in order, without a sort (each replaces the index it extends)
    """
    CREATE INDEX IF NOT EXISTS params_key_run ON params(key, value, run_uuid);
    DROP INDEX IF EXISTS params_key;
    CREATE INDEX IF NOT EXISTS latest_metrics_key_run ON latest_metrics(key, value, run_uuid);
    DROP INDEX IF EXISTS latest_metrics_key;
    CREATE INDEX IF NOT EXISTS metrics_history ON metrics(run_uuid, key, step, timestamp);
    DROP INDEX IF EXISTS metrics_run_key;
    """,
    # 6: metric histories in column blocks (see fittrace.store.metric_blocks): a history of a
    # million points reads in a few hundred rows
    """
    CREATE TABLE IF NOT EXISTS metric_blocks (
        block_id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
        key TEXT NOT NULL,
        ordered INTEGER NOT NULL,
        steps BLOB NOT NULL,
        timestamps BLOB NOT NULL,
        vals BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS metric_blocks_run_key ON metric_blocks(run_uuid, key, block_id)
    """,
    # 7: the metrics table's rows move into blocks, and the table goes
    metric_rows_to_blocks,
    # 8: a filter's candidate runs (from a param's or metric's index) checked against the
    # experiment and lifecycle stage, with their start times, from the index alone (the
    # runs page's filtered counts and deep pages read no table rows)
    """
    CREATE INDEX IF NOT EXISTS runs_run_scope
        ON runs(run_uuid, experiment_id, lifecycle_stage, start_time);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
