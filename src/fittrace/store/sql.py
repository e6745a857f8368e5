"""The tracking store over SQL: experiments, runs, params, metrics, tags, inputs, the registry.

``SqlStore`` holds every query, written in the SQL that SQLite and PostgreSQL
share, with ``?`` placeholders; a subclass supplies connections, transactions
and migrations for its engine (``sqlite.SqliteStore``, ``postgres.PostgresStore``).
Write transactions are serialized per store (SQLite's ``BEGIN IMMEDIATE``, a
PostgreSQL advisory lock), so read-modify-write steps such as numbering model
versions never race. Runs left RUNNING by a process that no longer exists on
this host are marked KILLED when the store is next opened.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any, NamedTuple

from fittrace import tags as tags_
from fittrace._lazy import lazy_module
from fittrace.entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
    ViewType,
)
from fittrace.exceptions import (
    InvalidParameterError,
    ParamConflictError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
    StoreError,
)
from fittrace.store import metric_blocks
from fittrace.store.registry import RegistryStore
from fittrace.store.schema import MIGRATIONS, SCHEMA_VERSION

if TYPE_CHECKING:
    from fittrace.entities.history import MetricHistory

search = lazy_module("fittrace.store.search")  # filters and paging: imported by a search, not a fit

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
# Parameters per statement stay well under SQLite's variable limit.
_CHUNK = 500
_RUN_ID = re.compile(r"[0-9a-f]{32}")
_BOUND_VALUES = 900  # bound values per multi-row INSERT, under the oldest SQLite limit of 999
BATCH_KEY_RETENTION_MS = 24 * 3600 * 1000  # how long an applied batch's key is remembered
_MAX_BATCH_KEY = 128


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _process_start(pid: int) -> str | None:
    """Start time of a process (Linux /proc), used to tell a live owner from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _owner_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start is None or _process_start(pid) in (None, start)


def _metric_groups(
    metrics: Iterable[tuple[str, str, float, int, int]],
) -> tuple[list[tuple[str, str, list, list, list, bool]], list[tuple]]:
    """The points of each (run, key) as (run_id, key, steps, timestamps, values, in order), in
    the order given; and for latest_metrics the row each (run, key) keeps, as one upsert per
    point would: the highest (step, timestamp), the later point on a tie (NaN stored as NULL
    with is_nan 1)."""
    points: dict[tuple[str, str], tuple[list, list, list]] = {}
    get = points.get
    for run_id, key, value, ts, step in metrics:
        columns = get((run_id, key))
        if columns is None:
            columns = points[run_id, key] = ([], [], [])
        columns[0].append(step)
        columns[1].append(ts)
        columns[2].append(value)
    groups, latest = [], []
    for (run_id, key), (steps, timestamps, values) in points.items():
        ordered = metric_blocks.in_order(steps, timestamps)
        groups.append((run_id, key, steps, timestamps, values, ordered))
        i = metric_blocks.last_index(steps, timestamps, ordered)
        nan = values[i] != values[i]
        latest.append((run_id, key, None if nan else values[i], int(nan), timestamps[i], steps[i]))
    return groups, latest


def _append_blocks(conn: Any, groups: list[tuple[str, str, list, list, list, bool]]) -> None:
    """Each group's points as a new block; a group of fewer than ``SMALL_BLOCK`` points joins
    its key's last block instead while that holds fewer too (so rewriting it stays cheap)."""
    small = [g for g in groups if len(g[2]) < metric_blocks.SMALL_BLOCK]
    last = _small_last_blocks(conn, small) if small else {}
    joined, new = [], []
    for run_id, key, steps, timestamps, values, ordered in groups:
        block = metric_blocks.block(steps, timestamps, values)
        found = last.get((run_id, key))
        if found is None:
            new.append((run_id, key, int(ordered), *metric_blocks.packed(block)))
            continue
        block_id, found_ordered, *columns = found
        columns, ordered = metric_blocks.appended(columns, bool(found_ordered), block, ordered)
        joined.append((int(ordered), *columns, block_id))
    if joined:
        conn.executemany(
            "UPDATE metric_blocks SET ordered = ?, steps = ?, timestamps = ?, vals = ?"
            " WHERE block_id = ?",
            joined,
        )
    _insert(conn, "metric_blocks (run_uuid, key, ordered, steps, timestamps, vals)", new)


def _small_last_blocks(
    conn: Any, groups: list[tuple[str, str, list, list, list, bool]]
) -> dict[tuple[str, str], tuple]:
    """(block_id, ordered, steps, timestamps, vals) of the groups' keys' last blocks, for those
    holding fewer than ``SMALL_BLOCK`` points: one query per run and ``_CHUNK`` keys."""
    keys: dict[str, list[str]] = {}
    for run_id, key, *_ in groups:
        keys.setdefault(run_id, []).append(key)
    found = {}
    for run_id, names in keys.items():
        for chunk in _chunks(names):
            rows = conn.execute(
                "SELECT block_id, key, ordered, steps, timestamps, vals FROM metric_blocks"
                " WHERE block_id IN (SELECT MAX(block_id) FROM metric_blocks WHERE run_uuid = ?"
                f" AND key IN ({', '.join('?' * len(chunk))}) GROUP BY key)"
                " AND LENGTH(steps) < ?",
                (run_id, *chunk, 8 * metric_blocks.SMALL_BLOCK),
            ).fetchall()
            for block_id, key, *rest in rows:
                found[run_id, key] = (block_id, *rest)
    return found


