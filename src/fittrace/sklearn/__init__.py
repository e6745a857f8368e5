"""scikit-learn: ``autolog()`` and the ``sklearn`` model flavor (save_model, log_model, load_model).

The flavor loads on first use, so enabling autologging does not import the model layer.
"""

from __future__ import annotations

from typing import Any

from fittrace._lazy import lazy_attributes

_FLAVOR_NAMES = (
    "FLAVOR_NAME SERIALIZATION_FORMAT_CLOUDPICKLE SERIALIZATION_FORMAT_PICKLE SERIALIZATION_FORMAT_SKOPS "
    "SUPPORTED_SERIALIZATION_FORMATS load_model log_model save_model _load_pyfunc"
).split()
__getattr__ = lazy_attributes(__name__, dict.fromkeys(_FLAVOR_NAMES, "._flavor"))


def autolog(**kwargs: Any) -> Any:
    """Record every scikit-learn fit: params, training metrics, the model (see fittrace.sklearn._autolog)."""
    from fittrace.sklearn._autolog import autolog as _autolog

    return _autolog(**kwargs)


__all__ = ["autolog", *(n for n in _FLAVOR_NAMES if not n.startswith("_"))]
