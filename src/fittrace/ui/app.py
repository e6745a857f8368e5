"""The web UI and the tracking API: an HTTP server over one tracking store.

GET requests are routed to the UI's pages; paths under ``/api/fittrace/v1/`` go to the
tracking API (``api.py``) and MLflow's REST API paths (``/api/2.0/mlflow/...``, the artifact
proxy) to ``mlflow_api.py``; both accept writes only on a server made ``writable``
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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

from fittrace.entities import FileInfo, ModelVersion, Run
from fittrace.exceptions import FittraceError, InvalidParameterError, ResourceNotFoundError
from fittrace.store.artifacts import ArtifactRepository, clean_artifact_path
from fittrace.tracking import stores
from fittrace.tracking.client import Client, page_position, page_token_at
from fittrace.ui import api, compare, mlflow_api, pages, previews, runs_table, series
from fittrace.ui.markup import Html, link, tag, url

log = logging.getLogger("fittrace.ui")

WORKERS = 8
_MODELS_SHOWN = 1000
_MAX_FORM = 1 << 20  # bytes of a posted edit form
_STATIC = Path(__file__).parent / "static"
_STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".LICENSE": "text/plain; charset=utf-8",
}
# Pages run only the app's own scripts (served from /static) and load nothing from elsewhere,
# whatever a name or tag contains; data for charts is embedded as JSON, never as code.
_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'"
)
# An artifact (an HTML report, an SVG) opened in the browser must not act as a UI page.
_ARTIFACT_POLICY = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
_INLINE_TYPES = {
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/svg+xml",
    "text/plain",
    "text/html",
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
    """What a route needs: the store, the query string (or form), a stack closed after the
    response, the artifacts the server may touch (``api.ServedArtifacts``), and whether pages
    offer editing (``fittrace server`` with a token)."""

    client: Client
    query: dict[str, list[str]]
    resources: contextlib.ExitStack
    served: api.ServedArtifacts
    editable: bool = False

    def arg(self, name: str) -> str:
        return self.query.get(name, [""])[0]


def _page(html: str, status: int = 200) -> Response:
    return Response(status, html.encode("utf-8"), headers={"Content-Security-Policy": _PAGE_POLICY})


def _redirect(location: str, status: int = 302) -> Response:
    return Response(status, headers={"Location": location})


# ------------------------------------------------------------------------------------- routes


def _static(req: Request, name: str) -> Response:
    path = _STATIC / name
    kind = next((t for ext, t in _STATIC_TYPES.items() if name.endswith(ext)), None)
    if "/" in name or kind is None or not path.is_file():
        raise ResourceNotFoundError(f"No file {name!r}")
    return Response(200, path.read_bytes(), kind, {"Cache-Control": "max-age=3600"})


def _favicon(req: Request) -> Response:
    return _static(req, "favicon.svg")


def _experiments(req: Request) -> Response:
    experiments = req.client.search_experiments()
    return _page(pages.experiments_page(experiments, req.client.count_runs(), req.arg("q").strip()))


def _offset(text: str) -> int:
    if not text:
        return 0
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise InvalidParameterError(f"offset must be a whole number of runs, got {text!r}")
    return int(text)


def _quoted(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _run_names(client: Client, experiment_id: str, run_ids: set[str]) -> dict[str, str]:
    """Names of the given runs of an experiment, in one search."""
    if not run_ids:
        return {}
    found = client.search_runs(
        [experiment_id], f"attributes.run_id IN ({_quoted(sorted(run_ids))})", max_results=1000
    )
    return {r.info.run_id: r.info.run_name for r in found}


def _experiment(req: Request, experiment_id: str) -> Response:
    """One page of runs; filter, order, offset and columns in the URL."""
    client = req.client
    experiment = client.get_experiment(experiment_id)
    columns = tuple(req.query.get("col", []))
    for column in columns:
        if not runs_table.valid_column(column):
            raise InvalidParameterError(
                f"Unknown column {column!r}: use metrics.<key>, params.<key>, tags.<key> or "
                f"attributes.<{'|'.join(runs_table.ATTRIBUTES)}>"
            )
    query = runs_table.RunsQuery(
        req.arg("filter").strip(),
        req.arg("order_by").strip(),
        _offset(req.arg("offset")),
        columns,
        req.arg("page"),
    )
    order_by = [query.order_by] if query.order_by else None
    try:
        token = page_token_at(query.offset)
        if query.page and page_position(query.page, order_by)[0] == query.offset:
            token = query.page  # the Next link's: this page without counting the runs before it
        runs = client.search_runs(
            [experiment_id],
            query.filter,
            max_results=runs_table.PAGE_SIZE,
            order_by=order_by,
            page_token=token,
        )
        # after the search: a page by offset alone counts the runs matching on its way
        total = client.count_matching_runs(experiment_id, query.filter)
        if query.offset and query.offset >= total:  # past the end: the last page
            last = (max(total - 1, 0) // runs_table.PAGE_SIZE) * runs_table.PAGE_SIZE
            return _redirect(query.link(experiment_id, offset=last or None))
    except InvalidParameterError as e:  # a malformed filter or order_by
        return _page(runs_table.runs_page(experiment, query, [], None, 0, {}, str(e)), 400)
    shown = {r.info.run_id for r in runs}
    parents = {
        r.data.tags[runs_table.PARENT_TAG] for r in runs if runs_table.PARENT_TAG in r.data.tags
    }
    names = {r.info.run_id: r.info.run_name for r in runs if r.info.run_id in parents}
    names.update(_run_names(client, experiment_id, parents - shown))
    return _page(runs_table.runs_page(experiment, query, runs, runs.token, total, names))


def _compare_runs(req: Request) -> tuple[list[Run], compare.Histories]:
    run_ids = list(dict.fromkeys(req.query.get("runs", [])))
    if not 2 <= len(run_ids) <= runs_table.MAX_COMPARED:
        raise InvalidParameterError(
            f"Select 2 to {runs_table.MAX_COMPARED} runs to compare, got {len(run_ids)}"
        )
    runs = [req.client.get_run(run_id) for run_id in run_ids]
    histories = {
        r.info.run_id: {
            k: req.client.get_metric_history_columns(r.info.run_id, k) for k in r.data.metrics
        }
        for r in runs
    }
    return runs, histories


def _compare(req: Request) -> Response:
    runs, histories = _compare_runs(req)
    query = compare.CompareQuery(
        tuple(r.info.run_id for r in runs),
        diff=req.arg("diff") == "1",
        x=series.x_axis(req.arg("x")),
        log=req.arg("log") == "1",
        smooth=req.arg("smooth") if _is_fraction(req.arg("smooth")) else "",
        pc=req.arg("pc"),
        sx=req.arg("sx"),
        sy=req.arg("sy"),
    )
    return _page(compare.compare_page(runs, histories, query))


def _is_fraction(text: str) -> bool:
    try:
        return 0 < float(text) < 1
    except ValueError:
        return False


def _compare_csv(req: Request) -> Response:
    """The points of one compare chart, as plotted (downsampled), for a spreadsheet."""
    runs, histories = _compare_runs(req)
    key, axis = req.arg("key"), series.x_axis(req.arg("x"))
    text = series.to_csv(key, axis, compare.chart_series(runs, histories, key, axis))
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in key) or "metric"
    headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    return Response(200, text.encode("utf-8"), "text/csv; charset=utf-8", headers)


def _logged_models(
    client: Client, repo: ArtifactRepository, run: Run, root: Sequence[FileInfo]
) -> list[pages.LoggedModel]:
    """The run's top-level artifact folders that hold an MLmodel file."""
    run_id = run.info.run_id
    models = []
    for folder in (a for a in root if a.is_dir):
        files = repo.list_artifacts(folder.path)
        if not any(f.path == f"{folder.path}/MLmodel" for f in files):
            continue
        mlmodel = _read_mlmodel(repo, f"{folder.path}/MLmodel")
        if mlmodel is not None:
            models.append(pages.LoggedModel(folder.path, mlmodel))
    if models:
        versions = client.search_model_versions(f"run_id = '{run_id}'")
        for model in models:
            model.versions = [
                v for v in versions if v.source.rstrip("/").endswith("/" + model.path)
            ]
    return models


