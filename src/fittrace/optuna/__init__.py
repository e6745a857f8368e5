"""Optuna: ``autolog()`` turns ``Study.optimize`` into a parent run and every trial into a child run.

A plugin written only against fittrace's public API, registered by its entry point
(``optuna = "fittrace.optuna:INTEGRATION"``). What gets recorded: ``fittrace.optuna.autologger``.
"""

from __future__ import annotations

from fittrace.autologging import Integration

TYPE_CHECKING = False  # typing costs more than autolog()'s start-up budget
if TYPE_CHECKING:
    from typing import Any

INTEGRATION = Integration(
    name="optuna",
    module="optuna",
    distribution="optuna",
    supported_versions=">=3.4,<6",
    install="fittrace.optuna.autologger:install",
)


def autolog(**kwargs: Any) -> None:
    """Record every ``Study.optimize`` (a run) and its trials (child runs).

    Options: the common ones (``disable``, ``exclusive``, ``disable_for_unsupported_versions``,
    ``silent``, ``extra_tags``; the model and dataset options concern the frameworks fitted
    inside trials). What is recorded: ``fittrace.optuna.autologger``.
    """
    INTEGRATION.autolog(**kwargs)


__all__ = ["INTEGRATION", "autolog"]
