"""The web UI and the tracking API: an HTTP server over one tracking store.

GET requests are routed to the UI's pages; paths under ``/api/fittrace/v1/`` go to the
tracking API (``api.py``), which accepts writes only on a server made ``writable``
(``fittrace server``; ``fittrace ui`` answers every write with 405).

Each connection gets its own thread, but store calls run on a fixed pool of ``WORKERS``
threads: the store keeps one connection per thread, so the pool bounds the database
connections a long-running server holds (a thread per request would open one per request).

With a ``token``, every request must carry it, as ``Authorization: Bearer <token>`` or as the
password of HTTP basic authentication (what a browser asks for; any user name); others get 401.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import logging
import mimetypes
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

from fittrace.entities import FileInfo
from fittrace.exceptions import FittraceError, InvalidParameterError, ResourceNotFoundError
from fittrace.store.artifacts import ArtifactRepository, clean_artifact_path
from fittrace.tracking import stores
from fittrace.tracking.client import Client, page_token_at
from fittrace.ui import api, pages
from fittrace.ui.markup import url

log = logging.getLogger("fittrace.ui")

WORKERS = 8
_MODELS_SHOWN = 1000
# HTML pages run no script and load nothing from elsewhere, whatever a name or tag contains.
_PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
)
# An artifact (an HTML report, an SVG) opened in the browser must not act as a UI page.
_ARTIFACT_POLICY = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
_INLINE_TYPES = {
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
    "application/json",
}


@dataclass
class Response:
    status: int
    body: bytes | BinaryIO = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    """What a route needs: the store, the query string, a stack closed after the response, and
    the artifacts the server may touch (``api.ServedArtifacts``)."""

    client: Client
    query: dict[str, list[str]]
    resources: contextlib.ExitStack
    served: api.ServedArtifacts

    def arg(self, name: str) -> str:
        return self.query.get(name, [""])[0]


def _page(html: str, status: int = 200) -> Response:
    return Response(status, html.encode("utf-8"), headers={"Content-Security-Policy": _PAGE_POLICY})


# ------------------------------------------------------------------------------------- routes


def _experiments(req: Request) -> Response:
    return _page(pages.experiments_page(req.client.search_experiments(), req.client.count_runs()))


def _offset(text: str) -> int:
    if not text:
        return 0
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise InvalidParameterError(f"offset must be a whole number of runs, got {text!r}")
    return int(text)


def _experiment(req: Request, experiment_id: str) -> Response:
    """One page of runs (``offset`` in the URL, so pages can be linked and stepped back)."""
    experiment = req.client.get_experiment(experiment_id)
    query = pages.RunsQuery(
        req.arg("filter").strip(), req.arg("order_by").strip(), _offset(req.arg("offset"))
    )
    try:
        runs = req.client.search_runs(
            [experiment_id],
            query.filter,
            max_results=pages.PAGE_SIZE,
            order_by=[query.order_by] if query.order_by else None,
            page_token=page_token_at(query.offset),
        )
    except InvalidParameterError as e:  # a malformed filter or order_by
        return _page(pages.runs_page(experiment, query, [], False, None, str(e)), 400)
    total = None if query.filter else req.client.count_runs().get(experiment_id, 0)
    return _page(pages.runs_page(experiment, query, runs, runs.token is not None, total))


def _run(req: Request, run_id: str) -> Response:
    client = req.client
    run = client.get_run(run_id)
    path = clean_artifact_path(req.arg("path"))
    try:
        experiment = client.get_experiment(run.info.experiment_id)
    except ResourceNotFoundError:
        experiment = None
    histories = {key: client.get_metric_history(run_id, key) for key in run.data.metrics}
    try:
        artifacts, artifact_error = req.served.repository(run_id).list_artifacts(path or None), None
    except FittraceError as e:  # an unreachable artifact store still shows the rest of the run
        artifacts, artifact_error = [], req.served.redact(str(e))
    return _page(pages.run_page(run, experiment, histories, path, artifacts, artifact_error))


def _find_artifact(repo: ArtifactRepository, run_id: str, path: str) -> FileInfo:
    parent = path.rsplit("/", 1)[0] if "/" in path else None
    for info in repo.list_artifacts(parent):
        if info.path == path:
            return info
    raise ResourceNotFoundError(f"Run {run_id} has no artifact {path!r}")


def _content_disposition(name: str, content_type: str) -> str:
    kind = "inline" if content_type.split(";")[0] in _INLINE_TYPES else "attachment"
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _artifact(req: Request, run_id: str, path: str) -> Response:
    """One artifact file, copied out of the run's artifact store (local or remote) and streamed."""
    rel = clean_artifact_path(path)
    repo = req.served.repository(run_id)
    info = _find_artifact(repo, run_id, rel) if rel else None
    if info is None or info.is_dir:
        return Response(302, headers={"Location": url("runs", run_id, path=rel) + "#artifacts"})
    tmp = req.resources.enter_context(tempfile.TemporaryDirectory(prefix="fittrace-ui-"))
    local = repo.download_artifacts(rel, tmp)
    name = rel.rsplit("/", 1)[-1]
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type == "application/json":
        content_type += "; charset=utf-8"
    headers = {
        "Content-Disposition": _content_disposition(name, content_type),
        "Content-Security-Policy": _ARTIFACT_POLICY,
    }
    return Response(200, req.resources.enter_context(open(local, "rb")), content_type, headers)


