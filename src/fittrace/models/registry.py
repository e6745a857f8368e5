"""Registering a logged model as a new version of a registered model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fittrace.entities import ModelVersion
from fittrace.exceptions import ResourceAlreadyExistsError


def _source_and_run(model_uri: str, client: Any) -> tuple[str, str | None]:
    """Where a version's files live (the run's artifact location for runs:/ URIs) and its run."""
    from fittrace.models.uri import _scheme, parse_models_uri, parse_runs_uri

    if _scheme(model_uri) == "models":
        model_id, version, alias = parse_models_uri(model_uri)
        if version is None and alias is None:  # a logged model: models:/<model_id>
            from fittrace.models.logged import get_logged_model

            model = get_logged_model(model_id, client)
            return model.artifact_location, model.source_run_id
    if _scheme(model_uri) == "runs":
        run_id, path = parse_runs_uri(model_uri)
        run = client.get_run(run_id)
        return run.info.artifact_uri.rstrip("/") + (f"/{path}" if path else ""), run_id
    if _scheme(model_uri) is None:
        return str(Path(model_uri).expanduser().resolve()), None
    return model_uri, None


def register_model(
    model_uri: str, name: str, tags: dict[str, str] | None = None, *, client: Any = None
) -> ModelVersion:
    """Create registered model ``name`` if needed and add ``model_uri`` as its next version."""
    if client is None:
        from fittrace.tracking.client import Client

        client = Client()
    source, run_id = _source_and_run(model_uri, client)
    try:
        client.create_registered_model(name)
    except ResourceAlreadyExistsError:
        pass
    return client.create_model_version(name, source, run_id=run_id, tags=tags)