def _read_mlmodel(repo: ArtifactRepository, path: str) -> dict | None:
    from fittrace.models.model import Model

    with tempfile.TemporaryDirectory(prefix="fittrace-ui-") as tmp:
        try:
            return Model.load(repo.download_artifacts(path, tmp)).to_dict()
        except FittraceError:
            return None


def _preview(req: Request, repo: ArtifactRepository, run_id: str, rel: str) -> Html:
    """The preview of artifact ``rel`` (and its chart when it is evaluation data)."""
    info = _find_artifact(repo, run_id, rel)
    if info.is_dir:
        raise InvalidParameterError(f"{rel!r} is a folder; open it instead")
    href = url("runs", run_id, "artifacts", *rel.split("/"))
    kind = previews.kind(rel)
    name = rel.rsplit("/", 1)[-1]
    if kind == "image":
        return previews.image(href, name)
    if kind == "html":
        return previews.html_frame(href, name)
    if kind is None:
        return tag("p", "No preview for this kind of file: " + link(href, "download it"))
    tmp = req.resources.enter_context(tempfile.TemporaryDirectory(prefix="fittrace-ui-"))
    local = repo.download_artifacts(rel, tmp)
    if kind == "csv":
        return previews.csv_table(local, name)
    chart = previews.evaluation_chart(local, name) if previews.is_evaluation(rel) else Html("")
    return chart + previews.text(local)


