"""MLflow's REST API 2.0 on ``fittrace server``: an unmodified ``mlflow`` client logs to it.

Endpoints under ``/api/2.0/mlflow/`` (and ``/ajax-api/2.0/mlflow/``) for experiments, runs,
metric histories, logged models, registered models and model versions, answered in MLflow's JSON
(int64 values as strings, ``run_uuid`` beside ``run_id``) with MLflow's errors:
``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": ...}`` and its status codes.

The artifact proxy ``/api/2.0/mlflow-artifacts/artifacts`` serves the server's artifact root:
``GET <path>`` downloads a file, ``PUT <path>`` uploads one, ``GET ?path=<folder>`` lists a folder.
To MLflow clients every location under the artifact root is spelled ``mlflow-artifacts:/<path
below the root>`` (MLflow's ``--serve-artifacts`` default); the store keeps the real location, so
fittrace's own client and UI read the same runs. Locations a client sends are accepted only under
the root, so the server never touches anything but its own artifact root.

A logged model (MLflow 3's ``log_model``) is kept as fittrace keeps its own: the run's tag
``mlflow.loggedModel.<model_id>``, its files in the run's artifacts; so a logged model needs a run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import posixpath
import time
from collections.abc import Callable
from typing import Any, BinaryIO
from urllib.parse import parse_qs, unquote, urlsplit

from fittrace import tags as tags_
from fittrace.entities import (
    MODEL_OUTPUT_TAG_PREFIX,
    Experiment,
    Metric,
    ModelVersion,
    PagedList,
    RegisteredModel,
    Run,
    RunInfo,
    RunStatus,
    ViewType,
    tagged_models,
)
from fittrace.exceptions import (
    FittraceError,
    InvalidParameterError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
)
from fittrace.models import logged
from fittrace.store.artifacts import clean_artifact_path, repository_for
from fittrace.store.mlflow_rest import (
    _VIEW,
    ARTIFACTS_API,
    _dict,
    _float_in,
    _float_out,
    _pairs,
    dataset_input,
    dataset_json,
)
from fittrace.tracking import context, validation
from fittrace.tracking.client import page_position, page_token_at
from fittrace.ui import api

log = logging.getLogger("fittrace.server")

_PREFIXES = ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/")
_ARTIFACT_PREFIXES = (ARTIFACTS_API, "/ajax-api/2.0/mlflow-artifacts/artifacts")
SCHEME = "mlflow-artifacts:/"
_VIEWS = {name: view for view, name in _VIEW.items()}
_STATUS = {
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "PERMISSION_DENIED": 403,
    "INTERNAL_ERROR": 500,
}
_MAX_PAGE = 50_000


def handles(path: str) -> bool:
    """Whether ``path`` is one of MLflow's API paths (tracking or artifact proxy)."""
    return path.startswith(_PREFIXES) or path.startswith(_ARTIFACT_PREFIXES)