def _models(req: Request) -> Response:
    models = req.client.search_registered_models(max_results=_MODELS_SHOWN)
    return _page(pages.models_page(models))


def _model(req: Request, name: str) -> Response:
    model = req.client.get_registered_model(name)
    quoted = name.replace("'", "''")
    versions = req.client.search_model_versions(f"name = '{quoted}'")
    versions.sort(key=lambda v: int(v.version), reverse=True)
    return _page(pages.model_page(model, versions))


_ROUTES: list[tuple[re.Pattern[str], Callable[..., Response]]] = [
    (re.compile(r"/"), _experiments),
    (re.compile(r"/experiments/([^/]+)/?"), _experiment),
    (re.compile(r"/runs/([^/]+)/?"), _run),
    (re.compile(r"/runs/([^/]+)/artifacts/(.+)"), _artifact),
    (re.compile(r"/models/?"), _models),
    (re.compile(r"/models/([^/]+)/?"), _model),
]


def _route(req: Request, path: str) -> Response:
    for pattern, handler in _ROUTES:
        match = pattern.fullmatch(path)
        if match:
            return handler(req, *(unquote(g) for g in match.groups()))
    raise ResourceNotFoundError(f"No page at {path}")


def respond(
    client: Client,
    target: str,
    resources: contextlib.ExitStack,
    served: api.ServedArtifacts,
) -> Response:
    """The response to ``GET target``; errors become 400, 404 or 500 pages (no server paths)."""
    parts = urlsplit(target)
    req = Request(client, parse_qs(parts.query, keep_blank_values=True), resources, served)
    try:
        return _route(req, parts.path)
    except ResourceNotFoundError as e:
        return _page(pages.error_page(404, served.redact(str(e))), 404)
    except InvalidParameterError as e:
        return _page(pages.error_page(400, served.redact(str(e))), 400)
    except Exception as e:
        log.exception("fittrace UI: GET %s failed", target)
        message = str(e) if isinstance(e, FittraceError) else "Internal error; see the server log."
        return _page(pages.error_page(500, served.redact(message)), 500)


# ------------------------------------------------------------------------------------- server