def _evaluations(
    req: Request, repo: ArtifactRepository, root: Sequence[FileInfo]
) -> list[tuple[str, Html]]:
    found = [a for a in root if not a.is_dir and previews.is_evaluation(a.path)]
    if not found:
        return []
    tmp = req.resources.enter_context(tempfile.TemporaryDirectory(prefix="fittrace-ui-"))
    charts = []
    for info in found:
        local = repo.download_artifacts(info.path, tmp)
        chart = previews.evaluation_chart(local, info.path)
        if chart:
            charts.append((info.path, chart))
    return charts


def _run(req: Request, run_id: str) -> Response:
    client = req.client
    run = client.get_run(run_id)
    path = clean_artifact_path(req.arg("path"))
    view = pages.RunView(
        experiment=None,
        histories={k: client.get_metric_history_columns(run_id, k) for k in run.data.metrics},
        axis=series.x_axis(req.arg("x")),
        log=req.arg("log") == "1",
        smooth=req.arg("smooth") if _is_fraction(req.arg("smooth")) else "",
        path=path,
        editable=req.editable,
    )
    with contextlib.suppress(ResourceNotFoundError):
        view.experiment = client.get_experiment(run.info.experiment_id)
    parent_id = run.data.tags.get(runs_table.PARENT_TAG)
    if parent_id:
        with contextlib.suppress(ResourceNotFoundError):
            view.parent = client.get_run(parent_id)
    view.children = list(
        client.search_runs(
            [run.info.experiment_id],
            f"tags.`{runs_table.PARENT_TAG}` = '{run_id}'",
            max_results=1000,
        )
    )
    try:
        repo = req.served.repository(run_id)
        root = repo.list_artifacts(None)
        view.artifacts = root if not path else repo.list_artifacts(path)
        view.models = _logged_models(client, repo, run, root)
        view.evaluations = _evaluations(req, repo, root)
        preview = clean_artifact_path(req.arg("preview"))
        if preview:
            view.preview = _preview(req, repo, run_id, preview)
            view.preview_path = preview
    except FittraceError as e:  # an unreachable artifact store still shows the rest of the run
        if isinstance(e, (ResourceNotFoundError, InvalidParameterError)) and req.arg("preview"):
            raise
        view.artifact_error = req.served.redact(str(e))
    return _page(pages.run_page(run, view))


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


def _names_of_runs(client: Client, run_ids: Iterable[str | None]) -> dict[str, str]:
    names = {}
    for run_id in {r for r in run_ids if r}:
        with contextlib.suppress(ResourceNotFoundError):
            names[run_id] = client.get_run(run_id).info.run_name
    return names


def _model(req: Request, name: str) -> Response:
    model = req.client.get_registered_model(name)
    quoted = name.replace("'", "''")
    versions = req.client.search_model_versions(f"name = '{quoted}'")
    versions.sort(key=lambda v: int(v.version), reverse=True)
    names = _names_of_runs(req.client, (v.run_id for v in versions))
    return _page(pages.model_page(model, versions, names, req.editable))


