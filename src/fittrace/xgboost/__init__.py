"""XGBoost: ``autolog()`` and the ``xgboost`` model flavor (save_model, log_model, load_model).

The flavor loads on first use, so enabling autologging does not import the model layer.
"""

from __future__ import annotations

from typing import Any

from fittrace._lazy import lazy_attributes

_FLAVOR_NAMES = "FLAVOR_NAME MODEL_FORMATS load_model log_model save_model _load_pyfunc".split()
__getattr__ = lazy_attributes(__name__, dict.fromkeys(_FLAVOR_NAMES, "._flavor"))


def autolog(**kwargs: Any) -> Any:
    """Record every xgboost.train / XGBModel.fit: params, eval metrics, the model (see fittrace.xgboost._autolog)."""
    from fittrace.xgboost._autolog import autolog as _autolog

    return _autolog(**kwargs)


__all__ = ["autolog", *(n for n in _FLAVOR_NAMES if not n.startswith("_"))]
