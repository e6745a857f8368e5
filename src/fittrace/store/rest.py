"""The tracking store behind a fittrace tracking server: ``http://`` and ``https://`` tracking URIs.

``RestStore`` has the SQL store's public methods (those ``wire.METHODS`` lists, with the same
signatures); each is one POST to ``<server>/api/fittrace/v1/store/<method>`` (see ``wire``).
A run's artifacts go through the server too (``HttpArtifactRepository``), whatever its
artifact URI says: the training machine needs neither database nor object-store credentials.

Only the standard library is used (``urllib.request``), one connection per request.

- ``FITTRACE_TRACKING_TOKEN``: sent as ``Authorization: Bearer <token>`` when set.
- ``FITTRACE_HTTP_TIMEOUT``: seconds a request may wait for the server (default 120).
- ``FITTRACE_HTTP_RETRIES``: extra attempts after a failure (default 3, backoff 0.5 s, doubling).

Retries: reads (and artifact uploads and downloads, which overwrite and copy) are retried on
connection errors and 5xx answers, and so is ``write_batch``: each of its requests carries a
fresh ``batch_key`` that the server's store remembers, so a batch whose answer was lost (a
timeout, a reset) and that is sent again is applied once. Any other write is sent again only
when the connection was refused, so the server cannot have seen it: repeating one whose answer
was lost could, for example, create a second run.
"""

from __future__ import annotations

import http.client
import inspect
import os
import posixpath
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from fittrace.entities import FileInfo, Metric, MetricHistory
from fittrace.exceptions import InvalidParameterError, ResourceNotFoundError, StoreError
from fittrace.store import wire
from fittrace.store.artifacts import clean_artifact_path
from fittrace.store.sql import SqlStore

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_RETRIES = 3
BACKOFF_S = 0.5
# Rows per write_batch request: bounds a request's size when much was buffered (the server
# was unreachable for a while); a batch is atomic per request, not across requests.
BATCH_ROWS = 50_000
_CHUNK = 1 << 20
# Arguments newer than some servers, by method; each must leave the answer the same when left
# out: search_runs' keyset position ``after`` (its ``offset`` names the same page).
NEWER_ARGUMENTS = {"search_runs": "after"}


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InvalidParameterError(f"{name} must be a number, got {text!r}") from None
    if value < 0:
        raise InvalidParameterError(f"{name} must not be negative, got {text!r}")
    return value


class _Failed(Exception):
    """One attempt that got no usable answer: ``refused`` if it never reached the server."""

    def __init__(self, reason: str, refused: bool = False) -> None:
        super().__init__(reason)
        self.refused = refused


class _Answer:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