def _version_mlmodel(req: Request, version: ModelVersion) -> dict | None:
    """The MLmodel of a version's source: ``runs:/<id>/<path>`` or a folder of the run's artifacts."""
    source = version.source
    run_id, path = version.run_id, None
    if source.startswith("runs:/"):
        run_id, _, path = source.removeprefix("runs:/").partition("/")
    elif run_id:
        with contextlib.suppress(ResourceNotFoundError):
            root = req.client.get_run(run_id).info.artifact_uri.rstrip("/")
            if source.startswith(root + "/"):
                path = source[len(root) + 1 :]
    if not run_id or not path:
        return None
    with contextlib.suppress(FittraceError):
        return _read_mlmodel(req.served.repository(run_id), path.strip("/") + "/MLmodel")
    return None


def _version(req: Request, name: str, version: str) -> Response:
    model_version = req.client.get_model_version(name, version)
    names = _names_of_runs(req.client, [model_version.run_id])
    mlmodel = _version_mlmodel(req, model_version)
    return _page(pages.version_page(model_version, names, mlmodel, req.editable))


# ------------------------------------------------------------------------------- edits


def _edit_run(req: Request, run_id: str) -> Response:
    client, action = req.client, req.arg("action")
    client.get_run(run_id)
    if action == "rename":
        client.update_run(run_id, name=req.arg("name").strip() or None)
    elif action == "describe":
        client.set_tag(run_id, pages.NOTE_TAG, req.arg("description"))
    elif action == "tag":
        client.set_tag(run_id, req.arg("key").strip(), req.arg("value"))
    elif action == "deltag":
        client.delete_tag(run_id, req.arg("key"))
    elif action == "delete":
        client.delete_run(run_id)
    elif action == "restore":
        client.restore_run(run_id)
    else:
        raise InvalidParameterError(f"Unknown action {action!r}")
    return _redirect(url("runs", run_id), 303)


def _edit_model(req: Request, name: str) -> Response:
    if req.arg("action") != "describe":
        raise InvalidParameterError(f"Unknown action {req.arg('action')!r}")
    req.client.update_registered_model(name, description=req.arg("description"))
    return _redirect(url("models", name), 303)


def _edit_version(req: Request, name: str, version: str) -> Response:
    client, action = req.client, req.arg("action")
    client.get_model_version(name, version)
    if action == "describe":
        client.update_model_version(name, version, description=req.arg("description"))
    elif action == "alias":
        client.set_registered_model_alias(name, req.arg("alias").strip(), version)
    else:
        raise InvalidParameterError(f"Unknown action {action!r}")
    return _redirect(url("models", name, "versions", version), 303)


_ROUTES: list[tuple[re.Pattern[str], Callable[..., Response]]] = [
    (re.compile(r"/"), _experiments),
    (re.compile(r"/favicon\.ico"), _favicon),
    (re.compile(r"/static/([^/]+)"), _static),
    (re.compile(r"/experiments/([^/]+)/?"), _experiment),
    (re.compile(r"/compare/?"), _compare),
    (re.compile(r"/compare\.csv"), _compare_csv),
    (re.compile(r"/runs/([^/]+)/?"), _run),
    (re.compile(r"/runs/([^/]+)/artifacts/(.+)"), _artifact),
    (re.compile(r"/models/?"), _models),
    (re.compile(r"/models/([^/]+)/?"), _model),
    (re.compile(r"/models/([^/]+)/versions/([^/]+)/?"), _version),
]
# Forms of an editable server (POST, with the token, from the UI's own pages).
_EDITS: list[tuple[re.Pattern[str], Callable[..., Response]]] = [
    (re.compile(r"/runs/([^/]+)/edit"), _edit_run),
    (re.compile(r"/models/([^/]+)/edit"), _edit_model),
    (re.compile(r"/models/([^/]+)/versions/([^/]+)/edit"), _edit_version),
]


def _route(req: Request, path: str, routes: list) -> Response:
    for pattern, handler in routes:
        match = pattern.fullmatch(path)
        if match:
            return handler(req, *(unquote(g) for g in match.groups()))
    raise ResourceNotFoundError(f"No page at {path}")


