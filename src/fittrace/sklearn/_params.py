"""What identifies an estimator in a run: its params (stringified, truncated) and its tags."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from fittrace.tracking.validation import MAX_KEY_LENGTH, MAX_PARAM_VALUE_LENGTH

_TRUNCATION_MARK = "..."


def param_text(value: Any) -> str:
    """``str(value)`` cut to the store's param limit (the cut is marked with ``...``)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        text = text[: MAX_PARAM_VALUE_LENGTH - len(_TRUNCATION_MARK)] + _TRUNCATION_MARK
    return text


def stringify_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Params as the store takes them; keys longer than the store allows are left out."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = prefix + str(key)
        if len(name) <= MAX_KEY_LENGTH:
            out[name] = param_text(value)
    return out


def is_search_estimator(estimator: Any) -> bool:
    """Whether ``estimator`` is a hyper-parameter search (GridSearchCV and friends)."""
    search = sys.modules.get("sklearn.model_selection._search")
    return search is not None and isinstance(estimator, search.BaseSearchCV)


def estimator_params(estimator: Any) -> dict[str, str]:
    """``get_params(deep=True)`` flattened as scikit-learn names nested params (``step__C``).

    A search's seed estimator only seeds the search, so its untuned params stay out
    (``deep=False``), as in MLflow.
    """
    return stringify_params(estimator.get_params(deep=not is_search_estimator(estimator)))


def estimator_tags(estimator: Any) -> dict[str, str]:
    """MLflow's ``estimator_name`` and ``estimator_class`` tags."""
    cls = type(estimator)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__name__}"}
