"""Tracking URI resolution and one open store + recorder per URI in this process.

Resolution order: explicit argument > ``set_tracking_uri`` > ``FITTRACE_TRACKING_URI``
(``MLFLOW_TRACKING_URI`` is honoured too) > ``sqlite:///fitruns/fittrace.db``.
``postgresql://user:password@host:port/database`` selects a PostgreSQL server.
Artifacts go to ``FITTRACE_ARTIFACT_ROOT`` if set (a folder or an fsspec URL such as
``s3://bucket/prefix``), else to ``artifacts/`` beside the SQLite database, or to
``fitruns/artifacts`` in the working directory for a PostgreSQL store.
``http://host:port`` or ``https://...`` selects a tracking server, ``fittrace server`` or
``mlflow server`` (which one is asked once, on first use): every call goes through it, to the
store and artifact root it was started with (``FITTRACE_ARTIFACT_ROOT`` is the server's
business then, and ignored here).
"""

from __future__ import annotations

import os
import threading

from fittrace.exceptions import InvalidUriError
from fittrace.store.sql import SqlStore
from fittrace.tracking.recorder import Recorder

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
HTTP_SCHEMES = ("http://", "https://")

DEFAULT_TRACKING_URI = "sqlite:///fitruns/fittrace.db"

_state = {"uri": None}
_open: dict[tuple[str, str], Recorder] = {}
_lock = threading.Lock()


def set_tracking_uri(uri: str | os.PathLike | None) -> None:
    """Set the tracking URI for this process (None returns to the environment/default)."""
    _state["uri"] = None if uri is None else os.fspath(uri)


def get_tracking_uri() -> str:
    return (
        _state["uri"]
        or os.environ.get("FITTRACE_TRACKING_URI")
        or os.environ.get("MLFLOW_TRACKING_URI")
        or DEFAULT_TRACKING_URI
    )


def sqlite_path(uri: str) -> str:
    """Absolute database path for a tracking URI (sqlite:///rel.db, sqlite:////abs.db, a path, file:)."""
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
        if path.startswith("/"):  # sqlite:////abs/path
            path = "/" + path.lstrip("/")
    elif uri.startswith("sqlite://"):
        raise InvalidUriError(
            f"Tracking URI {uri!r} has no path; use sqlite:///relative.db or sqlite:////abs.db"
        )
    elif uri.startswith("file:"):
        path = uri[len("file://") :] if uri.startswith("file://") else uri[len("file:") :]
        path = path if path.endswith(".db") else os.path.join(path, "fittrace.db")
    elif "://" in uri:
        scheme = uri.split("://", 1)[0]
        raise InvalidUriError(
            f"Tracking URI scheme {scheme!r} is not supported; use sqlite:///path/to/file.db, a directory, "
            "a path ending in .db, postgresql://user:password@host:port/database, or the http(s):// URL "
            "of a fittrace server"
        )
    else:
        path = uri if uri.endswith(".db") else os.path.join(uri, "fittrace.db")
    if not path or path.endswith(("/", os.sep)):
        raise InvalidUriError(f"Tracking URI {uri!r} does not name a database file")
    return os.path.abspath(path)


def is_postgres(uri: str) -> bool:
    return uri.startswith(POSTGRES_SCHEMES)


def is_http(uri: str) -> bool:
    return uri.lower().startswith(HTTP_SCHEMES)


def store_key(uri: str) -> str:
    """What identifies the store a tracking URI names (two spellings of one SQLite file agree)."""
    if is_http(uri):
        return uri.rstrip("/")
    return uri if is_postgres(uri) else sqlite_path(uri)


def artifact_root_for(uri: str) -> str:
    """Where a store's new experiments put their artifacts (see the module docstring)."""
    if is_http(uri):
        return ""  # the tracking server's own
    configured = os.environ.get("FITTRACE_ARTIFACT_ROOT")
    if configured:
        return configured
    if is_postgres(uri):
        return os.path.abspath(os.path.join("fitruns", "artifacts"))
    return os.path.join(os.path.dirname(sqlite_path(uri)), "artifacts")


def _open_store(uri: str, artifact_root: str) -> SqlStore:
    if is_http(uri):
        return _server_store(store_key(uri))  # type: ignore[return-value]  # SqlStore's methods
    if is_postgres(uri):
        from fittrace.store.postgres import PostgresStore

        return PostgresStore(uri, artifact_root)
    from fittrace.store.sqlite import SqliteStore

    return SqliteStore(sqlite_path(uri), artifact_root)


def _server_store(url: str) -> object:
    """The client of the tracking server at ``url``: fittrace's protocol when the server speaks it
    (``fittrace server``), else MLflow's REST API (``mlflow server``); asked once, on first use."""
    from fittrace.store.mlflow_rest import MlflowRestStore, speaks_mlflow_only
    from fittrace.store.rest import RestStore

    return MlflowRestStore(url) if speaks_mlflow_only(url) else RestStore(url)


def recorder_for(uri: str | None = None) -> Recorder:
    """The process-wide recorder (and store) for a tracking URI, opened on first use."""
    uri = uri or get_tracking_uri()
    key = (store_key(uri), artifact_root_for(uri))
    recorder = _open.get(key)
    if recorder is None:
        with _lock:
            recorder = _open.get(key)
            if recorder is None:
                recorder = _open[key] = Recorder(_open_store(uri, key[1]))
    return recorder
