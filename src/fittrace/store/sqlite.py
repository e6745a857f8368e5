"""The embedded tracking store: one SQLite file (WAL mode) shared safely by many processes.

Writes run in ``BEGIN IMMEDIATE`` transactions with a long busy timeout, so
concurrent writers queue instead of failing with "database is locked".
Each thread gets its own connection. The schema version is ``PRAGMA user_version``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator

from fittrace.exceptions import StoreError
from fittrace.store.schema import SCHEMA_VERSION
from fittrace.store.sql import SqlStore

_BUSY_TIMEOUT_S = 60.0
_CHECKPOINT_PAGES = 4000
_FORK_WAIT_S = 10.0  # the longest a fork waits for this process's SQLite writes to commit


class SqliteStore(SqlStore):
    """The SQL store in one SQLite file; ``location`` is its absolute path."""

    _integrity_errors = (sqlite3.IntegrityError,)
    _engine_errors = (sqlite3.Error,)
    _glob_like = True  # SQLite's LIKE ignores case
    _row_order = "rowid"

    def __init__(self, db_path: str, artifact_root: str) -> None:
        self.location = os.path.abspath(db_path)
        self._write_lock, self._lock_pid = threading.RLock(), os.getpid()
        self._transaction_lock = threading.RLock()  # held from BEGIN to COMMIT; see _before_fork
        _stores.add(self)
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
        # Checkpoint the WAL every ~16 MB instead of SQLite's ~4 MB: each checkpoint syncs the
        # file twice, the largest fixed cost of a stream of metric writes. Crash safety is the same.
        conn.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_PAGES}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        yield self._conn()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # Threads of this process (a server's workers) queue on a lock and start the moment the
        # write before theirs ends; SQLite's busy handler would make them sleep up to 100 ms.
        # Reentrant: a signal handler flushing amid this thread's write fails as SQLite makes it.
        if self._lock_pid != os.getpid():  # a forked child: the parent's threads are not here
            self._write_lock, self._lock_pid = threading.RLock(), os.getpid()
            self._transaction_lock = threading.RLock()
        with self._write_lock:
            conn = self._conn()
            deadline = time.monotonic() + _BUSY_TIMEOUT_S
            # BEGIN does not wait inside SQLite while another process writes: this loop waits,
            # without the transaction lock, so a fork meanwhile is not held up (_before_fork).
            conn.execute("PRAGMA busy_timeout = 0")
            try:
                while True:
                    self._transaction_lock.acquire()
                    try:
                        conn.execute("BEGIN IMMEDIATE")
                        break
                    except sqlite3.OperationalError as e:
                        self._transaction_lock.release()
                        busy = "locked" in str(e) or "busy" in str(e)
                        if not busy or time.monotonic() > deadline:
                            raise StoreError(f"Cannot write to {self.location!r}: {e}") from e
                        time.sleep(0.01)
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                self._transaction_lock.release()

    def _data_version(self, conn: sqlite3.Connection) -> tuple[int, int]:
        # data_version moves when another connection commits, total_changes when this one writes
        return conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes

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


# A process forked amid an SQLite write transaction leaves its child a copy of SQLite's
# in-process record of that lock: the child's own writes then wait out the busy timeout and
# fail. So a fork first lets the transactions in flight commit (and starts no new one).
_stores: weakref.WeakSet[SqliteStore] = weakref.WeakSet()
_held: list[threading.RLock] = []


def _before_fork() -> None:
    for store in list(_stores):
        lock = store._transaction_lock
        if store._lock_pid == os.getpid() and lock.acquire(timeout=_FORK_WAIT_S):
            _held.append(lock)


def _after_fork() -> None:
    while _held:
        _held.pop().release()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)
