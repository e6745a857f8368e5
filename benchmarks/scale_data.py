"""Large stores for the scale benchmarks: runs and params written straight into the tables.

    python benchmarks/scale_data.py [--runs 100000] [--params 20] [--metrics 10]
        [--history 1000000] [--mlflow]

One experiment holds ``runs`` finished runs, each with ``params`` params ``p0..`` (param ``pk``
takes ``k + 2`` distinct values, so ``params.p2 = '3'`` matches a quarter of the runs),
``metrics`` metrics ``m0..`` (one uniform random value each) and its run name tag; one more
run, ``history``, holds a ``loss`` metric of ``history`` points. The same content goes into
fittrace's SQLite store, fittrace's PostgreSQL store (``fill_postgres``) and MLflow's SQLite
store (its schema made by MLflow's own ``SqlAlchemyStore``). fittrace's metrics go through its
store's ``write_batch`` (its column blocks), MLflow's straight into its tables. SQLite stores
are cached by their parameters under the temp dir, so a second benchmark run starts at once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

from fittrace.store.schema import SCHEMA_VERSION

START = 1_700_000_000_000  # start time of the first run, ms
HISTORY_RUN = "f" * 32
HISTORY_KEY = "loss"
_CHUNK = 50_000
WRITE_ROWS = 10_000


@dataclass(frozen=True)
class Shape:
    """What a generated store holds."""

    runs: int = 100_000
    params: int = 20
    metrics: int = 10
    history: int = 1_000_000

    @property
    def name(self) -> str:
        return f"r{self.runs}-p{self.params}-m{self.metrics}-h{self.history}"


@dataclass(frozen=True)
class Store:
    """A generated store: its tracking URI, the experiment's id and its path on disk (SQLite)."""

    uri: str
    experiment_id: str
    path: str = ""


def run_id(i: int) -> str:
    return f"{i:032x}"


def run_rows(shape: Shape) -> Iterator[tuple[str, str, int]]:
    """(run id, run name, start time) of every run, the history run last."""
    for i in range(shape.runs):
        yield run_id(i), f"run-{i}", START + i
    yield HISTORY_RUN, "history", START + shape.runs


def param_rows(shape: Shape) -> Iterator[tuple[str, str, str]]:
    rng = random.Random(1)
    for i in range(shape.runs):
        rid = run_id(i)
        for k in range(shape.params):
            yield rid, f"p{k}", str(rng.randrange(k + 2))


def metric_rows(shape: Shape) -> Iterator[tuple[str, str, float, int, int]]:
    """(run id, key, value, timestamp, step): one point per run and metric, then the history."""
    rng = random.Random(2)
    for i in range(shape.runs):
        rid = run_id(i)
        for k in range(shape.metrics):
            yield rid, f"m{k}", rng.random(), START + i, 0
    for step in range(shape.history):
        yield HISTORY_RUN, HISTORY_KEY, 1.0 / (1 + step), START + shape.runs + step, step


def _batches(rows: Iterator[tuple]) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _cached(kind: str, shape: Shape, make) -> Store:
    folder = os.path.join(tempfile.gettempdir(), "fittrace-scale", f"{kind}-{shape.name}")
    done = os.path.join(folder, "store.json")
    if os.path.exists(done):
        with open(done) as f:
            return Store(**json.load(f))
    if os.path.exists(folder):  # an interrupted generation
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
    os.makedirs(folder, exist_ok=True)
    started = time.perf_counter()
    store = make(folder)
    print(f"generated {kind} store {shape.name} in {time.perf_counter() - started:.0f} s: {folder}")
    with open(done, "w") as f:
        json.dump(store.__dict__, f)
    return store


def _write_metrics(store, shape: Shape) -> None:
    """fittrace's metrics through its own write path, in transactions of ``WRITE_ROWS``
    points, about what its background writer commits at a time when a loop logs fast."""
    batch: list[tuple] = []
    for row in metric_rows(shape):
        batch.append(row)
        if len(batch) == WRITE_ROWS:
            store.write_batch(batch, (), ())
            batch = []
    store.write_batch(batch, (), ())


def fittrace_sqlite(shape: Shape) -> Store:
    """fittrace's SQLite store holding ``shape`` (generated once, then cached)."""

    def make(folder: str) -> Store:
        from fittrace.store.sqlite import SqliteStore

        path = os.path.join(folder, "fittrace.db")
        store = SqliteStore(path, os.path.join(folder, "artifacts"))
        experiment_id = store.create_experiment("scale", None)
        store.close()
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN")
        _fill_fittrace(_sqlite_insert(conn), shape, experiment_id, folder)
        conn.execute("COMMIT")
        _write_metrics(store, shape)
        store.close()
        conn.execute("ANALYZE")
        conn.close()
        return Store(f"sqlite:///{path}", experiment_id, path)

    return _cached(f"fittrace-s{SCHEMA_VERSION}", shape, make)


