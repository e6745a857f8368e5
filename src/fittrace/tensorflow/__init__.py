"""TensorFlow / Keras 3: ``autolog()`` and the Keras model flavor (save_model, log_model, load_model).

``fittrace.keras`` is the same module under the name Keras users look for.
"""

from __future__ import annotations

from typing import Any

from fittrace._lazy import lazy_attributes

_FLAVOR_NAMES = "FLAVOR_NAME load_model log_model save_model _load_pyfunc".split()
__getattr__ = lazy_attributes(__name__, dict.fromkeys(_FLAVOR_NAMES, "._flavor"))


def autolog(**kwargs: Any) -> None:
    """Record every Keras ``Model.fit`` (and ``evaluate`` after it); see fittrace.tensorflow._autolog."""
    from fittrace.tensorflow._autolog import autolog as _autolog

    _autolog(**kwargs)


__all__ = ["FLAVOR_NAME", "autolog", "load_model", "log_model", "save_model"]