def _metric_value(value: float | None, is_nan: int) -> float:
    return float("nan") if is_nan else float(value)  # type: ignore[arg-type]


def _insert(conn: Any, table: str, rows: Sequence[tuple], conflict: str = "") -> None:
    """INSERT rows with multi-row VALUES: a few statements per batch instead of one per row.

    ``table`` may list columns; ``conflict`` is an ON CONFLICT clause, so no key may repeat
    within ``rows`` when it updates.
    """
    if not rows:
        return
    width = len(rows[0])
    per_statement = max(1, _BOUND_VALUES // width)
    for i in range(0, len(rows), per_statement):
        chunk = rows[i : i + per_statement]
        marks = ", ".join(["(" + ", ".join("?" * width) + ")"] * len(chunk))
        conn.execute(
            f"INSERT INTO {table} VALUES {marks} {conflict}", list(chain.from_iterable(chunk))
        )


def _is_id(experiment_id: object) -> bool:
    """Whether an experiment id can exist (ids are integers; PostgreSQL rejects other text)."""
    return str(experiment_id).isdigit()


def _chunks(seq: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(seq), _CHUNK):
        yield seq[i : i + _CHUNK]


class _ThreadConnection:
    """One thread's connection, closed when that thread ends (its thread-local state is freed)."""

    __slots__ = ("conn", "pid", "counts", "__weakref__")

    def __init__(self, conn: Any) -> None:
        self.conn, self.pid = conn, os.getpid()
        self.counts: dict[tuple, tuple[object, int]] = {}  # see SqlStore.count_matching_runs

    def close(self) -> None:
        if self.pid == os.getpid():  # a forked child leaves its parent's connections alone
            with contextlib.suppress(Exception):
                self.conn.close()

    __del__ = close


class SqlStore(RegistryStore):
    """Experiments, runs, params, metrics, tags, inputs and the model registry in one database.

    A subclass sets ``location`` (what error messages name) and provides:

    - ``_connect()``: a new connection (each thread and process gets its own);
    - ``_read()`` / ``_write()``: context managers yielding a connection with
      DB-API ``execute``/``executemany`` taking ``?`` placeholders; ``_write``
      runs one serialized transaction, rolled back if the block raises;
    - ``_schema_version()`` / ``_set_schema_version(conn, n)`` and
      ``_ddl(script)``, the migration script in the engine's dialect;
    - ``_integrity_errors``: the exception types of a violated constraint;
    - ``_engine_errors``: the driver's base exception types (opening failures name the store);
    - ``_glob_like``: whether ``LIKE`` must become ``GLOB`` to be case-sensitive;
    - ``_row_order``: the column that orders rows by insertion.
    """

    location: str
    _integrity_errors: tuple[type[BaseException], ...] = ()
    _engine_errors: tuple[type[BaseException], ...] = ()
    _glob_like = False
    _row_order = ""

    def __init__(self, artifact_root: str) -> None:
        self.artifact_root = artifact_root
        self._local = threading.local()
        self._connections: weakref.WeakSet[_ThreadConnection] = weakref.WeakSet()
        self._connections_lock = threading.Lock()
        self._host = socket.gethostname()
        self._pid = os.getpid()
        self._pid_start = _process_start(self._pid)
        try:
            self._migrate()
            self._mark_dead_runs_killed()
        except self._engine_errors as e:
            raise StoreError(
                f"Cannot open the tracking database {self.location}: {type(e).__name__}: {e}"
            ) from e

    # -- connections -------------------------------------------------------------------
    def _conn(self) -> Any:
        """This thread's connection, opened on first use (again after a fork or ``close``)."""
        held = getattr(self._local, "held", None)
        if held is None or held.pid != os.getpid():
            held = self._local.held = _ThreadConnection(self._connect())
            with self._connections_lock:
                self._connections.add(held)
        return held.conn

    def connections(self) -> list[Any]:
        """The connections open now, one per thread that used the store and is still alive."""
        with self._connections_lock:
            return [held.conn for held in self._connections]

    def close(self) -> None:
        """Close the connections every thread opened; using the store again reconnects."""
        with self._connections_lock:
            held, self._connections = list(self._connections), weakref.WeakSet()
            self._local = threading.local()
        for connection in held:
            connection.close()

    # -- engine-specific ---------------------------------------------------------------
    def _connect(self) -> Any:
        raise NotImplementedError

    def _read(self) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def _write(self) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def _schema_version(self) -> int:
        raise NotImplementedError

    def _set_schema_version(self, conn: Any, version: int) -> None:
        raise NotImplementedError

    def _ddl(self, script: str) -> str:
        return script

    # -- schema --------------------------------------------------------------------
    def _migrate(self) -> None:
        if self._schema_version() >= SCHEMA_VERSION:
            return
        with self._write() as conn:
            version = self._schema_version()
            for script in MIGRATIONS[version:]:
                if callable(script):
                    script(conn, self._row_order)
                    continue
                for statement in self._ddl(script).split(";"):
                    if statement.strip():
                        conn.execute(statement)
            self._set_schema_version(conn, SCHEMA_VERSION)
            conn.execute(
                "INSERT INTO experiments (experiment_id, name, artifact_location, creation_time,"
                " last_update_time) VALUES (0, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (DEFAULT_EXPERIMENT_NAME, self._join(self.artifact_root, "0"), now_ms(), now_ms()),
            )

    def _mark_dead_runs_killed(self) -> None:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT run_uuid, owner_pid, owner_start FROM runs WHERE status = ? AND owner_host = ?",
                (RunStatus.RUNNING, self._host),
            ).fetchall()
        dead = [r[0] for r in rows if r[1] is not None and not _owner_alive(r[1], r[2])]
        if not dead:
            return
        with self._write() as conn:
            for run_id in dead:
                last = conn.execute(  # its last activity: the newest of its latest values
                    "SELECT MAX(timestamp) FROM latest_metrics WHERE run_uuid = ?", (run_id,)
                ).fetchone()[0]
                conn.execute(
                    "UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ? AND status = ?",
                    (RunStatus.KILLED, last or now_ms(), run_id, RunStatus.RUNNING),
                )

    @staticmethod
    def _join(root: str, *parts: str) -> str:
        return "/".join([root.rstrip("/"), *parts])

    # -- experiments ---------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        if not name or not isinstance(name, str):
            raise InvalidParameterError(f"Experiment name must be a non-empty string, got {name!r}")
        try:
            with self._write() as conn:
                exp_id = str(
                    conn.execute(
                        "INSERT INTO experiments (name, artifact_location, creation_time, last_update_time)"
                        " VALUES (?, '', ?, ?) RETURNING experiment_id",
                        (name, now_ms(), now_ms()),
                    ).fetchone()[0]
                )
                location = artifact_location or self._join(self.artifact_root, exp_id)
                conn.execute(
                    "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                    (location, exp_id),
                )
                conn.executemany(
                    "INSERT INTO experiment_tags VALUES (?, ?, ?)",
                    [(exp_id, k, str(v)) for k, v in (tags or {}).items()],
                )
        except self._integrity_errors as e:
            raise ResourceAlreadyExistsError(f"Experiment {name!r} already exists") from e
        return exp_id

    def _experiments(self, where: str, args: Sequence[object]) -> list[Experiment]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time,"
                f" last_update_time FROM experiments WHERE {where} ORDER BY experiment_id",
                args,
            ).fetchall()
            tags: dict[str, dict[str, str]] = {}
            for exp_id, key, value in conn.execute(
                "SELECT experiment_id, key, value FROM experiment_tags"
            ):
                tags.setdefault(str(exp_id), {})[key] = value
        return [
            Experiment(str(r[0]), r[1], r[2], r[3], tags.get(str(r[0]), {}), r[4], r[5])
            for r in rows
        ]

    def get_experiment(self, experiment_id: str) -> Experiment:
        found = _is_id(experiment_id) and self._experiments(
            "experiment_id = ?", (str(experiment_id),)
        )
        if not found:
            raise ResourceNotFoundError(f"No experiment with id {experiment_id!r}")
        return found[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        found = self._experiments("name = ?", (name,))
        return found[0] if found else None

    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY) -> list[Experiment]:
        return self._experiments(*_stage_clause("lifecycle_stage", view_type))

    def set_experiment_lifecycle(self, experiment_id: str, stage: str) -> None:
        self.get_experiment(experiment_id)
        with self._write() as conn:
            conn.execute(
                "UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?",
                (stage, now_ms(), str(experiment_id)),
            )

    def rename_experiment(self, experiment_id: str, name: str) -> None:
        if not name or not isinstance(name, str):
            raise InvalidParameterError(f"Experiment name must be a non-empty string, got {name!r}")
        self.get_experiment(experiment_id)
        try:
            with self._write() as conn:
                conn.execute(
                    "UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?",
                    (name, now_ms(), str(experiment_id)),
                )
        except self._integrity_errors as e:
            raise ResourceAlreadyExistsError(f"Experiment {name!r} already exists") from e

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self.get_experiment(experiment_id)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO experiment_tags VALUES (?, ?, ?) ON CONFLICT (experiment_id, key)"
                " DO UPDATE SET value = excluded.value",
                (str(experiment_id), key, value),
            )

    def count_runs(self) -> dict[str, int]:
        with self._read() as conn:
            return {
                str(e): n
                for e, n in conn.execute(
                    "SELECT experiment_id, COUNT(*) FROM runs WHERE lifecycle_stage = 'active'"
                    " GROUP BY experiment_id"
                )
            }

    # -- runs ----------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        run_name: str,
        tags: dict[str, str],
        owned: bool = True,
        run_id: str | None = None,
    ) -> Run:
        """A new RUNNING run; ``owned``: owned by this process (marked KILLED once it is gone),
        else by no process of this host (a run a tracking server creates for a remote client).
        ``run_id`` keeps a copied run's id (32 hex digits, as MLflow's); by default a new one."""
        experiment = self.get_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterError(
                f"Experiment {experiment_id!r} is deleted; restore it to add runs"
            )
        if run_id is None:
            run_id = uuid.uuid4().hex
        elif not _RUN_ID.fullmatch(str(run_id)):
            raise InvalidParameterError(f"run_id must be 32 hexadecimal digits, got {run_id!r}")
        artifact_uri = self._join(experiment.artifact_location, run_id, "artifacts")
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time,"
                    " artifact_uri, owner_host, owner_pid, owner_start)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        run_name,
                        experiment.experiment_id,
                        user_id,
                        RunStatus.RUNNING,
                        start_time,
                        artifact_uri,
                        *self._owner(owned),
                    ),
                )
                conn.executemany(
                    "INSERT INTO tags VALUES (?, ?, ?)", [(run_id, k, v) for k, v in tags.items()]
                )
        except self._integrity_errors as e:
            raise ResourceAlreadyExistsError(f"Run {run_id} already exists") from e
        info = RunInfo(
            run_id,
            experiment.experiment_id,
            run_name,
            user_id,
            RunStatus.RUNNING,
            start_time,
            None,
            artifact_uri,
        )
        return Run(info, RunData(tags=dict(tags)))

    def _owner(self, owned: bool) -> tuple[str | None, int | None, str | None]:
        return (self._host, self._pid, self._pid_start) if owned else (None, None, None)

    def resume_run(self, run_id: str, owned: bool = True) -> None:
        """Mark a run RUNNING again, owned by this process (by none with ``owned=False``)."""
        self.get_run_info(run_id)
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, end_time = NULL, owner_host = ?, owner_pid = ?, owner_start = ?"
                " WHERE run_uuid = ?",
                (RunStatus.RUNNING, *self._owner(owned), run_id),
            )

    def update_run_info(self, run_id: str, status: str, end_time: int | None) -> None:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?",
                (status, end_time, run_id),
            )
        if cur.rowcount == 0:
            raise ResourceNotFoundError(f"No run with id {run_id!r}")

    def set_run_lifecycle(self, run_id: str, stage: str) -> None:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE runs SET lifecycle_stage = ? WHERE run_uuid = ?", (stage, run_id)
            )
        if cur.rowcount == 0:
            raise ResourceNotFoundError(f"No run with id {run_id!r}")

    _INFO_COLUMNS = (
        "r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, r.start_time, r.end_time,"
        " r.artifact_uri, r.lifecycle_stage"
    )

    @staticmethod
    def _info(row: Sequence) -> RunInfo:
        return RunInfo(
            row[0], str(row[1]), row[2], row[3] or "", row[4], row[5], row[6], row[7], row[8]
        )

    def get_run_info(self, run_id: str) -> RunInfo:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {self._INFO_COLUMNS} FROM runs r WHERE r.run_uuid = ?", (run_id,)
            ).fetchone()
        if row is None:
            raise ResourceNotFoundError(f"No run with id {run_id!r}")
        return self._info(row)

    def get_run(self, run_id: str) -> Run:
        info = self.get_run_info(run_id)
        return self._with_data([info])[0]

    def _with_data(self, infos: list[RunInfo]) -> list[Run]:
        ids = [i.run_id for i in infos]
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
        inputs: dict[str, list[DatasetInput]] = {i: [] for i in ids}
        with self._read() as conn:
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                for run_id, k, v in conn.execute(
                    f"SELECT run_uuid, key, value FROM params WHERE run_uuid IN ({marks})", chunk
                ):
                    params[run_id][k] = v
                for run_id, k, v in conn.execute(
                    f"SELECT run_uuid, key, value FROM tags WHERE run_uuid IN ({marks})", chunk
                ):
                    tags[run_id][k] = v
                for run_id, k, v, nan in conn.execute(
                    f"SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN ({marks})",
                    chunk,
                ):
                    metrics[run_id][k] = _metric_value(v, nan)
                for row in conn.execute(
                    "SELECT run_uuid, name, digest, source_type, source, schema, profile, context"
                    f" FROM inputs WHERE run_uuid IN ({marks}) ORDER BY {self._row_order}",
                    chunk,
                ):
                    inputs[row[0]].append(DatasetInput(*(c or "" for c in row[1:])))
        return [
            Run(
                i,
                RunData(metrics[i.run_id], params[i.run_id], tags[i.run_id]),
                RunInputs(inputs[i.run_id]),
            )
            for i in infos
        ]

    def get_params(self, run_id: str) -> dict[str, str]:
        with self._read() as conn:
            return dict(conn.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)))

    def write_batch(
        self,
        metrics: Iterable[tuple[str, str, float, int, int]],
        params: Iterable[tuple[str, str, str]],
        tags: Iterable[tuple[str, str, str]],
        batch_key: str | None = None,
    ) -> None:
        """Persist rows from any number of runs in one transaction.

        metrics rows are (run_id, key, value, timestamp, step); params and tags (run_id, key, value).
        Nothing is written if a run does not exist (ResourceNotFoundError) or a param already has
        another value (ParamConflictError). ``batch_key``: the sender's name for this batch; a
        batch whose key was applied in the last ``BATCH_KEY_RETENTION_MS`` is not applied again
        (a client resending a batch whose answer it lost).
        """
        if batch_key is not None and (
            type(batch_key) is not str or not 0 < len(batch_key) <= _MAX_BATCH_KEY
        ):
            raise InvalidParameterError(
                f"batch_key must be a string of 1 to {_MAX_BATCH_KEY} characters, got {batch_key!r}"
            )
        groups, latest = _metric_groups(metrics)
        params = list(params)
        tags = list(
            {(r, k): (r, k, v) for r, k, v in tags}.values()
        )  # the last value of a key wins
        with self._write() as conn:
            if batch_key is not None and not _claim_batch(conn, batch_key):
                return
            _check_runs(conn, {g[0] for g in groups} | {r[0] for r in params + tags})
            _check_params(conn, params)
            _insert(conn, "params", params, "ON CONFLICT (run_uuid, key) DO NOTHING")
            _insert(
                conn,
                "tags",
                tags,
                "ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value",
            )
            conn.executemany(
                "UPDATE runs SET name = ? WHERE run_uuid = ?",
                [(v, r) for r, k, v in tags if k == tags_.RUN_NAME],
            )
            _append_blocks(conn, groups)
            _insert(
                conn,
                "latest_metrics",
                latest,
                "ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value, is_nan ="
                " excluded.is_nan, timestamp = excluded.timestamp, step = excluded.step WHERE"
                " excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step AND"
                " excluded.timestamp >= latest_metrics.timestamp)",
            )

    def delete_tag(self, run_id: str, key: str) -> None:
        with self._write() as conn:
            cur = conn.execute("DELETE FROM tags WHERE run_uuid = ? AND key = ?", (run_id, key))
        if cur.rowcount == 0:
            raise ResourceNotFoundError(f"Run {run_id!r} has no tag {key!r}")

    def log_inputs(self, run_id: str, datasets: Iterable[DatasetInput]) -> None:
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO inputs VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_uuid, name, digest, context) DO UPDATE SET"
                " source_type = excluded.source_type, source = excluded.source,"
                " schema = excluded.schema, profile = excluded.profile",
                [
                    (
                        run_id,
                        d.name,
                        d.digest,
                        d.source_type,
                        d.source,
                        d.schema,
                        d.profile,
                        d.context,
                    )
                    for d in datasets
                ],
            )

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.get_metric_history_columns(run_id, key).metrics()

    def get_metric_history_columns(self, run_id: str, key: str) -> MetricHistory:
        """A metric's history as columns (see ``MetricHistory``); empty for a key never logged."""
        self.get_run_info(run_id)
        with self._read() as conn:
            rows = self._block_rows(
                conn,
                "SELECT ordered, steps, timestamps, vals FROM metric_blocks"
                " WHERE run_uuid = ? AND key = ? ORDER BY block_id",
                (run_id, key),
            )
        from fittrace.entities.history import MetricHistory

        return MetricHistory(key, *metric_blocks.history(rows))

    def _block_rows(self, conn: Any, sql: str, args: Sequence[Any]) -> list[tuple]:
        """The rows of a query of packed columns."""
        return conn.execute(sql, args).fetchall()

    def _matching(self, filter_string: str | None) -> _Filter:
        """``filter_string`` compiled once per form (see ``search.compile_run_filter_forms``)."""
        planned, probe = search.compile_run_filter_forms(filter_string, glob_like=self._glob_like)
        return _Filter(_Query(*planned), _Query(*probe))

    def _data_version(self, conn: Any) -> object | None:
        """A value of this connection that changes whenever the data it reads may have changed,
        or None when the engine has none (then counts are never cached)."""
        return None

    _COUNTS_KEPT = 32  # counts each connection remembers

    def count_matching_runs(
        self, experiment_ids: Sequence[str], filter_string: str | None = None
    ) -> int:
        """How many active runs of the experiments ``filter_string`` matches. Each thread's
        connection remembers a count until the data may have changed (``_data_version``), so
        paging through the runs a filter matches counts them once (per thread); a page by
        offset alone counts them on its way (``search_runs``)."""
        sql, args = self._count_query(experiment_ids, filter_string)
        with self._read() as conn:
            version = self._data_version(conn)
            remembered = self._remembered_count(version, (sql, *args))
            if remembered is not None:
                return remembered
            count = conn.execute(sql, args).fetchone()[0]
            self._remember_count(version, (sql, *args), count)
            return count

    def _count_query(
        self, experiment_ids: Sequence[str], filter_string: str | None
    ) -> tuple[str, list]:
        matching = self._matching(filter_string).planned
        marks, ids = _experiment_marks(experiment_ids)
        sql = (
            f"SELECT COUNT(*) FROM runs r WHERE r.experiment_id IN ({marks})"
            f" AND r.lifecycle_stage = ? AND ({matching.sql})"
        )
        return sql, [*ids, LifecycleStage.ACTIVE, *matching.args]

    def _remembered_count(self, version: object | None, counted: tuple) -> int | None:
        """The count this thread's connection remembers for ``counted`` (a count statement and
        its arguments) as of the data ``version``, if any."""
        remembered = self._local.held.counts.get(counted)
        if version is None or remembered is None or remembered[0] != version:
            return None
        return remembered[1]

    def _remember_count(self, version: object | None, counted: tuple, count: int) -> None:
        """Remember ``count`` for the count statement and arguments ``counted``, as of the data
        ``version`` read before counting (None: not at all)."""
        if version is None:
            return
        counts = self._local.held.counts
        counts.pop(counted, None)
        if len(counts) >= self._COUNTS_KEPT:
            del counts[next(iter(counts))]  # the oldest
        counts[counted] = (version, count)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        offset: int = 0,
        after: list | None = None,
    ) -> list[Run]:
        """The runs matching, in order, from the ``offset``-th on, at most ``max_results``.

        ``after``: instead of ``offset``, the ``search.page_key`` of the run before this page,
        so that a deep page reads only its own rows (the default order or one metric's).
        """
        search.check_count("max_results", max_results)
        search.check_count("offset", offset, 0)
        if after is not None:
            after = search.check_page_key(after, order_by)
            offset = 0
        matching = self._matching(filter_string)
        stage, stage_args = _stage_clause("r.lifecycle_stage", run_view_type)
        marks, ids = _experiment_marks(experiment_ids)
        scope = _Query(f"r.experiment_id IN ({marks}) AND {stage}", [*ids, *stage_args])
        entries = search.order_entries(order_by)
        metric = search.leading_metric(entries)
        with self._read() as conn:
            # a filtered page by offset reads every run matching: it counts them on the way
            # when their count is not remembered yet
            tally = None
            if offset and matching.filters and run_view_type == ViewType.ACTIVE_ONLY:
                version = self._data_version(conn)
                sql, args = self._count_query(experiment_ids, filter_string)
                if version is not None and self._remembered_count(version, (sql, *args)) is None:
                    tally = functools.partial(self._remember_count, version, (sql, *args))
            if metric is not None and len(entries) == 1 and offset and not matching.filters:
                # a page named by its offset alone (a typed URL): find the run before it along
                # the metric's index, then read the page after that run's key
                key = self._metric_key_at(conn, metric, scope, offset - 1)
                if key is not None:
                    after, offset = key, 0
            if metric is not None:
                rows = self._by_metric(
                    conn, metric, entries, scope, matching, max_results, offset, after, tally
                )
            elif entries:
                order = _Query(*search.compile_order_by(entries))
                rows = self._planned(
                    conn, _RUNS, scope, matching, order, max_results, offset, tally
                )
            else:
                if after is not None:
                    scope = scope.also(_AFTER_DEFAULT, _newest_after(after))
                rows = self._newest_first(conn, scope, matching, max_results, offset, tally)
        return self._with_data([self._info(r) for r in rows])

    # How many runs in order a filtered search probes before it lets the database plan it:
    # enough for a page when one run in eight matches; it is probed in chunks of _CHUNK ids.
    _WINDOW = (2000, 8, 16000)  # at least, per run asked for, at most

    def _window(self, limit: int) -> int:
        least, per_run, most = self._WINDOW
        return min(max(least, per_run * limit), most)

    def _planned(
        self,
        conn: Any,
        source: _Query,
        where: _Query,
        matching: _Filter,
        order: _Query,
        limit: int,
        offset: int,
        tally: Callable[[int], None] | None = None,
    ) -> list:
        """The database's own plan for the rows of ``source`` (over ``runs r``) matching;
        ``tally``, when given, is told how many match in all (unless the page is empty). The
        plan orders run ids alone (from an index, a deep page's skipped runs are never read
        whole), then the page's rows are read."""
        where = where.also(matching.planned.sql, matching.planned.args)
        found = conn.execute(
            f"SELECT r.run_uuid{_COUNTED if tally else ''} FROM {source.sql}"
            f" WHERE {where.sql} {order.sql} LIMIT ? OFFSET ?",
            [*source.args, *where.args, *order.args, limit, offset],
        ).fetchall()
        if tally is not None and found:
            tally(found[0][-1])
        return self._rows(conn, [row[0] for row in found])

    def _probe(self, conn: Any, run_ids: Sequence[str], where: _Query) -> dict[str, int]:
        """The start times of those of ``run_ids`` that ``where`` (over ``runs r``) matches."""
        found: dict[str, int] = {}
        for chunk in _chunks(run_ids):  # within SQLite's oldest limit of 999 bound values
            marks = ",".join("?" * len(chunk))
            found.update(
                conn.execute(
                    f"SELECT r.run_uuid, r.start_time FROM runs r WHERE r.run_uuid IN ({marks})"
                    f" AND {where.sql}",
                    [*chunk, *where.args],
                )
            )
        return found

    def _first_matching(
        self,
        conn: Any,
        window: list[str],
        where: _Query,
        limit: int,
        complete: bool,
        rank: Callable[[dict[str, int]], list[str]] | None = None,
    ) -> list[str] | None:
        """The first ``limit`` runs of ``window`` (ids of runs in order, ``complete`` when no
        run comes after them) that ``where`` matches, in order; ``rank(found)`` puts the
        matches in order by their start times when the window's order leaves ties. None when
        too few match to be sure they come first."""
        found = self._probe(conn, window, where)
        first = (rank(found) if rank else [run_id for run_id in window if run_id in found])[:limit]
        return first if len(first) == limit or complete else None

    def _rows(self, conn: Any, run_ids: list[str]) -> list:
        """The info rows of ``run_ids``, in that order."""
        rows = {}
        for chunk in _chunks(run_ids):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT {self._INFO_COLUMNS} FROM runs r WHERE r.run_uuid IN ({marks})"
            rows.update((row[0], row) for row in conn.execute(sql, list(chunk)))
        return [rows[run_id] for run_id in run_ids]

    def _newest_first(
        self,
        conn: Any,
        scope: _Query,
        matching: _Filter,
        limit: int,
        offset: int,
        tally: Callable[[int], None] | None = None,
    ) -> list:
        """Rows in the default order. A first page of a filtered search probes the newest runs
        first (read from the index in order): when enough of them match, a filter most runs
        pass never reads the rest; else the database plans it (a selective filter drives the
        search from its own index). ``tally``: see ``_planned``."""
        order = _Query(search.compile_order_by(None)[0], [])
        if offset == 0 and matching.filters:
            size = self._window(limit)
            window = [
                row[0]
                for row in conn.execute(
                    f"SELECT r.run_uuid FROM runs r WHERE {scope.sql} {order.sql} LIMIT ?",
                    [*scope.args, size],
                )
            ]
            first = self._first_matching(conn, window, matching.probe, limit, len(window) < size)
            if first is not None:
                return self._rows(conn, first)
        return self._planned(conn, _RUNS, scope, matching, order, limit, offset, tally)

    def _by_metric(
        self,
        conn: Any,
        metric: tuple[str, str],
        entries: list[str],
        scope: _Query,
        matching: _Filter,
        limit: int,
        offset: int,
        after: list | None,
        tally: Callable[[int], None] | None = None,
    ) -> list:
        """Rows ordered by a metric first (``entries[0]``): the runs with a value, then those
        without one (missing or NaN), in the order of the other entries. ``tally``: see
        ``_planned``."""
        key, direction = metric
        rest = entries[1:]
        if not rest and offset and matching.filters:
            # a filtered page by offset alone (a typed URL): the database plans it, joining
            # each matching run's value
            joined = _Query(
                "runs r LEFT JOIN latest_metrics o ON o.run_uuid = r.run_uuid AND o.key = ?"
                " AND o.value IS NOT NULL",
                [key],
            )
            order = _Query(f"ORDER BY o.value {direction} NULLS LAST, {_NEWEST}", [])
            return self._planned(conn, joined, scope, matching, order, limit, offset, tally)
        rows: list = []
        if after is None or after[0] is not None:
            first = None
            if not rest and offset == 0:
                first = self._metric_window(conn, key, direction, scope, matching, limit, after)
            if first is not None:
                rows = self._rows(conn, first)
            else:
                has_value = "o.key = ? AND o.value IS NOT NULL"
                has_args = [key]
                if after is not None:
                    has_value += f" AND {_AFTER_METRIC[direction]}"
                    has_args += [after[0], after[0], after[0], *_newest_after(after[1:])]
                with_value = scope.also(
                    f"EXISTS (SELECT 1 FROM latest_metrics o WHERE o.run_uuid = r.run_uuid"
                    f" AND {has_value})",
                    has_args,
                )
                order = _Query(*search.compile_order_by(entries))
                rows = self._planned(conn, _RUNS, with_value, matching, order, limit, offset)
                if len(rows) < limit and offset:
                    counted = with_value.also(matching.planned.sql, matching.planned.args)
                    before = conn.execute(
                        f"SELECT COUNT(*) FROM runs r WHERE {counted.sql}", counted.args
                    ).fetchone()[0]
                    offset = max(offset - before, 0)
            if len(rows) == limit:
                return rows
        no_value = (
            "NOT EXISTS (SELECT 1 FROM latest_metrics o WHERE o.run_uuid = r.run_uuid"
            " AND o.key = ? AND o.value IS NOT NULL)"
        )
        matching = _Filter(
            matching.planned.also(no_value, [key]), matching.probe.also(no_value, [key])
        )
        remaining = limit - len(rows)
        if rest:
            order = _Query(*search.compile_order_by(rest))
            return rows + self._planned(conn, _RUNS, scope, matching, order, remaining, offset)
        if after is not None and after[0] is None:
            scope = scope.also(_AFTER_DEFAULT, _newest_after(after[1:]))
        return rows + self._newest_first(conn, scope, matching, remaining, offset)

    def _metric_window(
        self,
        conn: Any,
        key: str,
        direction: str,
        scope: _Query,
        matching: _Filter,
        limit: int,
        after: list | None,
    ) -> list[str] | None:
        """The ids of the first runs with a value of metric ``key`` matching, from the first
        values in order (read from the metric's index alone), or None when too few of those
        match to be sure."""
        size = self._window(limit)
        bound, bound_args = "", []
        if after is not None:
            bound, bound_args = (
                f" AND o.value {'<=' if direction == 'DESC' else '>='} ?",
                [after[0]],
            )
        values = conn.execute(
            "SELECT o.run_uuid, o.value FROM latest_metrics o WHERE o.key = ?"
            f" AND o.value IS NOT NULL{bound} ORDER BY o.value {direction} LIMIT ?",
            [key, *bound_args, size],
        ).fetchall()
        complete = len(values) < size
        if not complete:  # the runs tied on the last value may go on past the window: all of them
            last = values[-1][1]
            values = [v for v in values if v[1] != last] + conn.execute(
                "SELECT o.run_uuid, o.value FROM latest_metrics o WHERE o.key = ? AND o.value = ?",
                [key, last],
            ).fetchall()
            if len(values) > self._WINDOW[2]:
                return None
        value = dict(values)
        sign = -1 if direction == "DESC" else 1
        start = None if after is None else (sign * after[0], -after[1], after[2])

        def rank(found: dict[str, int]) -> list[str]:
            positions = {run_id: (sign * value[run_id], -found[run_id], run_id) for run_id in found}
            return [
                run_id
                for run_id in sorted(positions, key=positions.__getitem__)
                if start is None or positions[run_id] > start
            ]

        where = scope.also(matching.probe.sql, matching.probe.args)
        return self._first_matching(conn, list(value), where, limit, complete, rank)

    def _metric_key_at(
        self,
        conn: Any,
        metric: tuple[str, str],
        scope: _Query,
        position: int,
    ) -> list | None:
        """The page key of the run at ``position`` (from 0) among those with a value of the
        metric, in order, or None when fewer have one. When fewer runs are outside ``scope``
        than in it, the walk reads the metric's index alone, skipping the runs outside
        (listed from the runs' index); else the database plans it."""
        key, direction = metric
        if not self._fewer_outside(conn, scope):
            found = conn.execute(
                "SELECT o.value, r.start_time, r.run_uuid FROM runs r JOIN latest_metrics o"
                f" ON o.run_uuid = r.run_uuid AND o.key = ? WHERE {scope.sql}"
                f" AND o.value IS NOT NULL ORDER BY o.value {direction}, r.start_time DESC,"
                " r.run_uuid LIMIT 1 OFFSET ?",
                [key, *scope.args, position],
            ).fetchone()
            return None if found is None else list(found)
        # ``|| ''``: a membership test of each run the walk meets, never a lookup that would
        # drive the walk from the runs outside
        walked = conn.execute(
            "SELECT o.value, o.run_uuid FROM latest_metrics o WHERE o.key = ?"
            " AND o.value IS NOT NULL AND (o.run_uuid || '') NOT IN (SELECT r.run_uuid"
            f" FROM runs r WHERE NOT ({scope.sql})) ORDER BY o.value {direction},"
            f" o.run_uuid {direction} LIMIT 1 OFFSET ?",
            [key, *scope.args, position],
        ).fetchone()
        if walked is None:
            return None
        value, run_id = walked
        # The walk put the runs tied on this value in the order of their ids; the search puts
        # them newest first: the run at the same place among them is the one at ``position``.
        tied = dict(
            conn.execute(
                "SELECT r.run_uuid, r.start_time FROM runs r WHERE r.run_uuid IN (SELECT"
                f" o.run_uuid FROM latest_metrics o WHERE o.key = ? AND o.value = ?) AND {scope.sql}",
                [key, value, *scope.args],
            )
        )
        if run_id not in tied:  # deleted or moved since the walk read it: go by the offset
            return None
        walk_order = sorted(tied, reverse=direction == "DESC")
        search_order = sorted(tied, key=lambda i: (-tied[i], i))
        chosen = search_order[walk_order.index(run_id)]
        return [value, tied[chosen], chosen]

    def _fewer_outside(self, conn: Any, scope: _Query) -> bool:
        """Whether fewer runs are outside ``scope`` than in it."""
        stored = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        inside = conn.execute(f"SELECT COUNT(*) FROM runs r WHERE {scope.sql}", scope.args)
        return stored - inside.fetchone()[0] < stored / 2