def _sqlite_insert(conn: sqlite3.Connection):
    def insert(table: str, columns: str, rows: list[tuple]) -> None:
        marks = ",".join("?" * len(rows[0]))
        conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)

    return insert


def _fill(insert, shape: Shape, run_columns: str, run_row) -> None:
    """Write ``shape``'s runs, names and params with ``insert(table, columns, rows)``; a run's
    row is ``run_row(run_id, name, start_time)`` (fittrace's and MLflow's runs tables differ)."""
    for batch in _batches(run_rows(shape)):
        insert("runs", run_columns, [run_row(*run) for run in batch])
        insert("tags", "run_uuid, key, value", [(r, "mlflow.runName", n) for r, n, _ in batch])
    for batch in _batches(param_rows(shape)):
        insert("params", "run_uuid, key, value", batch)


def _fill_mlflow_metrics(insert, shape: Shape) -> None:
    """MLflow's metric rows: one per point, and the latest of each (run, key)."""
    latest: dict[tuple[str, str], tuple] = {}
    columns = "run_uuid, key, value, timestamp, step, is_nan"
    for batch in _batches(metric_rows(shape)):
        rows = [(*row, 0) for row in batch]
        insert("metrics", columns, rows)
        latest.update(((r[0], r[1]), r) for r in rows)
    for batch in _batches(iter(latest.values())):
        insert("latest_metrics", columns, batch)


def _fill_fittrace(insert, shape: Shape, experiment_id: str, artifacts: str) -> None:
    _fill(
        insert,
        shape,
        "run_uuid, name, experiment_id, user_id, status, start_time, end_time, artifact_uri",
        lambda r, n, t: (
            r,
            n,
            int(experiment_id),
            "bench",
            "FINISHED",
            t,
            t + 1000,
            f"{artifacts}/{r}",
        ),
    )


def fill_postgres(uri: str, shape: Shape) -> Store:
    """``shape`` in fittrace's store on the PostgreSQL database at ``uri`` (through COPY)."""
    import psycopg

    from fittrace.store.postgres import PostgresStore

    store = PostgresStore(uri, tempfile.mkdtemp(prefix="fittrace-scale-artifacts-"))
    experiment_id = store.create_experiment("scale", None)
    store.close()
    with psycopg.connect(uri, autocommit=True) as conn:

        def insert(table: str, columns: str, rows: list[tuple]) -> None:
            with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

        _fill_fittrace(insert, shape, experiment_id, store.artifact_root)
    _write_metrics(store, shape)
    store.close()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return Store(uri, experiment_id)


def mlflow_sqlite(shape: Shape) -> Store:
    """MLflow's SQLite store holding ``shape`` (schema by MLflow, rows written directly)."""

    def make(folder: str) -> Store:
        import logging

        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        logging.getLogger("alembic").setLevel(logging.ERROR)
        path = os.path.join(folder, "mlflow.db")
        artifacts = os.path.join(folder, "artifacts")
        store = SqlAlchemyStore(f"sqlite:///{path}", artifacts)
        experiment_id = store.create_experiment("scale")
        store.engine.dispose()
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN")
        insert = _sqlite_insert(conn)
        _fill(
            insert,
            shape,
            "run_uuid, name, source_type, source_name, entry_point_name, user_id, status,"
            " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id",
            lambda r, n, t: (r, n, "LOCAL", "", "", "bench", "FINISHED", t, t + 1000, "",
                             "active", f"{artifacts}/{r}", int(experiment_id)),
        )  # fmt: skip
        _fill_mlflow_metrics(insert, shape)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.close()
        return Store(f"sqlite:///{path}", experiment_id, path)

    return _cached("mlflow", shape, make)


def sqlite_bytes_per_point(path: str, table: str, points: str) -> float:
    """Bytes ``table`` and its indexes take in a SQLite file, per point (``points`` counts them)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        size = conn.execute(
            "SELECT SUM(pgsize) FROM dbstat WHERE name IN"
            " (SELECT name FROM sqlite_master WHERE tbl_name = ?)",
            (table,),
        ).fetchone()[0]
        return size / conn.execute(points).fetchone()[0]
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Shape()
    for field in ("runs", "params", "metrics", "history"):
        parser.add_argument(f"--{field}", type=int, default=getattr(defaults, field))
    parser.add_argument("--mlflow", action="store_true", help="MLflow's store too")
    args = parser.parse_args()
    shape = Shape(args.runs, args.params, args.metrics, args.history)
    print(fittrace_sqlite(shape))
    if args.mlflow:
        print(mlflow_sqlite(shape))


if __name__ == "__main__":
    main()
