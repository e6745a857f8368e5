"""CatBoost: ``autolog()`` and the ``catboost`` model flavor (save_model, log_model, load_model).

A plugin written only against fittrace's public API, registered by its entry point
(``catboost = "fittrace.catboost:INTEGRATION"``). What gets recorded is in
``autologger`` (imported when catboost is), the flavor in ``flavor`` (loaded on first use).
"""

from __future__ import annotations

from fittrace.autologging import Integration, lazy_attributes

TYPE_CHECKING = False  # typing costs more than autolog()'s start-up budget
if TYPE_CHECKING:
    from typing import Any

_FLAVOR_NAMES = ("FLAVOR_NAME", "load_model", "log_model", "save_model", "_load_pyfunc")

__getattr__ = lazy_attributes(__name__, dict.fromkeys(_FLAVOR_NAMES, ".flavor"))


INTEGRATION = Integration(
    name="catboost",
    module="catboost",
    distribution="catboost",
    supported_versions=">=1.2,<2",
    install="fittrace.catboost.autologger:install",
)


def autolog(**kwargs: Any) -> None:
    """Record every ``fit`` of CatBoost, CatBoostClassifier, CatBoostRegressor and CatBoostRanker.

    Options: the common ones (``log_models``, ``log_input_examples``,
    ``log_model_signatures``, ``log_datasets``, ``disable``, ``exclusive``,
    ``disable_for_unsupported_versions``, ``silent``, ``registered_model_name``,
    ``extra_tags``). What is recorded: ``fittrace.catboost.autologger``.
    """
    INTEGRATION.autolog(**kwargs)


__all__ = ["INTEGRATION", "autolog", "FLAVOR_NAME", "load_model", "log_model", "save_model"]
