"""An MLflow tracking server as fittrace's store: ``FITTRACE_TRACKING_URI=http://mlflow-server:5000``.

``MlflowRestStore`` has the SQL store's public methods, each mapped onto MLflow's REST API 2.0
(``/api/2.0/mlflow/...``), so the fluent API, ``Client``, autologging, the registry and the
buffered recorder work against an ``mlflow server`` unchanged. ``write_batch`` becomes
``runs/log-batch`` requests within MLflow's limits (1,000 metrics, 100 params, 100 tags, 1,000
entities a request). Artifacts go through the server's artifact proxy
(``/api/2.0/mlflow-artifacts/artifacts``, MLflow's default ``--serve-artifacts``) for
``mlflow-artifacts:`` URIs, else straight to the run's artifact URI (a shared folder, S3 ...).

The HTTP transport, its retry rules and ``FITTRACE_HTTP_TIMEOUT`` / ``FITTRACE_HTTP_RETRIES`` are
``RestStore``'s. The token is ``FITTRACE_TRACKING_TOKEN``, else ``MLFLOW_TRACKING_TOKEN``, sent as
a bearer token; ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` as basic auth.

What an MLflow server cannot do: choose a run's id (``create_run(run_id=)``), own a run by a
process (a run whose process died stays RUNNING, as with MLflow), or recognise a batch sent twice
after a lost reply (fittrace's own server does); writes are therefore re-sent only when the
connection was refused, as ``RestStore`` does for its own server without idempotency keys.
"""

from __future__ import annotations

import base64
import json
import math
import os
import posixpath
import shutil
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fittrace.entities import (
    DatasetInput,
    Experiment,
    FileInfo,
    Metric,
    MetricHistory,
    ModelVersion,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    ViewType,
)
from fittrace.exceptions import (
    InvalidParameterError,
    ParamConflictError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
    StoreError,
)
from fittrace.store.artifacts import ArtifactRepository, clean_artifact_path, repository_for
from fittrace.store.rest import RestStore, _Answer, _Failed

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
_VIEW = {
    ViewType.ACTIVE_ONLY: "ACTIVE_ONLY",
    ViewType.DELETED_ONLY: "DELETED_ONLY",
    ViewType.ALL: "ALL",
}
_LIMITS = {"metrics": 1000, "params": 100, "tags": 100}
_ENTITIES_PER_REQUEST = 1000
_PAGE = 1000
_PROBE_TIMEOUT_S = 15.0
_ERRORS = {
    "RESOURCE_DOES_NOT_EXIST": ResourceNotFoundError,
    "RESOURCE_ALREADY_EXISTS": ResourceAlreadyExistsError,
    "INVALID_PARAMETER_VALUE": InvalidParameterError,
    "BAD_REQUEST": InvalidParameterError,
}


