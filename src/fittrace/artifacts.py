"""``fittrace.artifacts.download_artifacts``, as MLflow users call it."""

from __future__ import annotations

from fittrace.exceptions import InvalidParameterError
from fittrace.tracking.client import Client


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Download a run's artifact (``run_id`` + ``artifact_path``) or a ``runs:/<id>/<path>`` URI; return the local path."""
    if artifact_uri is not None:
        if run_id is not None or artifact_path is not None:
            raise InvalidParameterError(
                "Pass either artifact_uri, or run_id with artifact_path, not both"
            )
        if not artifact_uri.startswith("runs:/"):
            raise InvalidParameterError(
                f"artifact_uri must look like runs:/<run_id>/<path>, got {artifact_uri!r}"
            )
        run_id, _, artifact_path = artifact_uri[len("runs:/") :].lstrip("/").partition("/")
    if not run_id:
        raise InvalidParameterError(
            "download_artifacts needs run_id (or artifact_uri='runs:/<run_id>/<path>')"
        )
    return Client(tracking_uri).download_artifacts(run_id, artifact_path or "", dst_path)


def list_artifacts(
    run_id: str, artifact_path: str | None = None, tracking_uri: str | None = None
) -> list:
    return Client(tracking_uri).list_artifacts(run_id, artifact_path)