class MlflowError(Exception):
    """An answer in MLflow's error shape."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code, self.status = code, status or _STATUS.get(code, 400)


def _code(error: FittraceError) -> str:
    if isinstance(error, ResourceNotFoundError):
        return "RESOURCE_DOES_NOT_EXIST"
    if isinstance(error, ResourceAlreadyExistsError):
        return "RESOURCE_ALREADY_EXISTS"
    if isinstance(error, InvalidParameterError):
        return "INVALID_PARAMETER_VALUE"
    return "INTERNAL_ERROR"


def _reply(value: dict[str, Any], status: int = 200) -> api.Reply:
    return api.Reply(status, json.dumps(value, allow_nan=False).encode())


def error_reply(code: str, message: str, status: int) -> api.Reply:
    return _reply({"error_code": code, "message": message}, status)


# ------------------------------------------------------------------------- request arguments


class Args:
    """A request's arguments: its JSON body, or its query string (GET)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def one(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name, default)
        if isinstance(value, list):
            value = value[0] if value else default
        return default if value is None else value

    def text(self, name: str) -> str:
        value = self.one(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # an id sent as a number
        if not isinstance(value, str) or not value:
            raise InvalidParameterError(f"Missing value for required parameter '{name}'")
        return value

    def many(self, name: str) -> list[Any]:
        value = self.values.get(name)
        return [] if value is None else value if isinstance(value, list) else [value]

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.one(name)
        return default if value in (None, "") else _integer(name, value)

    def pairs(self, name: str) -> dict[str, str]:
        return _dict(self.many(name))


def _integer(name: str, value: Any) -> int:
    """An int64 of MLflow's JSON: a number, or its decimal text."""
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise InvalidParameterError(f"{name} must be an integer, got {value!r}") from None
    return validation.integer(name, value)


def _page_token(args: Args) -> str:
    """The request's ``page_token`` (a token of ``client.page_token_at``), "" for the first page."""
    return str(args.one("page_token", ""))


def _offset(args: Args) -> int:
    return page_position(_page_token(args), None)[0]


def _page(
    key: str, items: list[Any], offset: int, size: int, to_json: Callable[[Any], Any]
) -> dict[str, Any]:
    """MLflow's page of results ``offset`` to ``offset + size``, from ``items`` (all results, or
    those up to one past the page), with the next page's token."""
    end = offset + size
    token = page_token_at(end) if len(items) > end else None
    return _paged(key, PagedList(items[offset:end], token), to_json)


def _paged(key: str, page: PagedList, to_json: Callable[[Any], Any]) -> dict[str, Any]:
    """A page of a client search in MLflow's shape: the items, and the next page's token."""
    answer: dict[str, Any] = {key: [to_json(item) for item in page]}
    if page.token:
        answer["next_page_token"] = page.token
    return answer


def _max_results(args: Args, default: int) -> int:
    size = args.integer("max_results", default)
    if size is None or not 1 <= size <= _MAX_PAGE:
        raise InvalidParameterError(f"max_results must be between 1 and {_MAX_PAGE}")
    return size


# ---------------------------------------------------------------------------------- the API


class MlflowApi:
    """MLflow's endpoints over the store, pool, write permission and artifact root of ``tracking``."""

    def __init__(self, tracking: api.TrackingApi, client: Any) -> None:
        self.tracking, self.client, self.store = tracking, client, tracking.store
        self.root = (self.store.artifact_root or "").rstrip("/")
        self.routes: dict[tuple[str, str], tuple[Callable[[Args], dict[str, Any]], bool]] = {}
        for method, endpoint, handler, write in _endpoints(self):
            self.routes[(method, endpoint)] = (handler, write)

    # -- locations -------------------------------------------------------------------
    def public(self, location: str) -> str:
        """How an MLflow client sees a location: ``mlflow-artifacts:/...`` under the root."""
        if self.root and (location == self.root or location.startswith(self.root + "/")):
            return SCHEME + location[len(self.root) + 1 :]
        return location

    def private(self, location: str) -> str:
        """The store's spelling of a location an MLflow client sent; only under the root."""
        if location.startswith("mlflow-artifacts:"):
            rel = clean_artifact_path(unquote(urlsplit(location).path))
            return f"{self.root}/{rel}" if rel else self.root
        api._check_location(self.store, location)
        return location

    def write(
        self,
        run_id: str,
        metrics: list[dict[str, Any]] | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> None:
        """Rows of one run, checked as fittrace's own API checks them, in one store write."""
        now = int(time.time() * 1000)
        arguments = {
            "metrics": [
                [
                    run_id,
                    m.get("key"),
                    _float_in(m.get("value")),
                    _integer("timestamp", m.get("timestamp", now)),
                    _integer("step", m.get("step", 0)),
                ]
                for m in metrics or ()
            ],
            "params": [[run_id, k, v] for k, v in (params or {}).items()],
            "tags": [[run_id, k, v] for k, v in (tags or {}).items()],
        }
        api.check_batch(arguments)
        self.store.write_batch(**arguments)

    # -- artifact proxy ----------------------------------------------------------------
    def _artifacts(
        self,
        method: str,
        path: str,
        query: str,
        headers: Any,
        body: BinaryIO,
        resources: contextlib.ExitStack,
    ) -> api.Reply:
        """The artifact root's files: list (``?path=``), download (GET) and upload (PUT)."""
        if not self.root:
            raise MlflowError("ENDPOINT_NOT_FOUND", "This server has no artifact root to serve")
        repo = repository_for(self.root)
        rel = clean_artifact_path(path)
        if not rel:
            self.tracking._allow(method, "GET")
            folder = clean_artifact_path(parse_qs(query).get("path", [""])[0])
            infos = self.tracking._on_pool(repo.list_artifacts, folder or None)
            files = [
                {"path": posixpath.relpath(f.path, folder) if folder else f.path,
                 "is_dir": f.is_dir, **({} if f.file_size is None else {"file_size": str(f.file_size)})}
                for f in infos
            ]  # fmt: skip
            return _reply({"files": files})
        if method == "PUT":
            self.tracking._refuse_write("Uploading an artifact")
            length = self.tracking._length(headers, self.tracking.max_upload)
            api.receive_file(repo, rel, length, body, resources)
            return _reply({})
        self.tracking._allow(method, "GET", "PUT")
        info = self.tracking._on_pool(api.find, repo, rel)
        if info is None or info.is_dir:
            raise ResourceNotFoundError(f"No artifact file {rel!r}")
        stream = api.open_file(repo, rel, resources)
        return api.Reply(200, stream, "application/octet-stream")

    # -- dispatch --------------------------------------------------------------------
    def handle(
        self,
        method: str,
        target: str,
        headers: Any,
        body: BinaryIO,
        resources: contextlib.ExitStack,
    ) -> api.Reply:
        parts = urlsplit(target)
        try:
            artifact = next((p for p in _ARTIFACT_PREFIXES if parts.path.startswith(p)), None)
            if artifact is not None:
                rest = parts.path[len(artifact) :]
                if rest not in ("", "/") and not rest.startswith("/"):
                    raise MlflowError("ENDPOINT_NOT_FOUND", f"No endpoint at {parts.path}")
                return self._artifacts(
                    method, unquote(rest[1:]), parts.query, headers, body, resources
                )
            prefix = next(p for p in _PREFIXES if parts.path.startswith(p))
            endpoint = parts.path[len(prefix) :].rstrip("/")
            handler, write, args = self._route(method, endpoint, parts.query, headers, body)
            if write:
                self.tracking._refuse_write(f"{method} {parts.path} (a write)")
            return _reply(self.tracking._on_pool(handler, args))
        except MlflowError as e:
            return error_reply(e.code, self.tracking.artifacts.redact(str(e)), e.status)
        except api.ApiError as e:
            code = "ENDPOINT_NOT_FOUND" if e.status == 404 else "INVALID_PARAMETER_VALUE"
            if e.status == 405:
                code = "PERMISSION_DENIED"
            return error_reply(code, self.tracking.artifacts.redact(str(e)), e.status)
        except FittraceError as e:
            code = _code(e)
            return error_reply(code, self.tracking.artifacts.redact(str(e)), _STATUS.get(code, 400))
        except Exception as e:
            log.exception("fittrace server: %s %s failed", method, target)
            message = self.tracking.artifacts.redact(f"The server failed: {type(e).__name__}: {e}")
            return error_reply("INTERNAL_ERROR", message, 500)

    def _route(
        self, method: str, endpoint: str, query: str, headers: Any, body: BinaryIO
    ) -> tuple[Callable[[Args], dict[str, Any]], bool, Args]:
        values: dict[str, Any] = parse_qs(query, keep_blank_values=True)
        route = self.routes.get((method, endpoint))
        if route is None and endpoint.startswith("logged-models/"):
            model_id, _, rest = endpoint.removeprefix("logged-models/").partition("/")
            route = self.routes.get((method, "logged-models/{id}" + ("/" + rest if rest else "")))
            values["model_id"] = [unquote(model_id)]
        if route is None:
            raise MlflowError("ENDPOINT_NOT_FOUND", f"No endpoint {method} {endpoint}")
        if method != "GET":
            data = self.tracking._read(body, self.tracking._length(headers, api.MAX_CALL_BYTES))
            try:
                posted = json.loads(data) if data.strip() else {}
            except (ValueError, RecursionError):
                raise MlflowError("MALFORMED_REQUEST", "The body is not valid JSON") from None
            if not isinstance(posted, dict):
                raise MlflowError("MALFORMED_REQUEST", "The body must be a JSON object")
            values.update(posted)
        return route[0], route[1], Args(values)

    # -- JSON of entities ------------------------------------------------------------
    def experiment_json(self, e: Experiment) -> dict[str, Any]:
        return {
            "experiment_id": e.experiment_id,
            "name": e.name,
            "artifact_location": self.public(e.artifact_location),
            "lifecycle_stage": e.lifecycle_stage,
            "last_update_time": str(e.last_update_time or 0),
            "creation_time": str(e.creation_time or 0),
            "tags": _pairs(e.tags),
        }

    def info_json(self, info: RunInfo) -> dict[str, Any]:
        found = {
            "run_id": info.run_id,
            "run_uuid": info.run_id,
            "run_name": info.run_name,
            "experiment_id": info.experiment_id,
            "user_id": info.user_id,
            "status": info.status,
            "start_time": str(info.start_time),
            "artifact_uri": self.public(info.artifact_uri),
            "lifecycle_stage": info.lifecycle_stage,
        }
        if info.end_time is not None:
            found["end_time"] = str(info.end_time)
        return found

    def run_json(self, run: Run) -> dict[str, Any]:
        outputs = tagged_models(run.data.tags, MODEL_OUTPUT_TAG_PREFIX)
        return {
            "info": self.info_json(run.info),
            "data": {
                "metrics": [
                    {"key": k, "value": _float_out(v)} for k, v in run.data.metrics.items()
                ],
                "params": _pairs(run.data.params),
                "tags": _pairs(run.data.tags),
            },
            "inputs": {"dataset_inputs": [dataset_json(d) for d in run.inputs.dataset_inputs]},
            "outputs": {"model_outputs": [{"model_id": m, "step": "0"} for m in outputs]},
        }

    def version_json(self, v: ModelVersion) -> dict[str, Any]:
        found = {
            "name": v.name,
            "version": str(v.version),
            "creation_timestamp": str(v.creation_timestamp),
            "last_updated_timestamp": str(v.last_updated_timestamp),
            "current_stage": "None",
            "description": v.description,
            "source": self.public(v.source),
            "status": v.status,
            "tags": _pairs(v.tags),
            "aliases": list(v.aliases),
        }
        if v.run_id:
            found["run_id"] = v.run_id
        return found

    def model_json(self, m: RegisteredModel) -> dict[str, Any]:
        return {
            "name": m.name,
            "creation_timestamp": str(m.creation_timestamp),
            "last_updated_timestamp": str(m.last_updated_timestamp),
            "description": m.description,
            "tags": _pairs(m.tags),
            "aliases": [{"alias": a, "version": str(v)} for a, v in m.aliases.items()],
            "latest_versions": [self.version_json(v) for v in m.latest_versions],
        }


# ------------------------------------------------------------------------------ experiments


def _create_experiment(self: MlflowApi, args: Args) -> dict[str, Any]:
    location = args.one("artifact_location")
    experiment_id = self.store.create_experiment(
        args.text("name"), self.private(location) if location else None, args.pairs("tags")
    )
    return {"experiment_id": experiment_id}


def _get_experiment(self: MlflowApi, args: Args) -> dict[str, Any]:
    return {
        "experiment": self.experiment_json(self.store.get_experiment(args.text("experiment_id")))
    }


def _get_experiment_by_name(self: MlflowApi, args: Args) -> dict[str, Any]:
    name = args.text("experiment_name")
    experiment = self.store.get_experiment_by_name(name)
    if experiment is None:
        raise ResourceNotFoundError(f"Could not find experiment with name '{name}'")
    return {"experiment": self.experiment_json(experiment)}


def _search_experiments(self: MlflowApi, args: Args) -> dict[str, Any]:
    view = _VIEWS.get(args.one("view_type", "ACTIVE_ONLY"), ViewType.ACTIVE_ONLY)
    found = self.client.search_experiments(
        view,
        _max_results(args, 1000),
        args.one("filter"),
        args.many("order_by") or ["last_update_time DESC", "experiment_id ASC"],
        _page_token(args),
    )
    return _paged("experiments", found, self.experiment_json)


def _set_experiment_tag(self: MlflowApi, args: Args) -> dict[str, Any]:
    key = validation.tag_key(args.text("key"))
    self.store.set_experiment_tag(args.text("experiment_id"), key, str(args.one("value", "")))
    return {}


# ------------------------------------------------------------------------------------- runs


def _run_id(args: Args) -> str:
    return args.one("run_id") or args.text("run_uuid")


def _create_run(self: MlflowApi, args: Args) -> dict[str, Any]:
    tags = args.pairs("tags")
    name = validation.run_name(
        args.one("run_name") or tags.get(tags_.RUN_NAME) or context.random_run_name()
    )
    run = self.store.create_run(
        str(args.one("experiment_id", "0")),
        str(args.one("user_id", "")),
        args.integer("start_time") or int(time.time() * 1000),
        name,
        {**tags, tags_.RUN_NAME: name},
        owned=False,
    )
    return {"run": self.run_json(run)}


def _update_run(self: MlflowApi, args: Args) -> dict[str, Any]:
    run_id = _run_id(args)
    info = self.store.get_run_info(run_id)
    status = args.one("status") or info.status
    if status not in RunStatus.ALL:
        raise InvalidParameterError(f"status must be one of {RunStatus.ALL}, got {status!r}")
    name = args.one("run_name")
    if name:
        self.write(run_id, tags={tags_.RUN_NAME: validation.run_name(name)})
    if args.one("status") or args.one("end_time") is not None:
        self.store.update_run_info(run_id, status, args.integer("end_time"))
    return {"run_info": self.info_json(self.store.get_run_info(run_id))}


def _log_metric(self: MlflowApi, args: Args) -> dict[str, Any]:
    metric = {
        k: args.one(k) for k in ("key", "value", "timestamp", "step") if args.one(k) is not None
    }
    self.write(_run_id(args), metrics=[metric])
    return {}


def _log_param(self: MlflowApi, args: Args) -> dict[str, Any]:
    self.write(_run_id(args), params={args.text("key"): str(args.one("value", ""))})
    return {}


def _set_tag(self: MlflowApi, args: Args) -> dict[str, Any]:
    self.write(_run_id(args), tags={args.text("key"): str(args.one("value", ""))})
    return {}


def _log_batch(self: MlflowApi, args: Args) -> dict[str, Any]:
    self.write(
        args.text("run_id"),
        metrics=args.many("metrics"),
        params=args.pairs("params"),
        tags=args.pairs("tags"),
    )
    return {}


def _log_inputs(self: MlflowApi, args: Args) -> dict[str, Any]:
    run_id = args.text("run_id")
    try:
        datasets = [dataset_input(item) for item in args.many("datasets")]
    except (KeyError, TypeError, AttributeError):
        raise InvalidParameterError("Each dataset needs a name and a digest") from None
    self.store.get_run_info(run_id)
    if datasets:
        self.store.log_inputs(run_id, datasets)
    return {}


def _log_outputs(self: MlflowApi, args: Args) -> dict[str, Any]:
    """The models are on the run already: a logged model is created with its run."""
    run_id = args.text("run_id")
    tags = self.store.get_run(run_id).data.tags
    for item in args.many("models"):
        if MODEL_OUTPUT_TAG_PREFIX + str(item.get("model_id")) not in tags:
            raise InvalidParameterError(
                f"Logged model {item.get('model_id')!r} was not created with run {run_id}"
            )
    return {}


def _get_run(self: MlflowApi, args: Args) -> dict[str, Any]:
    return {"run": self.run_json(self.store.get_run(_run_id(args)))}


def _search_runs(self: MlflowApi, args: Args) -> dict[str, Any]:
    found = self.client.search_runs(
        [str(e) for e in args.many("experiment_ids")],
        args.one("filter") or "",
        _VIEWS.get(args.one("run_view_type", "ACTIVE_ONLY"), ViewType.ACTIVE_ONLY),
        _max_results(args, 1000),
        args.many("order_by") or None,
        _page_token(args),
    )
    return _paged("runs", found, self.run_json)


def _metric_history(self: MlflowApi, args: Args) -> dict[str, Any]:
    run_id = args.one("run_id") or args.text("run_uuid")
    key = args.text("metric_key")
    size, offset = _max_results(args, _MAX_PAGE), _offset(args)
    history = self.store.get_metric_history_columns(run_id, key)  # checks the run
    end = offset + size
    token = page_token_at(end) if len(history) > end else None
    return _paged("metrics", PagedList(history.metrics(offset, end), token), _metric_json)


def _metric_json(m: Metric) -> dict[str, Any]:
    return {
        "key": m.key,
        "value": _float_out(m.value),
        "timestamp": str(m.timestamp),
        "step": str(m.step),
    }


# ---------------------------------------------------------------------------- logged models


def _entry(run: Run, model_id: str) -> dict[str, Any]:
    text = run.data.tags.get(MODEL_OUTPUT_TAG_PREFIX + model_id)
    if text is None:
        raise ResourceNotFoundError(f"No logged model with id {model_id!r}")
    try:
        entry = json.loads(text)
    except ValueError:
        entry = None
    return entry if isinstance(entry, dict) else {}


def _model_location(run: Run, model_id: str) -> str:
    """Where a logged model's files are: a folder of its run's artifacts."""
    path = str(_entry(run, model_id).get("artifact_path", ""))
    return f"{run.info.artifact_uri.rstrip('/')}/{path}"


def _logged_json(self: MlflowApi, run: Run, model_id: str) -> dict[str, Any]:
    entry = _entry(run, model_id)
    path = str(entry.get("artifact_path", ""))
    created = str(entry.get("creation_timestamp") or run.info.start_time)
    return {
        "info": {
            "model_id": model_id,
            "experiment_id": run.info.experiment_id,
            "name": path,
            "creation_timestamp_ms": created,
            "last_updated_timestamp_ms": str(entry.get("last_updated_timestamp") or created),
            "artifact_uri": self.public(_model_location(run, model_id)),
            "status": entry.get("status", "LOGGED_MODEL_READY"),
            "model_type": entry.get("model_type", ""),
            "source_run_id": run.info.run_id,
            "tags": _pairs(entry.get("tags")),
        },
        "data": {
            "params": _pairs(entry.get("params")),
            "metrics": [
                {"key": k, "value": _float_out(v), "model_id": model_id, "run_id": run.info.run_id}
                for k, v in run.data.metrics.items()
            ],
        },
    }


def _create_logged_model(self: MlflowApi, args: Args) -> dict[str, Any]:
    run_id = args.one("source_run_id")
    if not run_id:
        raise InvalidParameterError(
            "fittrace keeps a logged model in its run: log the model inside a run"
        )
    run = self.store.get_run(run_id)
    taken = {
        str(_entry(run, m).get("artifact_path"))
        for m in tagged_models(run.data.tags, MODEL_OUTPUT_TAG_PREFIX)
    }
    model_id = logged.new_model_id()
    name = str(args.one("name") or "model")
    path = name if name not in taken else f"{name}-{model_id[2:10]}"
    entry = {
        "artifact_path": clean_artifact_path(path),
        "creation_timestamp": int(time.time() * 1000),
        "status": "LOGGED_MODEL_PENDING",
        "model_type": str(args.one("model_type") or ""),
        "tags": args.pairs("tags"),
        "params": args.pairs("params"),
    }
    self.write(run_id, tags={MODEL_OUTPUT_TAG_PREFIX + model_id: json.dumps(entry)})
    return {"model": _logged_json(self, self.store.get_run(run_id), model_id)}


def _logged_run(self: MlflowApi, model_id: str) -> Run:
    return logged.logged_model_and_run(model_id, self.client)[1]


def _get_logged_model(self: MlflowApi, args: Args) -> dict[str, Any]:
    model_id = args.text("model_id")
    return {"model": _logged_json(self, _logged_run(self, model_id), model_id)}


def _change_logged_model(change: Callable[[dict[str, Any], Args], None]) -> Callable:
    def handler(self: MlflowApi, args: Args) -> dict[str, Any]:
        model_id = args.text("model_id")
        run = _logged_run(self, model_id)
        entry = _entry(run, model_id)
        change(entry, args)
        entry["last_updated_timestamp"] = int(time.time() * 1000)
        self.write(run.info.run_id, tags={MODEL_OUTPUT_TAG_PREFIX + model_id: json.dumps(entry)})
        return {"model": _logged_json(self, self.store.get_run(run.info.run_id), model_id)}

    return handler


def _finalize(entry: dict[str, Any], args: Args) -> None:
    entry["status"] = args.text("status")


def _set_model_tags(entry: dict[str, Any], args: Args) -> None:
    entry["tags"] = {**entry.get("tags", {}), **args.pairs("tags")}


def _set_model_params(entry: dict[str, Any], args: Args) -> None:
    entry["params"] = {**entry.get("params", {}), **args.pairs("params")}


def _search_logged_models(self: MlflowApi, args: Args) -> dict[str, Any]:
    size, offset = _max_results(args, 100), _offset(args)
    entries = args.many("order_by")
    if not all(isinstance(o, dict) and isinstance(o.get("field_name"), str) for o in entries):
        raise InvalidParameterError("order_by entries must be objects with a field_name")
    order_by = [
        f"{o['field_name']} {'ASC' if o.get('ascending', True) else 'DESC'}" for o in entries
    ]
    found = logged.logged_models_and_runs(
        args.many("experiment_ids") or None, args.one("filter") or None, order_by, self.client
    )
    return _page("models", found, offset, size, lambda m: _logged_json(self, m[1], m[0].model_id))


# --------------------------------------------------------------------------------- registry


def _create_registered_model(self: MlflowApi, args: Args) -> dict[str, Any]:
    model = self.store.create_registered_model(
        args.text("name"), args.pairs("tags"), args.one("description")
    )
    return {"registered_model": self.model_json(model)}


def _get_registered_model(self: MlflowApi, args: Args) -> dict[str, Any]:
    return {"registered_model": self.model_json(self.store.get_registered_model(args.text("name")))}


def _registry_search(
    method: str, key: str, default: int, to_json: str
) -> Callable[[MlflowApi, Args], dict[str, Any]]:
    """A paged search of registered models or versions: ``store.<method>``, ``self.<to_json>``."""

    def handler(self: MlflowApi, args: Args) -> dict[str, Any]:
        size, offset = _max_results(args, default), _offset(args)
        found = getattr(self.store, method)(
            args.one("filter") or None, offset + size + 1, args.many("order_by") or None
        )
        return _page(key, found, offset, size, getattr(self, to_json))

    return handler


def _update_registered_model(self: MlflowApi, args: Args) -> dict[str, Any]:
    model = self.store.update_registered_model(args.text("name"), args.one("description", ""))
    return {"registered_model": self.model_json(model)}


def _get_latest_versions(self: MlflowApi, args: Args) -> dict[str, Any]:
    versions = self.store.get_latest_versions(args.text("name"), args.many("stages") or None)
    return {"model_versions": [self.version_json(v) for v in versions]}


def _create_model_version(self: MlflowApi, args: Args) -> dict[str, Any]:
    source, run_id = args.text("source"), args.one("run_id") or None
    if source.startswith("models:/m-") and run_id is None:  # MLflow 3: the logged model's run
        run_id = _logged_run(self, source.removeprefix("models:/")).info.run_id
    elif not source.startswith(("models:/", "runs:/")):
        source = self.private(source)
    version = self.store.create_model_version(
        args.text("name"),
        source,
        run_id,
        args.pairs("tags"),
        args.one("description"),
    )
    return {"model_version": self.version_json(version)}


def _version_args(args: Args) -> tuple[str, str]:
    return args.text("name"), str(args.one("version", ""))


def _get_model_version(self: MlflowApi, args: Args) -> dict[str, Any]:
    return {"model_version": self.version_json(self.store.get_model_version(*_version_args(args)))}


def _update_model_version(self: MlflowApi, args: Args) -> dict[str, Any]:
    version = self.store.update_model_version(*_version_args(args), args.one("description", ""))
    return {"model_version": self.version_json(version)}


def _download_uri(self: MlflowApi, args: Args) -> dict[str, Any]:
    version = self.store.get_model_version(*_version_args(args))
    source = version.source
    if source.startswith("models:/m-"):
        model_id = source.removeprefix("models:/")
        source = _model_location(_logged_run(self, model_id), model_id)
    elif source.startswith("runs:/"):
        run_id, _, path = source.removeprefix("runs:/").partition("/")
        source = f"{self.store.get_run_info(run_id).artifact_uri.rstrip('/')}/{path}"
    return {"artifact_uri": self.public(source)}


def _get_by_alias(self: MlflowApi, args: Args) -> dict[str, Any]:
    version = self.store.get_model_version_by_alias(args.text("name"), args.text("alias"))
    return {"model_version": self.version_json(version)}


def _call(method: str, *names: str, **fixed: str) -> Callable[[MlflowApi, Args], dict[str, Any]]:
    """A handler calling ``store.<method>`` with the named arguments, as text (``"value?"``: an
    optional one, "" when left out), and ``fixed`` ones; it answers ``{}``."""

    def handler(self: MlflowApi, args: Args) -> dict[str, Any]:
        values = [str(args.one(n[:-1], "")) if n.endswith("?") else args.text(n) for n in names]
        getattr(self.store, method)(*values, **fixed)
        return {}

    return handler


# POST endpoints that only read; every other endpoint but GET writes (refused by `fittrace ui`).
_READING_POSTS = frozenset(
    {"experiments/search", "runs/search", "logged-models/search",
     "registered-models/get-latest-versions"}
)  # fmt: skip


def _endpoints(self: MlflowApi) -> list[tuple[str, str, Callable[[Args], dict[str, Any]], bool]]:
    """(method, endpoint, handler, whether it writes) of every MLflow endpoint served."""
    # fmt: off
    table: list[tuple[str, str, Callable[[MlflowApi, Args], dict[str, Any]]]] = [
        ("POST", "experiments/create", _create_experiment),
        ("GET", "experiments/get", _get_experiment),
        ("GET", "experiments/get-by-name", _get_experiment_by_name),
        ("GET", "experiments/search", _search_experiments),
        ("POST", "experiments/search", _search_experiments),
        ("POST", "experiments/update", _call("rename_experiment", "experiment_id", "new_name")),
        ("POST", "experiments/delete",
         _call("set_experiment_lifecycle", "experiment_id", stage="deleted")),
        ("POST", "experiments/restore",
         _call("set_experiment_lifecycle", "experiment_id", stage="active")),
        ("POST", "experiments/set-experiment-tag", _set_experiment_tag),
        ("POST", "runs/create", _create_run),
        ("POST", "runs/update", _update_run),
        ("POST", "runs/delete", _call("set_run_lifecycle", "run_id", stage="deleted")),
        ("POST", "runs/restore", _call("set_run_lifecycle", "run_id", stage="active")),
        ("POST", "runs/log-metric", _log_metric),
        ("POST", "runs/log-parameter", _log_param),
        ("POST", "runs/set-tag", _set_tag),
        ("POST", "runs/delete-tag", _call("delete_tag", "run_id", "key")),
        ("POST", "runs/log-batch", _log_batch),
        ("POST", "runs/log-inputs", _log_inputs),
        ("POST", "runs/outputs", _log_outputs),
        ("GET", "runs/get", _get_run),
        ("POST", "runs/search", _search_runs),
        ("GET", "metrics/get-history", _metric_history),
        ("POST", "logged-models", _create_logged_model),
        ("GET", "logged-models/{id}", _get_logged_model),
        ("PATCH", "logged-models/{id}", _change_logged_model(_finalize)),
        ("PATCH", "logged-models/{id}/tags", _change_logged_model(_set_model_tags)),
        ("POST", "logged-models/{id}/params", _change_logged_model(_set_model_params)),
        ("POST", "logged-models/search", _search_logged_models),
        ("POST", "registered-models/create", _create_registered_model),
        ("GET", "registered-models/get", _get_registered_model),
        ("GET", "registered-models/search",
         _registry_search("search_registered_models", "registered_models", 100, "model_json")),
        ("PATCH", "registered-models/update", _update_registered_model),
        ("DELETE", "registered-models/delete", _call("delete_registered_model", "name")),
        ("POST", "registered-models/set-tag",
         _call("set_registered_model_tag", "name", "key", "value?")),
        ("DELETE", "registered-models/delete-tag",
         _call("delete_registered_model_tag", "name", "key")),
        ("POST", "registered-models/get-latest-versions", _get_latest_versions),
        ("POST", "registered-models/alias",
         _call("set_registered_model_alias", "name", "alias", "version")),
        ("DELETE", "registered-models/alias",
         _call("delete_registered_model_alias", "name", "alias")),
        ("GET", "registered-models/alias", _get_by_alias),
        ("POST", "model-versions/create", _create_model_version),
        ("GET", "model-versions/get", _get_model_version),
        ("GET", "model-versions/search",
         _registry_search("search_model_versions", "model_versions", 10_000, "version_json")),
        ("PATCH", "model-versions/update", _update_model_version),
        ("DELETE", "model-versions/delete", _call("delete_model_version", "name", "version")),
        ("POST", "model-versions/set-tag",
         _call("set_model_version_tag", "name", "version", "key", "value?")),
        ("DELETE", "model-versions/delete-tag",
         _call("delete_model_version_tag", "name", "version", "key")),
        ("GET", "model-versions/get-download-uri", _download_uri),
    ]
    # fmt: on
    return [
        (m, e, functools.partial(h, self), m != "GET" and e not in _READING_POSTS)
        for m, e, h in table
    ]
