"""``fittrace.keras``: the same autologging and model flavor as ``fittrace.tensorflow``."""

from __future__ import annotations

from fittrace._lazy import lazy_attributes
from fittrace.tensorflow import autolog

_FLAVOR_NAMES = "FLAVOR_NAME load_checkpoint load_model log_model save_model _load_pyfunc".split()
__getattr__ = lazy_attributes(__name__, dict.fromkeys(_FLAVOR_NAMES, "fittrace.tensorflow._flavor"))

__all__ = ["autolog", *(n for n in _FLAVOR_NAMES if not n.startswith("_"))]
