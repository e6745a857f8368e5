"""Artifact repositories: a run's files under its artifact root, local or on any fsspec URL.

Every relative artifact path is checked before use: absolute paths, ``..``
components and (locally) symlinks that resolve outside the root are refused.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from fittrace._lazy import lazy_module
from fittrace.exceptions import (
    FittraceError,
    InvalidParameterError,
    ResourceNotFoundError,
    StoreError,
)

if TYPE_CHECKING:
    from fittrace.entities.files import FileInfo

listing = lazy_module("fittrace.entities.files")  # listings: built by reads, not by a fit


def clean_artifact_path(path: str | None) -> str:
    """Normalise a relative artifact path ('' for the root) or raise if it could escape the root."""
    if path is None or path in ("", "."):
        return ""
    if not isinstance(path, str) or "\x00" in path:
        raise InvalidParameterError(
            f"Artifact path must be a string without NUL bytes, got {path!r}"
        )
    unified = path.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        raise InvalidParameterError(
            f"Artifact path {path!r} is absolute; use a path relative to the run's artifacts"
        )
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidParameterError(
            f"Artifact path {path!r} contains '..'; paths may not leave the run's artifacts"
        )
    return "/".join(parts)


class ArtifactRepository(Protocol):
    root: str

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None: ...
    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None: ...
    def write_bytes(self, artifact_file: str, data: bytes) -> None: ...
    def staging_dir(self) -> str | None: ...
    def move_dir(self, local_dir: str, artifact_path: str) -> None: ...
    def list_artifacts(self, path: str | None = None) -> list[FileInfo]: ...
    def download_artifacts(self, path: str | None, dst_path: str) -> str: ...


class LocalArtifactRepository:
    """Artifacts in a directory of the local filesystem."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root.removeprefix("file://"))

    def _local(self, rel: str | None) -> str:
        rel = clean_artifact_path(rel)
        full = os.path.join(self.root, *rel.split("/")) if rel else self.root
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(full)
        if real != real_root and not real.startswith(real_root + os.sep):
            raise InvalidParameterError(
                f"Artifact path {rel!r} resolves outside the run's artifact root"
            )
        return full

    def _copy_file(self, local_file: str, rel_dest: str) -> None:
        dest = self._local(
            rel_dest
        )  # checks the final file too: a planted symlink cannot redirect the copy
        if os.path.islink(dest):
            os.unlink(dest)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(local_file, dest)

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        if not os.path.isfile(local_file):
            raise ResourceNotFoundError(f"No file to log at {local_file!r}")
        base = clean_artifact_path(artifact_path)
        self._copy_file(local_file, posixpath.join(base, os.path.basename(local_file)))

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        if not os.path.isdir(local_dir):
            raise ResourceNotFoundError(f"No directory to log at {local_dir!r}")
        base = clean_artifact_path(artifact_path)
        os.makedirs(self._local(base), exist_ok=True)
        for dirpath, _, files in os.walk(local_dir):
            rel = os.path.relpath(dirpath, local_dir).replace(os.sep, "/")
            for name in files:
                self._copy_file(
                    os.path.join(dirpath, name),
                    posixpath.join(base, "" if rel == "." else rel, name),
                )

    def staging_dir(self) -> str:
        """A folder beside (not inside) the artifacts, on the same filesystem, for files about to be moved in."""
        parent = os.path.dirname(self.root)
        os.makedirs(parent, exist_ok=True)
        return parent

    def move_dir(self, local_dir: str, artifact_path: str) -> None:
        """Log a folder that may be consumed: renamed into place when the target is new, else copied."""
        dest = self._local(artifact_path)
        if not clean_artifact_path(artifact_path) or os.path.lexists(dest):
            self.log_artifacts(local_dir, artifact_path)
            return
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        try:
            os.rename(local_dir, dest)
        except OSError:  # another filesystem
            self.log_artifacts(local_dir, artifact_path)

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        dest = self._local(artifact_file)
        if not clean_artifact_path(artifact_file):
            raise InvalidParameterError("artifact_file must name a file, got an empty path")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(data)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        rel = clean_artifact_path(path)
        full = self._local(rel)
        if os.path.isfile(full):
            return []
        if not os.path.isdir(full):
            return []
        infos = []
        for name in sorted(os.listdir(full)):
            child = os.path.join(full, name)
            child_rel = posixpath.join(rel, name) if rel else name
            is_dir = os.path.isdir(child)
            infos.append(
                listing.FileInfo(child_rel, is_dir, None if is_dir else os.path.getsize(child))
            )
        return infos

    def download_artifacts(self, path: str | None, dst_path: str) -> str:
        rel = clean_artifact_path(path)
        src = self._local(rel)
        if not os.path.exists(src):
            raise ResourceNotFoundError(f"No artifact {rel!r} under {self.root!r}")
        target = os.path.join(dst_path, *rel.split("/")) if rel else dst_path
        if not os.path.isdir(src):
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            shutil.copyfile(src, target)
            return os.path.abspath(target)
        for dirpath, dirnames, files in os.walk(
            src
        ):  # os.walk does not descend into symlinked folders
            sub = os.path.relpath(dirpath, src)
            os.makedirs(os.path.join(target, sub), exist_ok=True)
            for name in files:
                child_rel = posixpath.join(rel, sub.replace(os.sep, "/"), name)
                self._local(child_rel)  # refuses links that resolve outside the root
                shutil.copyfile(os.path.join(dirpath, name), os.path.join(target, sub, name))
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        return os.path.abspath(target)