def _given_token(header: str) -> str:
    """The token an Authorization header carries (bearer, or a basic password), else ''."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


class _Handler(BaseHTTPRequestHandler):
    server: UIServer
    server_version = "fittrace-ui"
    timeout = 30  # seconds an idle connection may hold its thread

    def do_GET(self) -> None:
        self._dispatch(with_body=True)

    def do_HEAD(self) -> None:
        self._dispatch(with_body=False)

    def do_POST(self) -> None:
        self._dispatch(with_body=True)

    do_PUT = do_POST

    def _refuse(self) -> None:
        """The UI's pages are read-only."""
        body = pages.error_page(405, f"{self.command} is not allowed: the UI is read-only.")
        response = _page(body, 405)
        response.headers["Allow"] = "GET, HEAD"
        self._send(response, with_body=True)

    do_PATCH = do_DELETE = do_OPTIONS = _refuse

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Answered API calls go to the ``fittrace.server`` logger at DEBUG (a training client
        makes several a second); pages and failed calls to stderr, as http.server logs."""
        if api.is_api(urlsplit(self.path).path) and isinstance(code, int) and code < 400:
            api.log.debug('"%s" %s %s', self.requestline, code, size)
            return
        super().log_request(code, size)

    def _authorized(self) -> bool:
        token = self.server.token
        if not token:
            return True
        given = _given_token(self.headers.get("Authorization", ""))
        return hmac.compare_digest(given.encode(), token.encode())

    def _dispatch(self, with_body: bool) -> None:
        path = urlsplit(self.path).path
        body = api.Body(self.rfile, self.headers)
        if not self._authorized():
            response = self._unauthorized(api.is_api(path))
        elif api.is_api(path):
            self._api(body, with_body)
            return
        elif self.command in ("GET", "HEAD"):
            self._serve(with_body)
            return
        else:
            body.discard()
            self._refuse()
            return
        if not body.discard():
            self.close_connection = True
        self._send(response, with_body)

    @staticmethod
    def _unauthorized(for_api: bool) -> Response:
        message = "This fittrace server requires a token"
        if for_api:
            reply = api.Reply(
                401,
                api.wire.error_body("StoreError", message + ": set FITTRACE_TRACKING_TOKEN"),
                headers={"WWW-Authenticate": 'Bearer realm="fittrace"'},
            )
            return Response(reply.status, reply.body, reply.content_type, reply.headers)
        response = _page(pages.error_page(401, message + " (as the password; any user name)."), 401)
        response.headers["WWW-Authenticate"] = 'Basic realm="fittrace", charset="UTF-8"'
        return response

    def _api(self, body: api.Body, with_body: bool) -> None:
        method = "GET" if self.command == "HEAD" else self.command
        with contextlib.ExitStack() as resources:
            reply = self.server.api.handle(method, self.path, self.headers, body, resources)
            if not body.discard():
                self.close_connection = True
            with contextlib.suppress(ConnectionError):  # the client went away
                self._send(
                    Response(reply.status, reply.body, reply.content_type, reply.headers), with_body
                )

    def _serve(self, with_body: bool) -> None:
        with contextlib.ExitStack() as resources:
            job = self.server.workers.submit(
                respond,
                self.server.client,
                self.path,
                resources,
                self.server.api.artifacts,
            )
            response = job.result()
            with contextlib.suppress(ConnectionError):  # the browser went away
                self._send(response, with_body)

    def _send(self, response: Response, with_body: bool) -> None:
        body = response.body
        length = len(body) if isinstance(body, bytes) else os.fstat(body.fileno()).st_size
        self.send_response(response.status)
        headers = {
            "Content-Type": response.content_type,
            "Content-Length": str(length),
            "X-Content-Type-Options": "nosniff",
            **response.headers,
        }
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if not with_body:
            return
        if isinstance(body, bytes):
            self.wfile.write(body)
        else:
            shutil.copyfileobj(body, self.wfile)


class UIServer(ThreadingHTTPServer):
    """The HTTP server: ``client`` reads the store on the ``workers`` pool for the UI; ``api``
    serves the tracking API over the same store and pool (writes only when ``writable``)."""

    def __init__(
        self,
        address: tuple[str, int],
        client: Client,
        *,
        writable: bool = False,
        token: str | None = None,
        max_upload: int = api.DEFAULT_MAX_UPLOAD,
    ) -> None:
        self.client = client
        self.token = token or None
        self.writable = writable
        self.workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="fittrace-ui")
        self.api = api.TrackingApi(client._store, self.workers, writable, max_upload)
        super().__init__(address, _Handler)

    def server_close(self) -> None:
        super().server_close()
        self.workers.shutdown()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def make_server(
    tracking_uri: str | None = None,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    writable: bool = False,
    token: str | None = None,
    max_upload: int = api.DEFAULT_MAX_UPLOAD,
) -> UIServer:
    """A server for the store at ``tracking_uri`` (default: the current one), bound, not yet serving.

    ``writable``: the tracking API accepts writes (``fittrace server``), else only reads
    (``fittrace ui``). ``token``: required of every request. ``max_upload``: the largest
    artifact file accepted, in bytes. ``port=0`` picks a free port (see ``server.url``).
    Raises OSError when the address is taken.
    """
    return UIServer(
        (host, port), Client(tracking_uri), writable=writable, token=token, max_upload=max_upload
    )


def _store_label(tracking_uri: str) -> str:
    """How to name a store in messages: a PostgreSQL URI without its password."""
    if stores.is_postgres(tracking_uri):
        from fittrace.store.postgres import redact

        return redact(tracking_uri)
    return tracking_uri


class _Stop(Exception):
    """SIGTERM arrived: leave ``serve_forever`` as Ctrl-C does."""


def _stop(signum: int, frame: object) -> None:
    raise _Stop


def serve(server: UIServer) -> None:
    """Print where the UI (and, on a writable server, the tracking API) is, serve until Ctrl-C
    or SIGTERM (what service managers and a background shell's ``kill`` send)."""
    print(
        f"fittrace UI at {server.url} (store: {_store_label(server.client.tracking_uri)})",
        flush=True,
    )
    if server.writable:
        host, port = server.server_address[:2]
        public = (
            f"http://{socket.gethostname()}:{port}" if host in ("0.0.0.0", "::", "") else server.url
        )
        print(
            f"fittrace tracking API at {server.url}{api.wire.API_PREFIX}: on training machines set "
            f"FITTRACE_TRACKING_URI={public}"
            + (" and FITTRACE_TRACKING_TOKEN" if server.token else ""),
            flush=True,
        )
    in_main = threading.current_thread() is threading.main_thread()  # where signals arrive
    previous = signal.signal(signal.SIGTERM, _stop) if in_main else None
    try:
        server.serve_forever()
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
        server.server_close()
