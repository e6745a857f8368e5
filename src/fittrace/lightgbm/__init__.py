"""LightGBM: ``autolog()`` and the ``lightgbm`` model flavor (save_model, log_model, load_model).

A plugin written only against fittrace's public API, registered by its entry point
(``[project.entry-points."fittrace.autologgers"] lightgbm = "fittrace.lightgbm:INTEGRATION"``).
This module stays cheap to import: what gets recorded is in ``autologger`` (imported
when lightgbm is), the flavor in ``flavor`` (loaded on first use).
"""

from __future__ import annotations

from fittrace.autologging import AutologSettings, Integration, lazy_attributes

TYPE_CHECKING = False  # typing costs more than autolog()'s start-up budget
if TYPE_CHECKING:
    from typing import Any

_FLAVOR_NAMES = ("FLAVOR_NAME", "load_model", "log_model", "save_model", "_load_pyfunc")

__getattr__ = lazy_attributes(__name__, dict.fromkeys(_FLAVOR_NAMES, ".flavor"))


class LightGBMSettings(AutologSettings):
    """The common autolog options plus ``log_plots``: a PNG bar chart per importance type (needs matplotlib)."""

    log_plots: bool = False


INTEGRATION = Integration(
    name="lightgbm",
    module="lightgbm",
    distribution="lightgbm",
    supported_versions=">=4.0,<5",
    settings_class=LightGBMSettings,
    install="fittrace.lightgbm.autologger:install",
)


def autolog(**kwargs: Any) -> None:
    """Record every ``lightgbm.train``, ``lightgbm.cv`` and scikit-learn API ``fit``.

    Options: the common ones (``log_models``, ``log_input_examples``,
    ``log_model_signatures``, ``log_datasets``, ``disable``, ``exclusive``,
    ``disable_for_unsupported_versions``, ``silent``, ``registered_model_name``,
    ``extra_tags``) and ``log_plots``. What is recorded: ``fittrace.lightgbm.autologger``.
    """
    INTEGRATION.autolog(**kwargs)


__all__ = ["LightGBMSettings", "autolog", "FLAVOR_NAME", "load_model", "log_model", "save_model"]
