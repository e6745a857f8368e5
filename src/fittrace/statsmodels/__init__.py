"""statsmodels: ``autolog()`` and the ``statsmodels`` model flavor (save_model, log_model, load_model).

A plugin written only against fittrace's public API, registered by its entry point
(``statsmodels = "fittrace.statsmodels:INTEGRATION"``). What gets recorded is in
``autologger`` (imported when statsmodels is), the flavor in ``flavor`` (loaded on first use).
"""

from __future__ import annotations

from fittrace.autologging import Integration, lazy_attributes

TYPE_CHECKING = False  # typing costs more than autolog()'s start-up budget
if TYPE_CHECKING:
    from typing import Any

_FLAVOR_NAMES = ("FLAVOR_NAME", "load_model", "log_model", "save_model", "_load_pyfunc")

__getattr__ = lazy_attributes(__name__, dict.fromkeys(_FLAVOR_NAMES, ".flavor"))


INTEGRATION = Integration(
    name="statsmodels",
    module="statsmodels",
    distribution="statsmodels",
    supported_versions=">=0.14,<0.16",
    install="fittrace.statsmodels.autologger:install",
)


def autolog(**kwargs: Any) -> None:
    """Record every statsmodels ``Model.fit`` (OLS, GLM, Logit, ARIMA, ...).

    Options: the common ones (``log_models``, ``log_datasets``, ``disable``, ``exclusive``,
    ``disable_for_unsupported_versions``, ``silent``, ``registered_model_name``,
    ``extra_tags``...). What is recorded: ``fittrace.statsmodels.autologger``.
    """
    INTEGRATION.autolog(**kwargs)


__all__ = ["INTEGRATION", "autolog", "FLAVOR_NAME", "load_model", "log_model", "save_model"]
