"""The tracking API: what makes ``fittrace server`` a tracking server for ``http://`` tracking URIs.

Endpoints, under ``/api/fittrace/v1`` (JSON as ``fittrace.store.wire`` encodes it):

- ``POST /store/<method>``, body: the keyword arguments, a JSON object. Calls that method of
  the server's store, for the methods ``wire.METHODS`` lists only; answers ``{"result": ...}``.
  ``write_batch`` also takes its metrics as ``metric_columns`` (``wire.metric_columns``).
- ``PUT /artifacts/<run_id>/<path>``, body: the file's bytes (``Content-Length`` required, at
  most the server's upload limit). Stores the file in the run's artifacts.
- ``GET /artifacts/<run_id>/<path>``: the file's bytes (``X-Fittrace-Artifact: file``); for a
  folder, ``{"files": [...]}`` listing every file beneath it (``X-Fittrace-Artifact: directory``).
- ``GET /artifacts/<run_id>?path=<folder>[&recursive=1]``: ``{"files": [FileInfo, ...]}``.

Errors are ``{"error": {"type": <fittrace.exceptions class>, "message": ...}}`` with status
400 (invalid argument, filter or path, or arguments nested too deeply), 404 (no such run,
experiment, model, artifact or endpoint), 405 (a write on a read-only server), 409 (already
exists, or a param logged before with another value), 411, 413 or 500; a failure that is not a
fittrace error is logged here and reported as a StoreError naming its type and message, never
with a traceback. No message names a path of the server's (``ServedArtifacts.redact``).

The server touches artifacts only under its own artifact root (``ServedArtifacts``): a client
may not create an experiment whose ``artifact_location`` lies elsewhere (400).

Store calls run on the server's worker pool (which bounds its database connections); file
transfers run on the connection's own thread, after a store call for the run's artifact URI.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import posixpath
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import parse_qs, unquote, urlsplit

from fittrace.entities import FileInfo
from fittrace.exceptions import (
    FittraceError,
    InvalidParameterError,
    ResourceNotFoundError,
)
from fittrace.store import wire
from fittrace.store.artifacts import (
    ArtifactRepository,
    LocalArtifactRepository,
    clean_artifact_path,
    repository_for,
    within_root,
)
from fittrace.tracking import validation

log = logging.getLogger("fittrace.server")

PREFIX = wire.API_PREFIX + "/"
DEFAULT_MAX_UPLOAD = 2 << 30  # bytes per artifact file
_INT64_MIN, _INT64_MAX = validation.INT64_MIN, validation.INT64_MAX
MAX_CALL_BYTES = 256 << 20  # bytes of one store call's arguments
_DRAIN = (
    1 << 20
)  # an unwanted body up to this size is read before answering, so the client sees the answer
_CHUNK = 1 << 20
_MAX_DEPTH = 64
_KNOWN_RUNS = 10_000  # artifact URIs remembered
_JSON = "application/json"


@dataclass
class Reply:
    status: int
    body: bytes | BinaryIO = b""
    content_type: str = _JSON
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """An answer other than a store error: a status, a fittrace exception type and a message."""

    def __init__(self, status: int, error_type: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.headers = status, error_type, headers


def _json(value: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(status, wire.dumps(value), headers=dict(headers))


def _error(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> Reply:
    return Reply(status, wire.error_body(error_type, message), headers=dict(headers or {}))


def is_api(path: str) -> bool:
    return path.startswith(PREFIX) or path == wire.API_PREFIX


# ------------------------------------------------------------------------------- store calls


def _rows(rows: Any, width: int, what: str) -> list[list[Any]]:
    if type(rows) is not list or not all(type(r) is list and len(r) == width for r in rows):
        raise InvalidParameterError(f"write_batch: {what} must be a list of {width}-item rows")
    return rows


def _checked_rows(rows: list[Any]) -> list[tuple[Any, ...]]:
    """write_batch's metric rows, checked as the client's recorder checks them."""
    metrics = []
    for run_id, key, value, timestamp, step in rows:
        if type(run_id) is not str or not run_id:  # exact types: the fast path
            _run_id(run_id)
        validation.validate_key(key, "Metric")
        if type(value) is not float:
            value = validation.metric_value(key, value)
        if type(timestamp) is not int or not _INT64_MIN <= timestamp <= _INT64_MAX:
            timestamp = validation.integer("timestamp", timestamp)
        if type(step) is not int or not _INT64_MIN <= step <= _INT64_MAX:
            step = validation.integer("step", step)
        metrics.append((run_id, key, value, timestamp, step))
    return metrics


def _checked_columns(columns: Any) -> list[tuple[Any, ...]]:
    """The rows of write_batch's ``metric_columns``, checked a column at a time (the rows'
    checks, with their messages, when a column holds anything but plain floats or int64s)."""
    rows = wire.metric_rows(columns)
    for run_id in columns["runs"]:
        _run_id(run_id)
    for key in columns["keys"]:
        validation.validate_key(key, "Metric")
    if set(map(type, columns["value"])) <= {float} and all(
        _int64s(columns[name]) for name in ("timestamp", "step")
    ):
        return rows
    return _checked_rows(rows)


def _int64s(column: list[Any]) -> bool:
    return set(map(type, column)) <= {int} and (
        not column or _INT64_MIN <= min(column) and max(column) <= _INT64_MAX
    )


def check_batch(arguments: dict[str, Any], columns: Any = None) -> None:
    """The rows of a write_batch call (``columns``: its metric_columns, if any), checked."""
    metrics = _checked_rows(_rows(arguments.get("metrics", []), 5, "metrics"))
    if columns is not None:
        metrics += _checked_columns(columns)
    params = [
        (_run_id(r), validation.validate_key(k, "Param"), validation.param_value(k, _text(v)))
        for r, k, v in _rows(arguments.get("params", []), 3, "params")
    ]
    tags = [
        (_run_id(r), validation.tag_key(k), validation.tag_value(k, _text(v)))
        for r, k, v in _rows(arguments.get("tags", []), 3, "tags")
    ]
    arguments.update(metrics=metrics, params=params, tags=tags)


def _run_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidParameterError(f"A run id must be a non-empty string, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidParameterError(f"Param and tag values must be strings, got {value!r}")
    return value


def _check_location(store: Any, location: Any) -> None:
    """A client may place an experiment's artifacts under the server's artifact root only."""
    if location is not None and location != "" and not within_root(store.artifact_root, location):
        raise InvalidParameterError(
            "create_experiment: artifact_location must lie under this server's artifact root; "
            "leave it out and the server places the experiment's artifacts itself"
        )


def call_store(store: Any, name: str, arguments: Any) -> Reply:
    """Run ``store.<name>(**arguments)`` for an allowed method; its result as a Reply."""
    if not isinstance(arguments, dict):
        raise InvalidParameterError(f"{name}: the body must be a JSON object of arguments")
    method = getattr(store, name)
    columns = None
    if name == "write_batch":  # metrics may come as columns too: see wire.metric_columns
        arguments = dict(arguments)
        columns = arguments.pop("metric_columns", None)
    try:
        bound = inspect.signature(method).bind(**arguments)
    except TypeError as e:
        raise InvalidParameterError(f"{name}: {e}") from None
    if name in ("create_run", "resume_run"):
        # Its process is on another machine: no process here may count as the run's owner.
        bound.arguments["owned"] = False
    if name == "create_experiment":
        _check_location(store, bound.arguments.get("artifact_location"))
    if name == "write_batch":
        check_batch(bound.arguments, columns)
    result = method(*bound.args, **bound.kwargs)
    return Reply(200, wire.dumps({"result": result}))


class ServedArtifacts:
    """What a server may touch of its store's artifacts, and what it may say about its places.

    Repositories: only those of runs whose artifact URI lies under the server's artifact root.
    A run stored elsewhere (an experiment created with another location by a client with direct
    database access, or before the server checked locations) is answered ResourceNotFoundError:
    no filesystem is built from its URI, so a location in the store can never make the server
    fetch a URL or write outside its root. Messages: ``redact`` hides the server's own paths.
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self._uris: dict[str, str] = {}  # run id -> artifact URI, which never changes
        self._private = _private_places(store)

    def repository(self, run_id: str) -> ArtifactRepository:
        """The run's repository (reads the store: call it on a worker thread)."""
        uri = self._uris.get(run_id)
        if uri is None:
            uri = self.store.get_run_info(run_id).artifact_uri
            if len(self._uris) >= _KNOWN_RUNS:
                self._uris.clear()
            self._uris[run_id] = uri
        if not within_root(self.store.artifact_root, uri):
            raise ResourceNotFoundError(
                f"The artifacts of run {run_id} are not served here: they are stored outside "
                "this server's artifact root"
            )
        return repository_for(uri)

    def redact(self, message: str) -> str:
        """An error message without the server's own paths: clients never learn them."""
        for place, label in self._private:
            message = message.replace(place, label)
        return message


