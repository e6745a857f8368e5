"""Load-side helpers for flavors: find the model, read its flavor section, warn before unpickling."""

from __future__ import annotations

import contextlib
import contextvars
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fittrace.exceptions import InvalidParameterError
from fittrace.models.model import Model, ModelInfo
from fittrace.models.uri import resolve_model_uri


@dataclass(frozen=True)
class LoadedFlavor:
    """A model directory on this machine, its MLmodel, and one flavor's section of it."""

    path: Path
    conf: dict[str, Any]
    mlmodel: Model
    source: str
    is_local: bool

    def warn_if_untrusted(self, fmt: str = "pickle") -> None:
        """Warn before deserializing ``fmt`` data that did not come from this machine."""
        _warn(fmt, self.source, self.is_local)


def load_flavor(
    model_uri: str | os.PathLike, flavor: str, dst_path: str | os.PathLike | None = None
) -> LoadedFlavor:
    """Resolve ``model_uri`` to a local directory and return its ``flavor`` section."""
    resolved = resolve_model_uri(model_uri, dst_path)
    mlmodel = Model.load(resolved.path)
    conf = mlmodel.flavors.get(flavor)
    if conf is None:
        raise InvalidParameterError(
            f"The model at {resolved.uri!r} has no {flavor!r} flavor (it has: {', '.join(sorted(mlmodel.flavors))}); "
            "load it with fittrace.pyfunc.load_model or the flavor it was saved with"
        )
    return LoadedFlavor(resolved.path, conf, mlmodel, resolved.source, resolved.is_local)


def model_dir_of(path: str | os.PathLike) -> Path:
    """The model directory for a path MLflow's pyfunc may hand a loader: the dir or a file inside it."""
    target = Path(path)
    return target.parent if target.is_file() else target


# Where the model pyfunc.load_model is loading came from: (source, is_local).
_ORIGIN: contextvars.ContextVar[tuple[str, bool] | None] = contextvars.ContextVar(
    "fittrace_model_origin", default=None
)


@contextlib.contextmanager
def loading_from(source: str, is_local: bool) -> Iterator[None]:
    """Mark the model being loaded in this block, for ``warn_if_untrusted``."""
    token = _ORIGIN.set((source, is_local))
    try:
        yield
    finally:
        _ORIGIN.reset(token)


def warn_if_untrusted(fmt: str = "pickle") -> None:
    """In a flavor's ``_load_pyfunc``: warn if the model being loaded did not come from this machine."""
    origin = _ORIGIN.get()
    if origin is not None:
        _warn(fmt, *origin)


def _warn(fmt: str, source: str, is_local: bool) -> None:
    if not is_local:
        warnings.warn(
            f"Loading a {fmt} model from {source!r}, which is not on this machine: deserializing {fmt} "
            "data can run arbitrary code. Load models only from sources you trust.",
            UserWarning,
            stacklevel=3,
        )


def model_file(model_dir: str | os.PathLike, relative: str) -> Path:
    """``model_dir / relative`` for a file named in an MLmodel, refusing names that leave the directory."""
    root = Path(model_dir).resolve()
    target = (root / relative).resolve()
    if (
        not isinstance(relative, str)
        or not relative
        or (target != root and root not in target.parents)
    ):
        raise InvalidParameterError(
            f"The MLmodel in {str(root)!r} names the file {relative!r}, which is not inside the model directory"
        )
    return target


def get_model_info(model_uri: str | os.PathLike) -> ModelInfo:
    """The ModelInfo (flavors, signature, run, ...) of the model at ``model_uri``, without loading it."""
    resolved = resolve_model_uri(model_uri)
    return ModelInfo.from_model(Model.load(resolved.path), resolved.uri)