class _Query(NamedTuple):  # a NamedTuple: a dataclass costs a fit 0.4 ms to define
    """A piece of SQL and its parameters."""

    sql: str
    args: list

    def also(self, sql: str, args: list) -> _Query:
        return _Query(f"{self.sql} AND {sql}", [*self.args, *args])


class _Filter(NamedTuple):
    """A compiled filter twice: as the database may plan it, and as probes of given runs."""

    planned: _Query
    probe: _Query

    @property
    def filters(self) -> bool:
        """False for an empty filter (every run matches)."""
        return self.planned.sql != "1=1"


# How many rows a query matches in all, beside the page it reads (window functions: SQLite
# 3.25, older than the NULLS LAST every ORDER BY of a search needs)
_COUNTED = ", COUNT(*) OVER ()"
_RUNS = _Query("runs r", [])
_NEWEST = "r.start_time DESC, r.run_uuid"  # the order of runs tied on what comes first
# After a page key, in the default order (start time descending, then run id).
_AFTER_DEFAULT = "r.start_time <= ? AND (r.start_time < ? OR r.run_uuid > ?)"
_AFTER_METRIC = {  # after a page key (value, start time, run id), ordered by the metric
    direction: f"o.value {op}= ? AND (o.value {op} ? OR o.value = ? AND ({_AFTER_DEFAULT}))"
    for direction, op in (("ASC", ">"), ("DESC", "<"))
}


