"""Helpers for test suites that use fittrace: a clean tracking state per test, a tracking server
in the test's process, a throwaway PostgreSQL.

``postgres_server()`` starts PostgreSQL's own programs (on PATH or under /usr/lib/postgresql)
in a temporary folder on a free loopback port, as the ``postgres`` user when running as root
(PostgreSQL refuses to run as root); ``FITTRACE_TEST_POSTGRES_URI``, a server URI whose user
may create databases, uses an existing server instead. ``new_postgres_database`` gives each
test an empty database on it, to track into with ``postgresql://`` as a team store would.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fittrace.entities import RunStatus
from fittrace.tracking import fluent, pending, stores


def reset_tracking() -> None:
    """End runs left open (KILLED if another thread or task started them), let deferred writes
    finish, flush, close and forget every open store, the tracking URI set in code and the
    current experiment."""
    while fluent.active_run() is not None:
        fluent.end_run()
    for run_id in list(fluent._open):
        try:
            fluent._end(run_id, RunStatus.KILLED)
        except Exception:
            fluent._open.pop(run_id, None)
    fluent._stack.set(())
    fluent._state.update(experiment=None, last_run=None)
    stores.set_tracking_uri(None)
    pending.wait_deferred()
    for recorder in list(stores._open.values()):
        try:
            recorder.flush()
        except Exception:  # a test may have broken its store on purpose
            pass
        recorder.store.close()
    stores._open.clear()


@contextlib.contextmanager
def tracking_server(backend: str, **options: Any) -> Iterator[str]:
    """A tracking server (``fittrace.ui.make_server`` with ``options``) over the store at
    ``backend`` on a free loopback port, serving on a thread; yields its URL. Runs left open
    end before it stops."""
    from fittrace.ui import make_server

    server = make_server(backend, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        reset_tracking()  # ends runs left open through the server while it still answers
        server.shutdown()
        server.server_close()
        thread.join(10)


_USER = "fittrace"

# SQL: how many metric points the store holds, whatever the blocks they are packed in
STORED_POINTS = "SELECT CAST(SUM(LENGTH(steps) / 8) AS BIGINT) FROM metric_blocks"


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} was not found: install PostgreSQL (apt-get install postgresql) "
            "or set FITTRACE_TEST_POSTGRES_URI to a server"
        )
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server (fsync off: for tests) in a new temporary folder; yield its URI; stop and remove it."""
    configured = os.environ.get("FITTRACE_TEST_POSTGRES_URI")
    if configured:
        yield configured
        return
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(
        tempfile.mkdtemp(prefix="fittrace-postgres-")
    )  # where the postgres user can enter
    if as_postgres:
        shutil.chown(folder, "postgres")

    def pg(program: str, *args: str, check: bool = True) -> None:
        done = subprocess.run(
            [*as_postgres, _binary(program), *args], capture_output=True, text=True
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"PostgreSQL's {program} failed: {done.stderr or done.stdout}")

    data, port = str(folder / "data"), _free_port()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        pg("initdb", "-D", data, "-U", _USER, "--auth=trust", "--no-sync")
        pg("pg_ctl", "-D", data, "-o", options, "-l", str(folder / "log"), "-w", "start")
        yield f"postgresql://{_USER}@127.0.0.1:{port}/postgres"
    finally:
        pg("pg_ctl", "-D", data, "-m", "immediate", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)


def new_postgres_database(server_uri: str) -> str:
    """Create an empty database on the server; return its URI."""
    import psycopg

    name = f"fittrace_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_uri, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_uri.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(server_uri: str, database_uri: str) -> None:
    """Drop a database ``new_postgres_database`` made, ending the sessions still open on it."""
    import psycopg

    name = database_uri.rsplit("/", 1)[1]
    with psycopg.connect(server_uri, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
