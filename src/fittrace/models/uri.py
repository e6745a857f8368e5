"""Model URIs to local model directories.

Accepted: ``runs:/<run_id>/<path>``, ``models:/<model_id>`` (a logged model, MLflow 3),
``models:/<name>/<version>``, ``models:/<name>/latest``,
``models:/<name>@<alias>``, local paths, ``file://`` URIs and artifact-store URLs
(``s3://...`` or any fsspec URL). Local models are used in place unless ``dst_path`` is given;
anything else is downloaded into ``dst_path`` or a new temporary directory.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from fittrace.exceptions import InvalidUriError, ResourceNotFoundError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
_FORMS = (
    "runs:/<run_id>/<artifact_path>, models:/<model_id>, models:/<name>/<version>, models:/<name>@<alias>, "
    "models:/<name>/latest, a local path, file:///<path> or an artifact-store URL"
)


@dataclass(frozen=True)
class ResolvedModel:
    """A model directory on this machine, and where it came from."""

    path: Path
    uri: str
    source: str
    is_local: bool


def _scheme(uri: str) -> str | None:
    match = _SCHEME.match(uri)
    return match.group(1).lower() if match else None


def _target_dir(dst_path: str | os.PathLike | None) -> Path:
    if dst_path is None:
        return Path(tempfile.mkdtemp(prefix="fittrace-model-"))
    target = Path(dst_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """(run_id, artifact_path) of ``runs:/<run_id>/<path>`` (``runs://`` is accepted too)."""
    rest = uri[len("runs:") :].lstrip("/")
    run_id, _, path = rest.partition("/")
    if not run_id:
        raise InvalidUriError(f"Invalid runs URI {uri!r}: expected runs:/<run_id>/<artifact_path>")
    from fittrace.store.artifacts import clean_artifact_path

    return run_id, clean_artifact_path(path.strip("/"))


def parse_models_uri(uri: str) -> tuple[str, str | None, str | None]:
    """(name, version, alias) of a ``models:/`` URI; version may be ``"latest"``; for
    ``models:/<model_id>`` both are None."""
    rest = uri[len("models:") :].lstrip("/")
    if re.fullmatch(r"m-[0-9a-f]{32}", rest):
        return rest, None, None
    if "/" in rest:
        name, _, ref = rest.partition("/")
        ref = ref.strip("/")
        if name and ref.isdigit():
            return unquote(name), str(int(ref)), None
        if name and ref.lower() == "latest":
            return unquote(name), "latest", None
        if name and ref and "/" not in ref:
            raise InvalidUriError(
                f"Invalid models URI {uri!r}: {ref!r} is not a version number; model stages are not "
                f"supported, use an alias instead: models:/{name}@<alias>"
            )
    elif "@" in rest:
        name, _, alias = rest.rpartition("@")
        if name and alias:
            return unquote(name), None, alias
    raise InvalidUriError(
        f"Invalid models URI {uri!r}: expected models:/<name>/<version>, models:/<name>@<alias> "
        "or models:/<name>/latest"
    )


def resolve_model_uri(
    model_uri: str | os.PathLike, dst_path: str | os.PathLike | None = None, *, client: Any = None
) -> ResolvedModel:
    """The local directory holding the model at ``model_uri`` (downloaded if it is not local)."""
    if isinstance(model_uri, os.PathLike):
        model_uri = os.fspath(model_uri)
    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidUriError(
            f"Model URI must be a non-empty string, got {model_uri!r}; use {_FORMS}"
        )
    uri = model_uri.strip()
    scheme = _scheme(uri)
    if scheme is None:
        return _local(uri, Path(uri).expanduser(), dst_path)
    if scheme == "file":
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidUriError(
                f"Invalid file URI {uri!r}: only local files (file:///path) are supported"
            )
        return _local(uri, Path(url2pathname(parsed.path)), dst_path)
    if scheme == "runs":
        return _from_run(uri, *parse_runs_uri(uri), dst_path, client)
    if scheme == "models":
        return _from_registry(uri, dst_path, client)
    if scheme in ("mlflow-artifacts", "dbfs", "databricks"):
        raise InvalidUriError(f"Unsupported model URI {uri!r}; use {_FORMS}")
    return _from_artifact_url(uri, uri, dst_path)


def _local(uri: str, path: Path, dst_path: str | os.PathLike | None) -> ResolvedModel:
    if not path.exists():
        raise ResourceNotFoundError(f"No model at {uri!r}: the path does not exist")
    if dst_path is not None:
        target = _target_dir(dst_path) / path.name
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        else:
            shutil.copy2(path, target)
        path = target
    return ResolvedModel(path.resolve(), uri, str(path), True)


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from fittrace.tracking.client import Client

    return Client()


def _is_local_location(location: str) -> bool:
    scheme = _scheme(location)
    return scheme is None or scheme == "file"


def _from_run(uri: str, run_id: str, path: str, dst_path: Any, client: Any) -> ResolvedModel:
    client = _client(client)
    run = client.get_run(run_id)  # ResourceNotFoundError names the run
    target = _target_dir(dst_path)
    try:
        local = client.download_artifacts(run_id, path, str(target))
    except ResourceNotFoundError as e:
        raise ResourceNotFoundError(
            f"No model at {uri!r}: run {run_id!r} has no artifact {path!r}"
        ) from e
    location = run.info.artifact_uri.rstrip("/") + (f"/{path}" if path else "")
    # Through a tracking server, even a plain path is on the server's machine, not this one.
    is_local = _is_local_location(run.info.artifact_uri) and not getattr(client, "is_remote", False)
    return ResolvedModel(Path(local), uri, location, is_local)


def _from_registry(uri: str, dst_path: Any, client: Any) -> ResolvedModel:
    name, version, alias = parse_models_uri(uri)
    client = _client(client)
    if version is None and alias is None:
        from fittrace.models.logged import get_logged_model

        model = get_logged_model(name, client)
        return _from_run(uri, model.source_run_id, model.artifact_path, dst_path, client)
    if alias is not None:
        model_version = client.get_model_version_by_alias(name, alias)
    elif version == "latest":
        latest = client.get_latest_versions(name)
        if not latest:
            raise ResourceNotFoundError(f"Registered model {name!r} has no versions")
        model_version = latest[0]
    else:
        model_version = client.get_model_version(name, version)
    resolved = resolve_source(model_version.source, model_version.run_id, dst_path, client)
    return ResolvedModel(resolved.path, uri, resolved.source, resolved.is_local)


def resolve_source(source: str, run_id: str | None, dst_path: Any, client: Any) -> ResolvedModel:
    """A model version's files: its source is a runs:/ URI, a path, or a location in a run's artifacts."""
    scheme = _scheme(source)
    if scheme in ("runs", "models"):
        return resolve_model_uri(source, dst_path, client=client)
    if run_id:
        run = client.get_run(run_id)
        root = run.info.artifact_uri.rstrip("/")
        if source == root or source.startswith(root + "/"):
            return _from_run(source, run_id, source[len(root) + 1 :], dst_path, client)
    if scheme is None or scheme == "file":
        return resolve_model_uri(source, dst_path, client=client)
    return _from_artifact_url(source, source, dst_path)


def _from_artifact_url(uri: str, url: str, dst_path: Any) -> ResolvedModel:
    from fittrace.store.artifacts import repository_for

    parent, _, leaf = url.rstrip("/").rpartition("/")
    if not leaf or "://" not in parent + "/":
        raise InvalidUriError(f"Invalid model URI {uri!r}; use {_FORMS}")
    try:
        repo = repository_for(parent)
    except ImportError as e:
        raise InvalidUriError(
            f"Cannot read {uri!r}: {e}. Install fsspec and the filesystem for this scheme"
        ) from e
    except ValueError as e:
        raise InvalidUriError(f"Unsupported model URI {uri!r} ({e}); use {_FORMS}") from e
    local = repo.download_artifacts(leaf, str(_target_dir(dst_path)))
    return ResolvedModel(Path(local), uri, url, False)
