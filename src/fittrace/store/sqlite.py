"""The embedded tracking store: one SQLite file (WAL mode) shared safely by many processes.

Writes run in ``BEGIN IMMEDIATE`` transactions with a long busy timeout, so
concurrent writers queue instead of failing with "database is locked".
Each thread gets its own connection. The schema version is ``PRAGMA user_version``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator

from fittrace.exceptions import StoreError
from fittrace.store.schema import SCHEMA_VERSION
from fittrace.store.sql import SqlStore

_BUSY_TIMEOUT_S = 60.0


class SqliteStore(SqlStore):
    """The SQL store in one SQLite file; ``location`` is its absolute path."""

    _integrity_errors = (sqlite3.IntegrityError,)
    _engine_errors = (sqlite3.Error,)
    _glob_like = True  # SQLite's LIKE ignores case
    _row_order = "rowid"
    _DRIVING_JOIN = "CROSS JOIN"  # SQLite keeps the written order: walk the metric's index

    def __init__(self, db_path: str, artifact_root: str) -> None:
        self.location = os.path.abspath(db_path)
        parent = os.path.dirname(self.location)
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as e:
            raise StoreError(f"Cannot create the tracking directory {parent!r}: {e}") from e
        super().__init__(artifact_root)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.location,
                timeout=_BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as e:
            raise StoreError(f"Cannot open tracking database {self.location!r}: {e}") from e
        conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        yield self._conn()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                    raise StoreError(f"Cannot write to {self.location!r}: {e}") from e
                time.sleep(0.01)
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        if self._schema_version() < SCHEMA_VERSION:
            mode = self._conn().execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(
                    f"Cannot enable WAL journaling on {self.location!r} (got {mode!r})"
                )
        super()._migrate()

    def _schema_version(self) -> int:
        return self._conn().execute("PRAGMA user_version").fetchone()[0]

    def _set_schema_version(self, conn: sqlite3.Connection, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")