class RestStore:
    """A tracking server's store, called over HTTP (see the module docstring)."""

    is_remote = True

    def __init__(self, url: str, token: str | None = None) -> None:
        self.location = url.rstrip("/")
        self.api = self.location + wire.API_PREFIX
        self._token = token
        self.timeout = _env_number("FITTRACE_HTTP_TIMEOUT", DEFAULT_TIMEOUT_S)
        self.retries = int(_env_number("FITTRACE_HTTP_RETRIES", DEFAULT_RETRIES))
        # what this server refused as unknown (it is older than them): the arguments of
        # NEWER_ARGUMENTS, write_batch's metric_columns (wire.metric_columns) and the method
        # get_metric_history_columns
        self._refused: set[str] = set()

    def close(self) -> None:
        """Nothing to close: every request opens and closes its own connection."""

    def artifact_repository(self, run_id: str) -> HttpArtifactRepository:
        return HttpArtifactRepository(self, run_id)

    # -- HTTP ------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        token = (
            self._token if self._token is not None else os.environ.get("FITTRACE_TRACKING_TOKEN")
        )
        headers = {"User-Agent": "fittrace"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _once(
        self,
        method: str,
        url: str,
        body: bytes | Callable[[], BinaryIO] | None,
        headers: dict[str, str],
        sink: Callable[[Any], None] | None,
    ) -> _Answer:
        data = body() if callable(body) else body
        try:
            request = urllib.request.Request(
                url, data, {**self._headers(), **headers}, method=method
            )
            try:
                response = urllib.request.urlopen(request, timeout=self.timeout)
            except urllib.error.HTTPError as e:
                with e:
                    return _Answer(e.code, e.headers, e.read())
            with response:
                if sink is not None and 200 <= response.status < 300:
                    sink(response)
                    return _Answer(response.status, response.headers, b"")
                return _Answer(response.status, response.headers, response.read())
        except urllib.error.URLError as e:
            reason = e.reason
            refused = isinstance(reason, ConnectionRefusedError)
            raise _Failed(f"{type(reason).__name__}: {reason}", refused) from e
        except (OSError, http.client.HTTPException) as e:
            raise _Failed(f"{type(e).__name__}: {e}") from e
        finally:
            if hasattr(data, "close"):
                data.close()  # type: ignore[union-attr]

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Callable[[], BinaryIO] | None = None,
        headers: dict[str, str] | None = None,
        *,
        idempotent: bool,
        sink: Callable[[Any], None] | None = None,
    ) -> _Answer:
        """``method`` on ``<server>/api/fittrace/v1<path>``, retried as the module docstring says.

        A callable ``body`` opens a fresh stream per attempt. ``sink`` reads a successful
        response's body itself. Fittrace errors the server reports are raised as themselves.
        """
        url = self.api + path
        attempt = 0
        while True:
            try:
                answer = self._once(method, url, body, headers or {}, sink)
            except _Failed as e:
                if attempt < self.retries and (idempotent or e.refused):
                    time.sleep(BACKOFF_S * 2**attempt)
                    attempt += 1
                    continue
                tries = f" ({attempt + 1} attempts)" if attempt else ""
                hint = (
                    "; the server closes the connection on a file over its upload limit "
                    "(fittrace server --max-upload-mb)"
                    if method == "PUT" and not e.refused
                    else ""
                )
                raise StoreError(
                    f"Cannot reach the fittrace tracking server at {self.location}{tries}: {e}{hint}"
                ) from e
            if answer.status >= 500 and idempotent and attempt < self.retries:
                time.sleep(BACKOFF_S * 2**attempt)
                attempt += 1
                continue
            if answer.status >= 400:
                raise self._error(method, url, answer)
            return answer

    def _error(self, method: str, url: str, answer: _Answer) -> Exception:
        status = answer.status
        if status == 401:
            sent = "Authorization" in self._headers()
            return StoreError(
                f"The tracking server at {self.location} refused the request (401): "
                + (
                    "the token in FITTRACE_TRACKING_TOKEN is not the server's"
                    if sent
                    else "it requires a token; set FITTRACE_TRACKING_TOKEN to the server's token"
                )
            )
        if status == 405:
            return StoreError(
                f"The server at {self.location} is read-only (fittrace ui) and refused {method} "
                f"{url}; log to a server started with 'fittrace server'"
            )
        if status == 413:
            return StoreError(
                f"The tracking server at {self.location} refused {url}: the request is larger than "
                "its limit (fittrace server --max-upload-mb)"
            )
        try:
            error = wire.loads(answer.body)["error"]
        except (ValueError, TypeError, KeyError):
            return StoreError(
                f"Unexpected HTTP {status} from {url}: is {self.location} a fittrace tracking "
                "server (fittrace server)?"
            )
        return wire.exception_from(error)

    def _call(
        self,
        name: str,
        arguments: dict[str, Any],
        body: bytes | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        answer = self.request(
            "POST",
            f"/store/{name}",
            wire.dumps(arguments) if body is None else body,
            {"Content-Type": "application/json"},
            idempotent=name in wire.READ_METHODS if idempotent is None else idempotent,
        )
        try:
            return wire.loads(answer.body)["result"]
        except (ValueError, TypeError, KeyError) as e:
            raise StoreError(
                f"Malformed answer from the tracking server at {self.location} to {name}: {e}"
            ) from e

    def write_batch(
        self,
        metrics: Iterable[tuple[str, str, float, int, int]],
        params: Iterable[tuple[str, str, str]],
        tags: Iterable[tuple[str, str, str]],
        batch_key: str | None = None,
    ) -> None:
        """As ``SqlStore.write_batch``, in requests of at most ``BATCH_ROWS`` metric rows; request
        ``n`` carries the key ``<batch_key>.<n>`` (a fresh ``batch_key`` when none is given), so
        each is retried safely, and so is the whole call when repeated with the same key."""
        metrics, params, tags = list(metrics), list(params), list(tags)
        batch_key = batch_key or uuid.uuid4().hex
        for i in range(0, max(len(metrics), 1), BATCH_ROWS):
            arguments = {
                "metrics": metrics[i : i + BATCH_ROWS],
                "params": params if i == 0 else [],
                "tags": tags if i == 0 else [],
                "batch_key": f"{batch_key}.{i // BATCH_ROWS}",
            }
            body = None
            if "metric_columns" not in self._refused:
                try:  # the recorder's rows are plain (str, str, float, int, int)
                    columns = wire.metric_columns(arguments["metrics"])
                    body = wire.dumps_encoded(
                        {**arguments, "metrics": [], "metric_columns": columns}
                    )
                except (TypeError, ValueError):  # anything else: rows, the general encoder
                    pass
            try:
                self._call("write_batch", arguments, body, idempotent=True)
            except InvalidParameterError as e:
                if body is None or "metric_columns" not in str(e):
                    raise
                # A server older than metric_columns (or refusing these): rows, from now on.
                self._refused.add("metric_columns")
                self._call("write_batch", arguments, None, idempotent=True)

    def get_metric_history_columns(self, run_id: str, key: str) -> MetricHistory:
        """As ``SqlStore.get_metric_history_columns``; from a server older than it, built from
        ``get_metric_history``."""
        arguments = {"run_id": run_id, "key": key}
        if "get_metric_history_columns" not in self._refused:
            try:
                return self._call("get_metric_history_columns", arguments)
            except ResourceNotFoundError as e:
                if "No store method" not in str(e):
                    raise
                self._refused.add("get_metric_history_columns")
        return MetricHistory.of(key, self._call("get_metric_history", arguments))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.get_metric_history_columns(run_id, key).metrics()

    def _call_compatibly(self, name: str, arguments: dict[str, Any]) -> Any:
        """``_call``; an argument of ``NEWER_ARGUMENTS`` goes only when set, and once a server has
        refused it as unknown (a server older than it), never again: the call without it."""
        newer = NEWER_ARGUMENTS.get(name)
        if newer is None:
            return self._call(name, arguments)
        if arguments.get(newer) is not None and newer not in self._refused:
            try:
                return self._call(name, arguments)
            except InvalidParameterError as e:
                if f"argument '{newer}'" not in str(e):
                    raise
                self._refused.add(newer)
        return self._call(name, {k: v for k, v in arguments.items() if k != newer})


def _remote(name: str, signature: inspect.Signature) -> Callable[..., Any]:
    def method(self: RestStore, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        del arguments["self"]
        return self._call_compatibly(name, arguments)

    method.__name__, method.__qualname__ = name, f"RestStore.{name}"
    method.__signature__ = signature  # type: ignore[attr-defined]
    method.__doc__ = f"``SqlStore.{name}`` on the tracking server."
    return method


for _name in sorted(wire.METHODS):
    if _name not in RestStore.__dict__:
        setattr(RestStore, _name, _remote(_name, inspect.signature(getattr(SqlStore, _name))))


class HttpArtifactRepository:
    """A run's artifacts, uploaded to and downloaded from the tracking server.

    ``PUT <api>/artifacts/<run_id>/<path>`` stores a file, ``GET`` the same URL returns it (or,
    for a folder, a JSON listing of every file beneath), ``GET <api>/artifacts/<run_id>?path=``
    lists one folder.
    """

    def __init__(self, store: RestStore, run_id: str) -> None:
        self._store = store
        self._path = f"/artifacts/{quote(run_id, safe='')}"
        self.root = store.api + self._path

    def _file_path(self, rel: str) -> str:
        return f"{self._path}/{quote(rel)}"

    def _put(self, rel: str, body: bytes | Callable[[], BinaryIO], size: int) -> None:
        if not rel:
            raise InvalidParameterError("An artifact file needs a name, got an empty path")
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        self._store.request("PUT", self._file_path(rel), body, headers, idempotent=True)

    def _upload(self, local_file: str, rel: str) -> None:
        size = os.path.getsize(local_file)
        self._put(rel, lambda: open(local_file, "rb"), size)

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        if not os.path.isfile(local_file):
            raise ResourceNotFoundError(f"No file to log at {local_file!r}")
        base = clean_artifact_path(artifact_path)
        self._upload(local_file, posixpath.join(base, os.path.basename(local_file)))

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        if not os.path.isdir(local_dir):
            raise ResourceNotFoundError(f"No directory to log at {local_dir!r}")
        base = clean_artifact_path(artifact_path)
        for dirpath, _, files in os.walk(local_dir):
            rel = os.path.relpath(dirpath, local_dir).replace(os.sep, "/")
            for name in sorted(files):
                target = posixpath.join(base, "" if rel == "." else rel, name)
                self._upload(os.path.join(dirpath, name), clean_artifact_path(target))

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        self._put(clean_artifact_path(artifact_file), bytes(data), len(data))

    def staging_dir(self) -> None:
        return None  # the system temp folder

    def move_dir(self, local_dir: str, artifact_path: str) -> None:
        self.log_artifacts(local_dir, artifact_path)

    def _listing(self, rel: str, recursive: bool) -> list[FileInfo]:
        query = urlencode({"path": rel, **({"recursive": "1"} if recursive else {})})
        answer = self._store.request("GET", f"{self._path}?{query}", idempotent=True)
        return list(wire.loads(answer.body)["files"])

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        return self._listing(clean_artifact_path(path), recursive=False)

    def _download_file(self, rel: str, target: str) -> list[FileInfo] | None:
        """Fetch file ``rel`` into ``target``; if ``rel`` is a folder, the files beneath it instead."""
        folder: list[list[FileInfo]] = []

        def sink(response: Any) -> None:
            if response.headers.get("X-Fittrace-Artifact") == "directory":
                folder.append(list(wire.loads(response.read())["files"]))
                return
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            with open(target, "wb") as f:
                shutil.copyfileobj(response, f, _CHUNK)

        self._store.request("GET", self._file_path(rel), idempotent=True, sink=sink)
        return folder[0] if folder else None

    def download_artifacts(self, path: str | None, dst_path: str) -> str:
        rel = clean_artifact_path(path)
        target = os.path.join(dst_path, *rel.split("/")) if rel else dst_path
        if rel:
            files = self._download_file(rel, target)
            if files is None:
                return os.path.abspath(target)
        else:
            files = self._listing("", recursive=True)
            if not files:
                raise ResourceNotFoundError(f"No artifacts under {self.root!r}")
        os.makedirs(target, exist_ok=True)
        for info in files:
            inner = clean_artifact_path(info.path[len(rel) :].lstrip("/") if rel else info.path)
            if not inner:
                continue
            local = os.path.join(target, *inner.split("/"))
            if info.is_dir:
                os.makedirs(local, exist_ok=True)
            elif self._download_file(info.path, local) is not None:
                os.makedirs(local, exist_ok=True)
        return os.path.abspath(target)