def _pairs(items: dict[str, Any] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": str(v)} for k, v in (items or {}).items()]


def _dict(pairs: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    return {p["key"]: p.get("value", "") for p in pairs or ()}


def _float_out(value: float) -> Any:
    if math.isfinite(value):
        return value
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def _float_in(value: Any) -> float:
    return float(value) if value is not None else math.nan


def _experiment(e: dict[str, Any]) -> Experiment:
    return Experiment(
        str(e["experiment_id"]),
        e["name"],
        e.get("artifact_location", ""),
        e.get("lifecycle_stage", "active"),
        _dict(e.get("tags")),
        _int(e.get("creation_time")),
        _int(e.get("last_update_time")),
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _run(r: dict[str, Any]) -> Run:
    info, data = r["info"], r.get("data", {})
    run_info = RunInfo(
        info["run_id"],
        str(info["experiment_id"]),
        info.get("run_name", ""),
        info.get("user_id", ""),
        info.get("status", "RUNNING"),
        int(info.get("start_time", 0)),
        _int(info.get("end_time")),
        info.get("artifact_uri", ""),
        info.get("lifecycle_stage", "active"),
    )
    metrics = {m["key"]: _float_in(m.get("value")) for m in data.get("metrics", ())}
    datasets = [dataset_input(item) for item in r.get("inputs", {}).get("dataset_inputs", ())]
    return Run(
        run_info,
        RunData(metrics, _dict(data.get("params")), _dict(data.get("tags"))),
        RunInputs(datasets),
    )


def dataset_input(item: dict[str, Any]) -> DatasetInput:
    """A DatasetInput from MLflow's ``{"dataset": {...}, "tags": [...]}``."""
    d = item["dataset"]
    return DatasetInput(
        d["name"],
        d["digest"],
        d.get("source_type", ""),
        d.get("source", ""),
        d.get("schema", ""),
        d.get("profile", ""),
        _dict(item.get("tags")).get("mlflow.data.context", ""),
    )


def dataset_json(d: DatasetInput) -> dict[str, Any]:
    """MLflow's ``{"dataset": {...}, "tags": [...]}`` of a DatasetInput."""
    return {
        "tags": _pairs({"mlflow.data.context": d.context} if d.context else {}),
        "dataset": {
            "name": d.name,
            "digest": d.digest,
            "source_type": d.source_type,
            "source": d.source,
            "schema": d.schema,
            "profile": d.profile,
        },
    }


def _version(v: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        v["name"],
        str(v["version"]),
        int(v.get("creation_timestamp", 0)),
        int(v.get("last_updated_timestamp", 0)),
        v.get("source", ""),
        v.get("run_id") or None,
        v.get("description", "") or "",
        v.get("status", "READY"),
        _dict(v.get("tags")),
        list(v.get("aliases", ())),
    )


def _model(m: dict[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        m["name"],
        int(m.get("creation_timestamp", 0)),
        int(m.get("last_updated_timestamp", 0)),
        m.get("description", "") or "",
        _dict(m.get("tags")),
        {a["alias"]: str(a["version"]) for a in m.get("aliases", ())},
        [_version(v) for v in m.get("latest_versions", ())],
    )


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def speaks_mlflow_only(url: str) -> bool:
    """Whether the server at ``url`` answers MLflow's REST API and not fittrace's own protocol.

    Unreachable or neither: False, so that fittrace's client reports the failure when used."""
    probe, theirs = RestStore(url), MlflowRestStore(url)
    probe.timeout = theirs.timeout = min(probe.timeout, _PROBE_TIMEOUT_S)
    headers = {"Content-Type": "application/json"}
    try:
        own = probe._once("POST", probe.api + "/store/search_experiments", b"{}", headers, None)
        answer = _json_object(own.body)
        if answer is not None and ("result" in answer or "error" in answer):
            return False
        search = theirs._once(
            "GET", theirs.api + "/experiments/search?max_results=1", None, {}, None
        )
    except _Failed:
        return False
    answer = _json_object(search.body)
    return search.status in (401, 403) or (
        answer is not None and ("experiments" in answer or "error_code" in answer or not answer)
    )


def _offset_token(offset: int) -> str | None:
    """MLflow's page token for a result offset (its SQL and file stores encode just that)."""
    if offset <= 0:
        return None
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


class MlflowRestStore(RestStore):
    """An ``mlflow server``'s tracking store and registry, called over MLflow's REST API."""

    def __init__(self, url: str, token: str | None = None) -> None:
        super().__init__(url, token)
        self.api = self.location + API

    # -- HTTP ------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = super()._headers()
        token = os.environ.get("FITTRACE_TRACKING_TOKEN") or os.environ.get("MLFLOW_TRACKING_TOKEN")
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        if token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {token}"
        elif user and not token:
            secret = f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
        return headers

    def _error(self, method: str, url: str, answer: _Answer) -> Exception:
        try:
            error = json.loads(answer.body)
            code, message = error.get("error_code", ""), error.get("message", "")
        except (ValueError, AttributeError):
            if answer.status in (401, 403):
                return StoreError(
                    f"The MLflow server at {self.location} refused the request ({answer.status}): "
                    "set FITTRACE_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD"
                )
            return StoreError(f"Unexpected HTTP {answer.status} from the MLflow server at {url}")
        if "Changing param values is not allowed" in message:
            return ParamConflictError(message)
        return _ERRORS.get(code, StoreError)(f"{message} ({code} from {self.location})")

    def _send(self, method: str, endpoint: str, body: dict[str, Any] | None = None) -> Any:
        path = f"/{endpoint}"
        if method == "GET" and body:
            path += "?" + urlencode({k: v for k, v in body.items() if v is not None}, doseq=True)
            payload = None
        else:
            payload = json.dumps(body or {}).encode()
        answer = self.request(
            method,
            path,
            payload,
            {"Content-Type": "application/json"},
            idempotent=method == "GET",
        )
        return json.loads(answer.body or b"{}")

    def _pages(
        self, method: str, endpoint: str, body: dict[str, Any], key: str, limit: int
    ) -> list:
        """Every item under ``key`` across pages, up to ``limit``."""
        found: list = []
        token = body.pop("page_token", None)
        while len(found) < limit:
            page = self._send(
                method,
                endpoint,
                {**body, "max_results": min(_PAGE, limit - len(found)), "page_token": token},
            )
            found.extend(page.get(key, ()))
            token = page.get("next_page_token")
            if not token:
                break
        return found[:limit]

    def artifact_repository(self, run_id: str) -> ArtifactRepository:
        uri = self.get_run_info(run_id).artifact_uri
        if uri.startswith("mlflow-artifacts:"):
            return ProxiedArtifactRepository(self, uri)
        return repository_for(uri)

    # -- experiments -------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        body = {"name": name, "tags": _pairs(tags)}
        if artifact_location:
            body["artifact_location"] = artifact_location
        return str(self._send("POST", "experiments/create", body)["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        answer = self._send("GET", "experiments/get", {"experiment_id": experiment_id})
        return _experiment(answer["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            answer = self._send("GET", "experiments/get-by-name", {"experiment_name": name})
        except ResourceNotFoundError:
            return None
        return _experiment(answer["experiment"])

    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY) -> list[Experiment]:
        found = self._pages(
            "POST", "experiments/search", {"view_type": _VIEW[view_type]}, "experiments", 10**9
        )
        return [_experiment(e) for e in found]

    def set_experiment_lifecycle(self, experiment_id: str, stage: str) -> None:
        action = "delete" if stage == "deleted" else "restore"
        self._send("POST", f"experiments/{action}", {"experiment_id": experiment_id})

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        body = {"experiment_id": experiment_id, "key": key, "value": value}
        self._send("POST", "experiments/set-experiment-tag", body)

    def count_runs(self) -> dict[str, int]:
        counts = {}
        for experiment in self.search_experiments():
            runs = self._pages(
                "POST", "runs/search", {"experiment_ids": [experiment.experiment_id]}, "runs", 10**9
            )
            counts[experiment.experiment_id] = len(runs)
        return counts

    # -- runs ----------------------------------------------------------------------------
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
        if run_id is not None:
            raise InvalidParameterError(f"An MLflow server chooses run ids; cannot create {run_id}")
        body = {
            "experiment_id": experiment_id,
            "user_id": user_id,
            "start_time": start_time,
            "run_name": run_name,
            "tags": _pairs(tags),
        }
        return _run(self._send("POST", "runs/create", body)["run"])

    def resume_run(self, run_id: str, owned: bool = True) -> None:
        self._send("POST", "runs/update", {"run_id": run_id, "status": "RUNNING"})

    def update_run_info(self, run_id: str, status: str, end_time: int | None) -> None:
        self._send(
            "POST", "runs/update", {"run_id": run_id, "status": status, "end_time": end_time}
        )

    def set_run_lifecycle(self, run_id: str, stage: str) -> None:
        action = "delete" if stage == "deleted" else "restore"
        self._send("POST", f"runs/{action}", {"run_id": run_id})

    def get_run(self, run_id: str) -> Run:
        return _run(self._send("GET", "runs/get", {"run_id": run_id})["run"])

    def get_run_info(self, run_id: str) -> RunInfo:
        return self.get_run(run_id).info

    def get_params(self, run_id: str) -> dict[str, str]:
        return dict(self.get_run(run_id).data.params)

    def write_batch(
        self,
        metrics: Iterable[tuple[str, str, float, int, int]],
        params: Iterable[tuple[str, str, str]],
        tags: Iterable[tuple[str, str, str]],
        batch_key: str | None = None,
    ) -> None:
        """Rows of any runs, as ``runs/log-batch`` requests within MLflow's limits, per run
        (``batch_key`` is ignored: an MLflow server keeps no record of applied batches)."""
        per_run: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for run_id, key, value, timestamp, step in metrics:
            per_run[run_id]["metrics"].append(
                {"key": key, "value": _float_out(value), "timestamp": timestamp, "step": step}
            )
        for run_id, key, value in params:
            per_run[run_id]["params"].append({"key": key, "value": value})
        for run_id, key, value in tags:
            per_run[run_id]["tags"].append({"key": key, "value": value})
        for run_id, rows in per_run.items():
            while any(rows.values()):
                body: dict[str, Any] = {"run_id": run_id}
                room = _ENTITIES_PER_REQUEST
                for kind in ("params", "tags", "metrics"):
                    take = min(_LIMITS[kind], room)
                    body[kind], rows[kind] = rows[kind][:take], rows[kind][take:]
                    room -= len(body[kind])
                self._send("POST", "runs/log-batch", body)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._send("POST", "runs/delete-tag", {"run_id": run_id, "key": key})

    def log_inputs(self, run_id: str, datasets: Iterable[DatasetInput]) -> None:
        items = [dataset_json(d) for d in datasets]
        if items:
            self._send("POST", "runs/log-inputs", {"run_id": run_id, "datasets": items})

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        found = self._pages(
            "GET", "metrics/get-history", {"run_id": run_id, "metric_key": key}, "metrics", 10**9
        )
        return [
            Metric(key, _float_in(m.get("value")), int(m["timestamp"]), int(m.get("step", 0)))
            for m in found
        ]

    def get_metric_history_columns(self, run_id: str, key: str) -> MetricHistory:
        return MetricHistory.of(key, self.get_metric_history(run_id, key))

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
        """Pages go by ``offset`` here (``after`` is an optimization this store does without)."""
        body = {
            "experiment_ids": [str(e) for e in experiment_ids],
            "filter": filter_string or "",
            "run_view_type": _VIEW[run_view_type],
            "order_by": list(order_by or ()),
            "page_token": _offset_token(offset),
        }
        return [_run(r) for r in self._pages("POST", "runs/search", body, "runs", max_results)]

    # -- registry ------------------------------------------------------------------------
    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel:
        body = {"name": name, "tags": _pairs(tags), "description": description or ""}
        return _model(self._send("POST", "registered-models/create", body)["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        return _model(
            self._send("GET", "registered-models/get", {"name": name})["registered_model"]
        )

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
    ) -> list[RegisteredModel]:
        body = {"filter": filter_string or None, "order_by": list(order_by or ())}
        found = self._pages(
            "GET", "registered-models/search", body, "registered_models", max_results
        )
        return [_model(m) for m in found]

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        body = {"name": name, "description": description}
        return _model(self._send("PATCH", "registered-models/update", body)["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self._send("DELETE", "registered-models/delete", {"name": name})

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._send("POST", "registered-models/set-tag", {"name": name, "key": key, "value": value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._send("DELETE", "registered-models/delete-tag", {"name": name, "key": key})

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        body = {
            "name": name,
            "source": source,
            "run_id": run_id or "",
            "tags": _pairs(tags),
            "description": description or "",
        }
        return _version(self._send("POST", "model-versions/create", body)["model_version"])

    def get_model_version(self, name: str, version: Any) -> ModelVersion:
        answer = self._send("GET", "model-versions/get", {"name": name, "version": str(version)})
        return _version(answer["model_version"])

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10000,
        order_by: Sequence[str] | None = None,
    ) -> list[ModelVersion]:
        body = {"filter": filter_string or None, "order_by": list(order_by or ())}
        found = self._pages("GET", "model-versions/search", body, "model_versions", max_results)
        return [_version(v) for v in found]

    def update_model_version(self, name: str, version: Any, description: str) -> ModelVersion:
        body = {"name": name, "version": str(version), "description": description}
        return _version(self._send("PATCH", "model-versions/update", body)["model_version"])

    def delete_model_version(self, name: str, version: Any) -> None:
        self._send("DELETE", "model-versions/delete", {"name": name, "version": str(version)})

    def set_model_version_tag(self, name: str, version: Any, key: str, value: str) -> None:
        body = {"name": name, "version": str(version), "key": key, "value": value}
        self._send("POST", "model-versions/set-tag", body)

    def delete_model_version_tag(self, name: str, version: Any, key: str) -> None:
        body = {"name": name, "version": str(version), "key": key}
        self._send("DELETE", "model-versions/delete-tag", body)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        versions = self.search_model_versions(f"name = '{name}'", 1, ["version_number DESC"])
        return versions[:1]

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        body = {"name": name, "alias": alias, "version": str(version)}
        self._send("POST", "registered-models/alias", body)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._send("DELETE", "registered-models/alias", {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        answer = self._send("GET", "registered-models/alias", {"name": name, "alias": alias})
        return _version(answer["model_version"])


def _as_file(rel: str) -> str:
    return posixpath.join(rel, posixpath.basename(rel))


class _ArtifactProxy(MlflowRestStore):
    """The transport, rooted at the artifact proxy's API instead of the tracking API."""

    def __init__(self, url: str, token: str | None = None) -> None:
        super().__init__(url, token)
        self.api = self.location + ARTIFACTS_API


class ProxiedArtifactRepository:
    """A run's artifacts behind an MLflow server's artifact proxy (``mlflow-artifacts:`` URIs)."""

    def __init__(self, store: MlflowRestStore, artifact_uri: str) -> None:
        self._http = _ArtifactProxy(store.location, store._token)
        self._root = urlsplit(artifact_uri).path.strip("/")

    def _path(self, rel: str) -> str:
        return posixpath.join(self._root, rel) if rel else self._root

    def _request(self, method: str, rel: str, **kwargs: Any) -> _Answer:
        return self._http.request(method, "/" + quote(self._path(rel)), idempotent=True, **kwargs)

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        rel = posixpath.join(clean_artifact_path(artifact_path), os.path.basename(local_file))
        size = os.path.getsize(local_file)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        self._request("PUT", rel, body=lambda: open(local_file, "rb"), headers=headers)

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        base = clean_artifact_path(artifact_path)
        for dirpath, _, files in os.walk(local_dir):
            rel = os.path.relpath(dirpath, local_dir).replace(os.sep, "/")
            for name in sorted(files):
                folder = posixpath.join(base, "" if rel == "." else rel)
                self.log_artifact(os.path.join(dirpath, name), folder or None)

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        rel = clean_artifact_path(artifact_file)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
        self._request("PUT", rel, body=bytes(data), headers=headers)

    def staging_dir(self) -> None:
        return None  # the system temp folder

    def move_dir(self, local_dir: str, artifact_path: str) -> None:
        self.log_artifacts(local_dir, artifact_path)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        rel = clean_artifact_path(path)
        query = "?" + urlencode({"path": self._path(rel)})
        answer = self._http.request("GET", query, idempotent=True)
        files = json.loads(answer.body or b"{}").get("files", ())
        infos = [
            FileInfo(
                posixpath.join(rel, f["path"]), bool(f.get("is_dir")), _int(f.get("file_size"))
            )
            for f in files
        ]
        if rel and [(f.path, f.is_dir) for f in infos] == [(_as_file(rel), False)]:
            return []  # the proxy lists a file as itself: it is no folder
        return sorted(infos, key=lambda f: f.path)

    def download_artifacts(self, path: str | None, dst_path: str) -> str:
        rel = clean_artifact_path(path)
        listing = self.list_artifacts(rel)
        target = os.path.join(dst_path, *rel.split("/")) if rel else dst_path
        if rel and not listing:  # a file (or nothing: the proxy's 404 says so)
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)

            def sink(response: Any) -> None:
                with open(target, "wb") as f:
                    shutil.copyfileobj(response, f, 1 << 20)

            self._request("GET", rel, sink=sink)
            return os.path.abspath(target)
        if not listing:
            raise ResourceNotFoundError("The run has no artifacts")
        os.makedirs(target, exist_ok=True)
        for info in listing:
            self.download_artifacts(info.path, dst_path)
        return os.path.abspath(target)
