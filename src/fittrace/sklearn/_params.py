"""What identifies an estimator in a run: its params (flattened as scikit-learn names them) and its tags."""

from __future__ import annotations

import sys
from typing import Any

from fittrace.autologging.params import stringify_params


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