def respond(
    client: Client,
    target: str,
    resources: contextlib.ExitStack,
    served: api.ServedArtifacts,
    editable: bool = False,
    form: bytes | None = None,
) -> Response:
    """The response to ``GET target`` (or, with ``form``, to posting that form to an edit
    route); errors become 400, 404 or 500 pages (no server paths)."""
    parts = urlsplit(target)
    text = parts.query if form is None else form.decode("utf-8", "replace")
    req = Request(client, parse_qs(text, keep_blank_values=True), resources, served, editable)
    try:
        return _route(req, parts.path, _ROUTES if form is None else _EDITS)
    except ResourceNotFoundError as e:
        return _page(pages.error_page(404, served.redact(str(e))), 404)
    except InvalidParameterError as e:
        return _page(pages.error_page(400, served.redact(str(e))), 400)
    except Exception as e:
        log.exception("fittrace UI: %s %s failed", "GET" if form is None else "POST", target)
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

    do_PUT = do_PATCH = do_DELETE = do_POST

    def _refuse(self) -> None:
        """The UI's pages are read-only."""
        body = pages.error_page(405, f"{self.command} is not allowed: the UI is read-only.")
        response = _page(body, 405)
        response.headers["Allow"] = "GET, HEAD"
        self._send(response, with_body=True)

    do_OPTIONS = _refuse

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Answered API calls go to the ``fittrace.server`` logger at DEBUG (a training client
        makes several a second); pages and failed calls to stderr, as http.server logs."""
        path = urlsplit(self.path).path
        if (api.is_api(path) or mlflow_api.handles(path)) and isinstance(code, int) and code < 400:
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
            response = self._unauthorized(path)
        elif api.is_api(path):
            self._api(self.server.api, body, with_body)
            return
        elif mlflow_api.handles(path):
            self._api(self.server.mlflow, body, with_body)
            return
        elif self.command in ("GET", "HEAD"):
            self._serve(with_body)
            return
        elif self.command == "POST" and self.server.editable and self._same_origin():
            self._edit(body)
            return
        else:
            body.discard()
            self._refuse()
            return
        if not body.discard():
            self.close_connection = True
        self._send(response, with_body)

    @staticmethod
    def _unauthorized(path: str) -> Response:
        message = "This fittrace server requires a token"
        if mlflow_api.handles(path):
            reply = mlflow_api.error_reply(
                "UNAUTHENTICATED", message + ": set MLFLOW_TRACKING_TOKEN", 401
            )
            return Response(reply.status, reply.body, reply.content_type, reply.headers)
        if api.is_api(path):
            reply = api.Reply(
                401,
                api.wire.error_body("StoreError", message + ": set FITTRACE_TRACKING_TOKEN"),
                headers={"WWW-Authenticate": 'Bearer realm="fittrace"'},
            )
            return Response(reply.status, reply.body, reply.content_type, reply.headers)
        response = _page(pages.error_page(401, message + " (as the password; any user name)."), 401)
        response.headers["WWW-Authenticate"] = 'Basic realm="fittrace", charset="UTF-8"'
        return response

    def _api(
        self, endpoints: api.TrackingApi | mlflow_api.MlflowApi, body: api.Body, with_body: bool
    ) -> None:
        method = "GET" if self.command == "HEAD" else self.command
        with contextlib.ExitStack() as resources:
            reply = endpoints.handle(method, self.path, self.headers, body, resources)
            if not body.discard():
                self.close_connection = True
            with contextlib.suppress(ConnectionError):  # the client went away
                self._send(
                    Response(reply.status, reply.body, reply.content_type, reply.headers), with_body
                )

    def _same_origin(self) -> bool:
        """A form posted from this server's own pages (a browser sends its credentials to any
        site's forms, so other origins are refused)."""
        origin = self.headers.get("Origin")
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site != "same-origin":
            return False
        return origin is None or urlsplit(origin).netloc == self.headers.get("Host")

    def _edit(self, body: api.Body) -> None:
        if body.left > _MAX_FORM:
            body.discard()
            self.close_connection = True
            self._send(_page(pages.error_page(413, "The form is too large."), 413), True)
            return
        self._serve(with_body=True, form=body.read())

    def _serve(self, with_body: bool, form: bytes | None = None) -> None:
        """The page for a GET, or the answer to a posted edit ``form``, made on the worker pool."""
        with contextlib.ExitStack() as resources:
            job = self.server.workers.submit(
                respond,
                self.server.client,
                self.path,
                resources,
                self.server.api.artifacts,
                self.server.editable,
                form,
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
        self.mlflow = mlflow_api.MlflowApi(self.api, client)
        super().__init__(address, _Handler)

    def server_close(self) -> None:
        super().server_close()
        self.workers.shutdown()

    @property
    def editable(self) -> bool:
        """Pages offer editing only on a writable server that asks for a token."""
        return self.writable and self.token is not None

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
