"""``fittrace.artifacts``: download, list and load a run's artifacts, as MLflow users call them.

``artifact_uri`` is ``runs:/<run_id>/<path>`` or a local path / ``file://`` URI.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from fittrace.entities import FileInfo
from fittrace.exceptions import InvalidParameterError
from fittrace.tracking.client import Client


def _run_and_path(
    artifact_uri: str | None, run_id: str | None, artifact_path: str | None, what: str
) -> tuple[str, str]:
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
            f"{what} needs run_id (or artifact_uri='runs:/<run_id>/<path>')"
        )
    return run_id, artifact_path or ""


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Download a run's artifact (``run_id`` + ``artifact_path``) or a ``runs:/<id>/<path>`` URI; return the local path."""
    run_id, path = _run_and_path(artifact_uri, run_id, artifact_path, "download_artifacts")
    return Client(tracking_uri).download_artifacts(run_id, path, dst_path)


def list_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    tracking_uri: str | None = None,
) -> list[FileInfo]:
    """The files and directories directly under a run's artifact directory (or ``artifact_uri``)."""
    run_id, path = _run_and_path(artifact_uri, run_id, artifact_path, "list_artifacts")
    return Client(tracking_uri).list_artifacts(run_id, path or None)


def _local_file(artifact_uri: str) -> str:
    if artifact_uri.startswith("runs:/"):
        return download_artifacts(
            artifact_uri, dst_path=tempfile.mkdtemp(prefix="fittrace-artifact-")
        )
    if artifact_uri.startswith("file://"):
        from urllib.parse import urlparse
        from urllib.request import url2pathname

        return url2pathname(urlparse(artifact_uri).path)
    return os.path.expanduser(artifact_uri)


def load_text(artifact_uri: str) -> str:
    """The text of an artifact file."""
    with open(_local_file(artifact_uri), encoding="utf-8") as f:
        return f.read()


def load_dict(artifact_uri: str) -> Any:
    """A JSON (or, for .yaml/.yml, YAML) artifact file, parsed."""
    text = load_text(artifact_uri)
    if artifact_uri.endswith((".yaml", ".yml")):
        import yaml

        return yaml.safe_load(text)
    return json.loads(text)


def load_image(artifact_uri: str) -> Any:
    """An image artifact as a ``PIL.Image.Image`` (needs Pillow)."""
    from PIL import Image

    image = Image.open(_local_file(artifact_uri))
    image.load()
    return image