def _newest_after(key: list) -> list:
    """The parameters of ``_AFTER_DEFAULT`` for a page key ``[start_time, run_id]``."""
    return [key[0], key[0], key[1]]


def _claim_batch(conn: Any, batch_key: str) -> bool:
    """Record ``batch_key`` as applied (forgetting keys past their retention); False if it was."""
    now = now_ms()
    conn.execute("DELETE FROM batch_keys WHERE created < ?", (now - BATCH_KEY_RETENTION_MS,))
    cur = conn.execute(
        "INSERT INTO batch_keys VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (batch_key, now)
    )
    return cur.rowcount == 1


def _check_runs(conn: Any, run_ids: set[str]) -> None:
    """ResourceNotFoundError unless every run exists."""
    ids = sorted(run_ids)
    found: set[str] = set()
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        found.update(
            r
            for (r,) in conn.execute(
                f"SELECT run_uuid FROM runs WHERE run_uuid IN ({marks})", chunk
            )
        )
    missing = [r for r in ids if r not in found]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ResourceNotFoundError(f"No run with id {missing[0]!r}{more}")


def _check_params(conn: Any, params: list[tuple[str, str, str]]) -> None:
    """ParamConflictError if a param is given two values, or already has another one."""
    given: dict[tuple[str, str], str] = {}
    for run_id, key, value in params:
        first = given.setdefault((run_id, key), value)
        if first != value:
            raise ParamConflictError.between(run_id, key, first, value)
    keys_by_run: dict[str, list[str]] = {}
    for run_id, key in given:
        keys_by_run.setdefault(run_id, []).append(key)
    for run_id, keys in keys_by_run.items():
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            for key, old in conn.execute(
                f"SELECT key, value FROM params WHERE run_uuid = ? AND key IN ({marks})",
                [run_id, *chunk],
            ):
                if old != given[(run_id, key)]:
                    raise ParamConflictError.between(run_id, key, old, given[(run_id, key)])


def _experiment_marks(experiment_ids: Sequence[str]) -> tuple[str, list[str]]:
    """Placeholders for ``experiment_id IN (...)`` and their values (ids that cannot exist left out)."""
    ids = [str(e) for e in experiment_ids if _is_id(e)]
    return ",".join("?" * len(ids)) or "NULL", ids


def _stage_clause(column: str, view_type: int) -> tuple[str, list[str]]:
    if view_type == ViewType.ACTIVE_ONLY:
        return f"{column} = ?", [LifecycleStage.ACTIVE]
    if view_type == ViewType.DELETED_ONLY:
        return f"{column} = ?", [LifecycleStage.DELETED]
    if view_type == ViewType.ALL:
        return "1 = 1", []
    raise InvalidParameterError(
        f"run_view_type must be one of ViewType.ACTIVE_ONLY/DELETED_ONLY/ALL, got {view_type!r}"
    )
