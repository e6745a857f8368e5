"""XGBoost: ``autolog()`` and the ``xgboost`` model flavor (save_model, log_model, load_model)."""

from __future__ import annotations

from typing import Any

from fittrace.xgboost._flavor import (
    FLAVOR_NAME,
    MODEL_FORMATS,
    load_model,
    log_model,
    save_model,
)
from fittrace.xgboost._flavor import (
    _load_pyfunc as _load_pyfunc,  # pyfunc's loader_module entry point
)


def autolog(**kwargs: Any) -> Any:
    """Record every xgboost.train / XGBModel.fit: params, eval metrics, the model (see fittrace.xgboost._autolog)."""
    from fittrace.xgboost._autolog import autolog as _autolog

    return _autolog(**kwargs)


__all__ = ["FLAVOR_NAME", "MODEL_FORMATS", "autolog", "load_model", "log_model", "save_model"]
