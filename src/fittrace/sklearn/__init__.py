"""scikit-learn: ``autolog()`` and the ``sklearn`` model flavor (save_model, log_model, load_model).

This module only declares the integration (loaded by ``fittrace.autolog()``):
what gets recorded is in ``_autolog``, imported when scikit-learn is; the
flavor loads on first use.
"""

from __future__ import annotations

from fittrace._lazy import lazy_attributes
from fittrace.autologging.integration import Integration
from fittrace.autologging.settings import AutologSettings
from fittrace.exceptions import InvalidParameterError

_FLAVOR_NAMES = (
    "FLAVOR_NAME SERIALIZATION_FORMAT_CLOUDPICKLE SERIALIZATION_FORMAT_PICKLE SERIALIZATION_FORMAT_SKOPS "
    "SUPPORTED_SERIALIZATION_FORMATS load_model log_model save_model _load_pyfunc"
).split()
# training_metrics: public for plugin autologgers of estimators with the scikit-learn API.
__getattr__ = lazy_attributes(
    __name__, {**dict.fromkeys(_FLAVOR_NAMES, "._flavor"), "training_metrics": "._metrics"}
)


class SklearnSettings(AutologSettings):
    """``fittrace.sklearn.autolog`` options: the common ones plus

    - ``max_tuning_runs``: child runs for the best search candidates (None = all);
    - ``log_post_training_metrics``: log sklearn.metrics / ``model.score`` results
      computed on autologged models' predictions into their runs;
    - ``serialization_format``: "cloudpickle" (default), "pickle" or "skops";
    - ``pos_label``: report binary precision/recall/F1 for this label instead of
      the support-weighted average;
    - ``log_plots``: also draw the evaluation artifacts as PNG (MLflow's
      ``training_confusion_matrix.png``, ``training_roc_curve.png``,
      ``training_precision_recall_curve.png``) where matplotlib is installed, in a helper
      process so fits do not wait for them; False skips them.
    """

    max_tuning_runs: int | None = 5
    log_post_training_metrics: bool = True
    serialization_format: str = "cloudpickle"
    pos_label: int | str | None = None
    log_plots: bool = True

    def validate(self) -> None:
        if self.max_tuning_runs is not None and self.max_tuning_runs < 0:
            raise InvalidParameterError(
                f"`max_tuning_runs` must be non-negative, instead got {self.max_tuning_runs}."
            )
        formats = ("cloudpickle", "pickle", "skops")
        if self.serialization_format not in formats:
            raise InvalidParameterError(
                f"serialization_format {self.serialization_format!r} is not one of {', '.join(formats)}"
            )


INTEGRATION = Integration(
    name="sklearn",
    module=("sklearn", "sklearn.metrics"),
    distribution="scikit-learn",
    supported_versions=">=1.3",
    settings_class=SklearnSettings,
    install="fittrace.sklearn._autolog:install",
)


def autolog(**kwargs: object) -> None:
    """Record every scikit-learn training (``fit``, ``fit_transform``, ``fit_predict``).

    Options: ``log_models``, ``log_input_examples``, ``log_model_signatures``,
    ``log_datasets``, ``disable``, ``exclusive``, ``disable_for_unsupported_versions``,
    ``silent``, ``registered_model_name``, ``extra_tags`` (as in MLflow) and
    ``max_tuning_runs``, ``log_post_training_metrics``, ``serialization_format``,
    ``pos_label``, ``log_plots`` (see ``SklearnSettings``). Calling it again
    replaces the options; ``disable=True`` turns autologging off at once.
    What is recorded: ``fittrace.sklearn._autolog``.
    """
    INTEGRATION.autolog(**kwargs)


__all__ = [
    "SklearnSettings",
    "autolog",
    "training_metrics",
    *(n for n in _FLAVOR_NAMES if not n.startswith("_")),
]
