"""scikit-learn: ``autolog()`` and the ``sklearn`` model flavor (save_model, log_model, load_model)."""

from __future__ import annotations

from typing import Any

from fittrace.sklearn._flavor import (
    FLAVOR_NAME,
    SERIALIZATION_FORMAT_CLOUDPICKLE,
    SERIALIZATION_FORMAT_PICKLE,
    SERIALIZATION_FORMAT_SKOPS,
    SUPPORTED_SERIALIZATION_FORMATS,
    load_model,
    log_model,
    save_model,
)
from fittrace.sklearn._flavor import (
    _load_pyfunc as _load_pyfunc,  # pyfunc's loader_module entry point
)


def autolog(**kwargs: Any) -> Any:
    """Record every scikit-learn fit: params, training metrics, the model (see fittrace.sklearn._autolog)."""
    from fittrace.sklearn._autolog import autolog as _autolog

    return _autolog(**kwargs)


__all__ = [
    "FLAVOR_NAME",
    "SERIALIZATION_FORMAT_CLOUDPICKLE",
    "SERIALIZATION_FORMAT_PICKLE",
    "SERIALIZATION_FORMAT_SKOPS",
    "SUPPORTED_SERIALIZATION_FORMATS",
    "autolog",
    "load_model",
    "log_model",
    "save_model",
]
