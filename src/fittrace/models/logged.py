"""MLflow 3's logged models: every ``log_model`` call gets a ``model_id`` and a ``models:/<model_id>`` URI.

A logged model lives in its run's artifacts (so ``runs:/<run_id>/<name>`` keeps working) and is
recorded as the run's tag ``mlflow.loggedModel.<model_id>``, which ``run.outputs`` and the
lookups below read: no store table of its own.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fittrace.entities import (
    MODEL_OUTPUT_TAG_PREFIX,
    Metric,
    Record,
    Run,
    ViewType,
    tagged_models,
)
from fittrace.exceptions import InvalidParameterError, ResourceNotFoundError

_last: dict[str, str] = {}  # "model_id" of the model this process logged last


@dataclass(frozen=True, repr=False, eq=False)
class LoggedModel(Record):
    """A model ``log_model`` recorded: its id, name, run, where its files are, and the run's data."""

    model_id: str
    name: str
    experiment_id: str
    source_run_id: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: str = "READY"
    model_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"

    @property
    def artifact_path(self) -> str:
        return self.name


def new_model_id() -> str:
    return f"m-{uuid.uuid4().hex}"


def record(client: Any, run_id: str, model_id: str, artifact_path: str) -> None:
    """Record a logged model on its run and remember it as this process's last."""
    entry = {"artifact_path": artifact_path, "creation_timestamp": time.time_ns() // 1_000_000}
    client.set_tag(run_id, MODEL_OUTPUT_TAG_PREFIX + model_id, json.dumps(entry))
    _last["model_id"] = model_id


def _models_of(run: Run) -> list[LoggedModel]:
    found = []
    for model_id, text in tagged_models(run.data.tags, MODEL_OUTPUT_TAG_PREFIX).items():
        try:
            entry = json.loads(text)
        except ValueError:
            continue
        created = int(entry.get("creation_timestamp") or run.info.start_time)
        path = str(entry.get("artifact_path", ""))
        found.append(
            LoggedModel(
                model_id=model_id,
                name=path,
                experiment_id=run.info.experiment_id,
                source_run_id=run.info.run_id,
                artifact_location=f"{run.info.artifact_uri.rstrip('/')}/{path}",
                creation_timestamp=created,
                last_updated_timestamp=created,
                params=dict(run.data.params),
                metrics=[Metric(k, v, created, 0) for k, v in run.data.metrics.items()],
            )
        )
    return found


def _runs(client: Any, experiment_ids: Sequence[str] | None, filter_string: str = "") -> list[Run]:
    ids = list(experiment_ids or [e.experiment_id for e in client.search_experiments(ViewType.ALL)])
    return list(client.search_runs(ids, filter_string, ViewType.ALL, 50_000)) if ids else []


def logged_model_and_run(model_id: str, client: Any = None) -> tuple[LoggedModel, Run]:
    """The logged model with this id and the run it was read from (``ResourceNotFoundError``
    if none)."""
    client = _client(client)
    if not isinstance(model_id, str) or not model_id.startswith("m-") or "'" in model_id:
        raise InvalidParameterError(f"Not a logged model id: {model_id!r} (ids look like m-<hex>)")
    for run in _runs(client, None, f"tags.`{MODEL_OUTPUT_TAG_PREFIX}{model_id}` IS NOT NULL"):
        for model in _models_of(run):
            if model.model_id == model_id:
                return model, run
    raise ResourceNotFoundError(f"No logged model with id {model_id!r}")


def get_logged_model(model_id: str, client: Any = None) -> LoggedModel:
    """The logged model with this id (``ResourceNotFoundError`` if none)."""
    return logged_model_and_run(model_id, client)[0]


def logged_models_and_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
    client: Any = None,
) -> list[tuple[LoggedModel, Run]]:
    """``search_logged_models``' models, all of them, each with the run it was read from."""
    from fittrace.tracking.entity_filter import search

    runs = _runs(_client(client), [str(e) for e in experiment_ids or []] or None)
    found = [model for run in runs for model in _models_of(run)]
    found = search(found, filter_string, order_by or ["creation_timestamp DESC"], _ATTRIBUTES)
    by_id = {run.info.run_id: run for run in runs}
    return [(model, by_id[model.source_run_id]) for model in found]


def search_logged_models(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str | None = None,
    max_results: int | None = None,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    client: Any = None,
) -> Any:
    """Logged models of the given experiments (all by default), newest first.

    Filters: ``name``, ``model_id``, ``source_run_id``, ``creation_timestamp`` and ``tags.<key>``.
    A pandas DataFrame (``output_format="pandas"``) or a list of LoggedModel (``"list"``).
    """
    if output_format not in ("pandas", "list"):
        raise InvalidParameterError(
            f"output_format must be 'pandas' or 'list', got {output_format!r}"
        )
    found = [m for m, _ in logged_models_and_runs(experiment_ids, filter_string, order_by, client)]
    found = found[:max_results] if max_results is not None else found
    if output_format == "list":
        return found
    import pandas

    return pandas.DataFrame([{**m.__dict__, "model_uri": m.model_uri} for m in found])


_ATTRIBUTES = ("name", "model_id", "source_run_id", "experiment_id", "status", "creation_timestamp")


def last_logged_model() -> LoggedModel | None:
    """The model this process logged last (None before the first ``log_model``)."""
    model_id = _last.get("model_id")
    return get_logged_model(model_id) if model_id else None


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from fittrace.tracking.client import Client

    return Client()