def _private_places(store: Any) -> list[tuple[str, str]]:
    """The server's own paths, longest first, and what error messages say instead."""
    temp = os.path.join(tempfile.gettempdir(), "fittrace-")
    places = {temp: "<server temp folder>/fittrace-", store.location: "<tracking store>"}
    if os.path.isabs(store.location):  # a SQLite file
        places[os.path.dirname(store.location)] = "<tracking store folder>"
    root = store.artifact_root
    if root:
        places[root] = "<artifact root>"
        if "://" not in root or root.startswith("file://"):
            local = root.removeprefix("file://")
            for spelling in (os.path.abspath(local), os.path.realpath(local)):
                places[spelling] = "<artifact root>"
    for path in [p for p in places if "://" not in p]:
        places.setdefault(os.path.realpath(path), places[path])
    return sorted(((p, label) for p, label in places.items() if p), key=lambda x: -len(x[0]))


# --------------------------------------------------------------------------------- the API


class TrackingApi:
    """The API over one store; ``writable`` False refuses every write with 405."""

    def __init__(self, store: Any, workers: Executor, writable: bool, max_upload: int) -> None:
        self.store, self.workers = store, workers
        self.writable, self.max_upload = writable, max_upload
        self.artifacts = ServedArtifacts(store)

    def _on_pool(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.workers.submit(fn, *args).result()

    def handle(
        self,
        method: str,
        target: str,
        headers: Any,
        body: BinaryIO,
        resources: contextlib.ExitStack,
    ) -> Reply:
        """The reply to ``method target`` (HEAD as GET); reads the request body from ``body``."""
        parts = urlsplit(target)
        route = parts.path[len(PREFIX) :] if parts.path.startswith(PREFIX) else ""
        kind, _, rest = route.partition("/")
        try:
            if kind == "store" and rest and "/" not in rest:
                self._allow(method, "POST")
                return self._store_call(unquote(rest), headers, body)
            if kind == "artifacts" and rest:
                run_id, _, path = rest.partition("/")
                run_id = unquote(run_id)
                if not path:
                    self._allow(method, "GET", "HEAD")
                    query = parse_qs(parts.query, keep_blank_values=True)
                    return self._list(run_id, query)
                if method == "PUT":
                    return self._upload(run_id, unquote(path), headers, body, resources)
                self._allow(method, "GET", "HEAD", "PUT")
                return self._download(run_id, unquote(path), resources)
            raise ApiError(
                404, "ResourceNotFoundError", f"No tracking API endpoint at {parts.path}"
            )
        except ApiError as e:
            return _error(e.status, e.error_type, self.artifacts.redact(str(e)), e.headers)
        except FittraceError as e:
            return _error(wire.error_status(e), type(e).__name__, self.artifacts.redact(str(e)))
        except Exception as e:
            log.exception("fittrace server: %s %s failed", method, target)
            message = f"The server failed: {type(e).__name__}: {e}"
            return _error(500, "StoreError", self.artifacts.redact(message))

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise ApiError(
                405,
                "InvalidParameterError",
                f"{method} is not allowed here; use {' or '.join(allowed)}",
                Allow=", ".join(allowed),
            )

    def _refuse_write(self, what: str) -> None:
        if not self.writable:
            raise ApiError(
                405,
                "StoreError",
                f"{what} is not allowed: this server is read-only (fittrace ui); "
                "start it with 'fittrace server' to accept writes",
            )

    @staticmethod
    def _length(headers: Any, limit: int) -> int:
        if headers.get("Transfer-Encoding"):
            raise ApiError(
                411, "InvalidParameterError", "Send a Content-Length, not a chunked body"
            )
        text = headers.get("Content-Length", "")
        if not (text.isascii() and text.isdigit()):
            raise ApiError(411, "InvalidParameterError", "A Content-Length header is required")
        length = int(text)
        if length > limit:
            raise ApiError(
                413,
                "InvalidParameterError",
                f"The request has {length} bytes; this server accepts at most {limit}",
            )
        return length

    @staticmethod
    def _read(body: BinaryIO, length: int) -> bytes:
        data = body.read(length)
        if len(data) != length:
            raise ApiError(400, "InvalidParameterError", "The request body ended early")
        return data

    def _store_call(self, name: str, headers: Any, body: BinaryIO) -> Reply:
        if name not in wire.METHODS:
            raise ApiError(404, "ResourceNotFoundError", f"No store method {name!r} in the API")
        if name in wire.WRITE_METHODS:
            self._refuse_write(f"{name} (a write)")
        data = self._read(body, self._length(headers, MAX_CALL_BYTES))
        try:
            arguments = wire.loads(data) if data else {}
        except (ValueError, TypeError) as e:
            raise ApiError(400, "InvalidParameterError", f"{name}: malformed arguments: {e}") from e
        except RecursionError:
            raise ApiError(
                400, "InvalidParameterError", f"{name}: the arguments are nested too deeply"
            ) from None
        return self._on_pool(call_store, self.store, name, arguments)

    # -- artifacts -------------------------------------------------------------------
    def _repository(self, run_id: str) -> ArtifactRepository:
        return self._on_pool(self.artifacts.repository, run_id)

    def _upload(
        self,
        run_id: str,
        path: str,
        headers: Any,
        body: BinaryIO,
        resources: contextlib.ExitStack,
    ) -> Reply:
        self._refuse_write("Uploading an artifact")
        length = self._length(headers, self.max_upload)
        rel = clean_artifact_path(path)
        if not rel:
            raise InvalidParameterError("An artifact upload needs a file path")
        receive_file(self._repository(run_id), rel, length, body, resources)
        return _json({"result": None})

    def _list(self, run_id: str, query: dict[str, list[str]]) -> Reply:
        rel = clean_artifact_path(query.get("path", [""])[0])
        recursive = query.get("recursive", [""])[0] in ("1", "true")
        repo = self._repository(run_id)
        files = _walk(repo, rel) if recursive else repo.list_artifacts(rel or None)
        return _json({"files": files})

    def _download(self, run_id: str, path: str, resources: contextlib.ExitStack) -> Reply:
        rel = clean_artifact_path(path)
        repo = self._repository(run_id)
        info = find(repo, rel) if rel else FileInfo("", True)
        if info is None:
            raise ResourceNotFoundError(f"Run {run_id} has no artifact {rel!r}")
        if info.is_dir:
            return _json({"files": _walk(repo, rel)}, **{"X-Fittrace-Artifact": "directory"})
        stream = open_file(repo, rel, resources)
        return Reply(200, stream, "application/octet-stream", {"X-Fittrace-Artifact": "file"})


def receive_file(
    repo: ArtifactRepository, rel: str, length: int, body: BinaryIO, resources: contextlib.ExitStack
) -> None:
    """Store ``length`` bytes of ``body`` as file ``rel`` of ``repo``."""
    tmp = resources.enter_context(tempfile.TemporaryDirectory(prefix="fittrace-upload-"))
    local = os.path.join(tmp, posixpath.basename(rel))
    with open(local, "wb") as f:
        left = length
        while left:
            chunk = body.read(min(left, _CHUNK))
            if not chunk:
                raise ApiError(400, "InvalidParameterError", "The upload ended early")
            f.write(chunk)
            left -= len(chunk)
    parent = posixpath.dirname(rel)
    repo.log_artifact(local, parent or None)


def open_file(repo: ArtifactRepository, rel: str, resources: contextlib.ExitStack) -> BinaryIO:
    """File ``rel`` of ``repo``, open for reading until ``resources`` close."""
    if isinstance(repo, LocalArtifactRepository):
        local = repo._local(rel)  # confined to the repository's root, symlinks resolved
    else:
        tmp = resources.enter_context(tempfile.TemporaryDirectory(prefix="fittrace-get-"))
        local = repo.download_artifacts(rel, tmp)
    return resources.enter_context(open(local, "rb"))


def find(repo: ArtifactRepository, rel: str) -> FileInfo | None:
    """The file or folder ``rel`` of ``repo``, None if there is none."""
    parent = posixpath.dirname(rel)
    for info in repo.list_artifacts(parent or None):
        if info.path == rel:
            return info
    return None


def _walk(repo: ArtifactRepository, rel: str, depth: int = 0) -> list[FileInfo]:
    """Every file beneath folder ``rel``, and the empty folders."""
    if depth > _MAX_DEPTH:
        raise InvalidParameterError(f"Artifact folder {rel!r} is nested too deeply to list")
    files: list[FileInfo] = []
    for info in repo.list_artifacts(rel or None):
        if not info.is_dir:
            files.append(info)
            continue
        inner = _walk(repo, info.path, depth + 1)
        files.extend(inner or [info])
    return files


class Body:
    """A request's body: at most ``Content-Length`` bytes of the connection, counting what was read."""

    def __init__(self, stream: BinaryIO, headers: Any) -> None:
        text = headers.get("Content-Length", "")
        self._stream = stream
        self.left = int(text) if text.isascii() and text.isdigit() else 0

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self._stream.read(size) if size else b""
        self.left -= len(data)
        return data

    def discard(self) -> bool:
        """Read what is left of a small body, so the client gets the answer; False if too big."""
        if self.left > _DRAIN:
            return False
        while self.left and self.read(_CHUNK):
            pass
        return True