class FsspecArtifactRepository:
    """Artifacts on any fsspec-supported URL (s3://, gs://, memory://, ...).

    Storage failures (a missing bucket, an unreachable endpoint, refused
    credentials) raise ``StoreError`` naming the operation and this root, with
    the storage library's own error as the cause.
    """

    def __init__(self, root: str) -> None:
        import fsspec  # optional dependency, only needed for remote stores

        self.root = root.rstrip("/")
        self.fs, self._base = fsspec.core.url_to_fs(self.root)

    def _remote(self, rel: str | None) -> str:
        rel = clean_artifact_path(rel)
        return f"{self._base}/{rel}" if rel else self._base

    @contextlib.contextmanager
    def _storage(self, action: str, path: str | None) -> Iterator[None]:
        try:
            yield
        except FittraceError:
            raise
        except Exception as e:
            where = f"{self.root}/{clean_artifact_path(path)}".rstrip("/")
            raise StoreError(f"Could not {action} {where}: {type(e).__name__}: {e}") from e

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        if not os.path.isfile(local_file):
            raise ResourceNotFoundError(f"No file to log at {local_file!r}")
        with self._storage("upload to", artifact_path):
            self.fs.put_file(
                local_file, f"{self._remote(artifact_path)}/{os.path.basename(local_file)}"
            )

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        if not os.path.isdir(local_dir):
            raise ResourceNotFoundError(f"No directory to log at {local_dir!r}")
        base = self._remote(artifact_path)
        with self._storage("upload to", artifact_path):
            for dirpath, _, files in os.walk(local_dir):
                rel = os.path.relpath(dirpath, local_dir).replace(os.sep, "/")
                for name in files:
                    target = f"{base}/{name}" if rel == "." else f"{base}/{rel}/{name}"
                    self.fs.put_file(os.path.join(dirpath, name), target)

    def staging_dir(self) -> None:
        return None  # the system temp folder

    def move_dir(self, local_dir: str, artifact_path: str) -> None:
        self.log_artifacts(local_dir, artifact_path)

    def write_bytes(self, artifact_file: str, data: bytes) -> None:
        if not clean_artifact_path(artifact_file):
            raise InvalidParameterError("artifact_file must name a file, got an empty path")
        # No makedirs: on object stores it creates a missing bucket; fail as log_artifact does instead.
        with self._storage("write", artifact_file):
            self.fs.pipe_file(self._remote(artifact_file), data)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        rel = clean_artifact_path(path)
        base = self._remote(rel)
        with self._storage("list", rel):
            if not self.fs.exists(base) or self.fs.isfile(base):
                return []
            entries = sorted(self.fs.ls(base, detail=True), key=lambda e: e["name"])
        infos = []
        for entry in entries:
            name = posixpath.basename(entry["name"].rstrip("/"))
            is_dir = entry["type"] == "directory"
            infos.append(
                listing.FileInfo(
                    posixpath.join(rel, name) if rel else name,
                    is_dir,
                    None if is_dir else entry.get("size"),
                )
            )
        return infos

    def download_artifacts(self, path: str | None, dst_path: str) -> str:
        rel = clean_artifact_path(path)
        src = self._remote(rel)
        with self._storage("download", rel):
            if not self.fs.exists(src):
                raise ResourceNotFoundError(f"No artifact {rel!r} under {self.root!r}")
            target = os.path.join(dst_path, *rel.split("/")) if rel else dst_path
            if self.fs.isdir(src):
                os.makedirs(target, exist_ok=True)
                self.fs.get(src.rstrip("/") + "/", target, recursive=True)
            else:
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                self.fs.get_file(src, target)
        return os.path.abspath(target)


def _is_local(location: str) -> bool:
    return "://" not in location or location.startswith("file://")


def within_root(root: str, location: object) -> bool:
    """Whether ``location`` (a folder or URL) is artifact root ``root`` or lies beneath it.

    Local paths are compared with symlinks resolved; URLs must share the root's spelling up to
    a ``/`` and may hold no ``..`` component. Anything else (another scheme, a non-string) is not.
    """
    if not root or not isinstance(location, str) or not location or "\x00" in location:
        return False
    if _is_local(root) != _is_local(location):
        return False
    if _is_local(root):
        base = os.path.realpath(root.removeprefix("file://"))
        real = os.path.realpath(location.removeprefix("file://"))
        return real == base or real.startswith(base.rstrip(os.sep) + os.sep)
    if ".." in location.split("/"):
        return False
    base = root.rstrip("/")
    return location.rstrip("/") == base or location.startswith(base + "/")


def repository_for(root: str) -> ArtifactRepository:
    """The repository for an artifact root: a plain path or file:// URI is local, any other URL uses fsspec."""
    if _is_local(root):
        return LocalArtifactRepository(root)
    return FsspecArtifactRepository(root)


def run_repository(store: Any, run_id: str) -> ArtifactRepository:
    """The repository of a run's artifacts, as the client of ``store`` reaches them: the one way
    to get it. Through the tracking server for an HTTP store (its ``artifact_repository``),
    whatever the run's artifact URI says; else the artifact URI's own repository."""
    through_store = getattr(store, "artifact_repository", None)
    if through_store is not None:
        return through_store(run_id)
    return repository_for(store.get_run_info(run_id).artifact_uri)
