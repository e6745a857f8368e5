"""XGBoost: ``autolog()`` and the ``xgboost`` model flavor (save_model, log_model, load_model).

This module only declares the integration (loaded by ``fittrace.autolog()``):
what gets recorded is in ``_autolog``, imported when xgboost is; the flavor
loads on first use.
"""

from __future__ import annotations

from fittrace._lazy import lazy_attributes
from fittrace.autologging.integration import Integration
from fittrace.autologging.settings import AutologSettings
from fittrace.exceptions import InvalidParameterError

IMPORTANCE_TYPES = ("weight", "gain", "cover", "total_gain", "total_cover")
MODEL_FORMATS = ("ubj", "json", "xgb")
DEFAULT_IMPORTANCE_TYPES = ("weight", "gain")

_FLAVOR_NAMES = "FLAVOR_NAME load_model log_model save_model _load_pyfunc".split()
__getattr__ = lazy_attributes(__name__, dict.fromkeys(_FLAVOR_NAMES, "._flavor"))


class XGBoostSettings(AutologSettings):
    """The common autolog options plus XGBoost's own.

    - ``importance_types``: ``Booster.get_score`` types logged as JSON (weight, gain, cover,
      total_gain, total_cover); one name or several; None for the default (weight and gain).
    - ``log_plots``: also log a PNG bar chart per importance type (MLflow's
      ``feature_importance_<type>.png``) where matplotlib is installed, drawn in a helper
      process so training does not wait for it; False skips them.
    - ``model_format``: "ubj" (UBJSON, default), "json", or "xgb" (MLflow's legacy file name:
      XGBoost picks what it writes there, its deprecated binary format before 2.1, UBJSON since).
    """

    importance_types: tuple[str, ...] | str | None = DEFAULT_IMPORTANCE_TYPES
    log_plots: bool = True
    model_format: str = "ubj"

    def validate(self) -> None:
        if self.importance_types is None:
            types: tuple[str, ...] = DEFAULT_IMPORTANCE_TYPES
        elif isinstance(self.importance_types, str):
            types = (self.importance_types,)
        else:
            types = tuple(self.importance_types)
        unknown = [t for t in types if t not in IMPORTANCE_TYPES]
        if unknown:
            raise InvalidParameterError(
                f"importance_types {unknown!r} not understood; allowed: {', '.join(IMPORTANCE_TYPES)}"
            )
        self._normalize("importance_types", types)
        if self.model_format not in MODEL_FORMATS:
            raise InvalidParameterError(
                f"model_format {self.model_format!r} not understood; allowed: {', '.join(MODEL_FORMATS)}"
            )


INTEGRATION = Integration(
    name="xgboost",
    module=("xgboost", "xgboost.dask"),
    distribution="xgboost",
    supported_versions=">=2.0,<4",
    settings_class=XGBoostSettings,
    install="fittrace.xgboost._autolog:install",
)


def autolog(**kwargs: object) -> None:
    """Record every ``xgboost.train``, ``xgboost.cv`` and scikit-learn API ``fit``.

    Options: ``log_models``, ``log_input_examples``, ``log_model_signatures``,
    ``log_datasets``, ``disable``, ``exclusive``, ``disable_for_unsupported_versions``,
    ``silent``, ``registered_model_name``, ``extra_tags``, ``importance_types``
    (default ``("weight", "gain")``), ``log_plots`` and ``model_format`` ("ubj",
    "json" or "xgb"); see ``XGBoostSettings``. What is recorded: ``fittrace.xgboost._autolog``.
    """
    INTEGRATION.autolog(**kwargs)


__all__ = [
    "MODEL_FORMATS",
    "XGBoostSettings",
    "autolog",
    *(n for n in _FLAVOR_NAMES if not n.startswith("_")),
]
