"""fittrace: one line before training records every fit — params, metrics, signature and model.

``import fittrace`` is cheap: it imports no framework, pandas or SQL layer. Everything
below loads on first use (PEP 562). ``import fittrace as mlflow`` runs MLflow tracking code.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_FLUENT = (
    "set_tracking_uri get_tracking_uri set_experiment create_experiment get_experiment get_experiment_by_name "
    "delete_experiment set_experiment_tag set_experiment_tags search_experiments start_run end_run active_run last_active_run get_run delete_run "
    "log_param log_params log_metric log_metrics set_tag set_tags delete_tag log_artifact log_artifacts "
    "log_text log_dict log_figure log_image log_table load_table log_input get_artifact_uri flush search_runs "
    "ActiveRun"
).split()
_ATTRS = {name: ("fittrace.tracking.fluent", name) for name in _FLUENT}
_ATTRS.update(
    {
        "Client": ("fittrace.tracking.client", "Client"),
        "MlflowClient": ("fittrace.tracking.client", "Client"),
        "flush_async_logging": ("fittrace.tracking.fluent", "flush"),
        "autolog": ("fittrace.autologging", "autolog"),
        "register_model": ("fittrace.models.registry", "register_model"),
        "last_logged_model": ("fittrace.models.logged", "last_logged_model"),
        "get_logged_model": ("fittrace.models.logged", "get_logged_model"),
        "search_logged_models": ("fittrace.models.logged", "search_logged_models"),
        "FittraceError": ("fittrace.exceptions", "FittraceError"),
        "MlflowException": ("fittrace.exceptions", "FittraceError"),
        "ParamConflictError": ("fittrace.exceptions", "ParamConflictError"),
        "RunStatus": ("fittrace.entities", "RunStatus"),
        "ViewType": ("fittrace.entities", "ViewType"),
        "enable_system_metrics_logging": (
            "fittrace.tracking.system_metrics",
            "enable_system_metrics_logging",
        ),
        "disable_system_metrics_logging": (
            "fittrace.tracking.system_metrics",
            "disable_system_metrics_logging",
        ),
    }
)
_SUBMODULES = {
    "artifacts", "autologging", "cli", "compat", "data", "entities", "exceptions", "keras", "models", "pyfunc", "pytorch",
    "sklearn", "store", "tensorflow", "tracking", "types", "xgboost",
}  # fmt: skip


def _is_plugin_package(name: str) -> bool:
    """An autologger installed as a ``fittrace.<name>`` package (``mlflow.lightgbm`` style access)."""
    from importlib.util import find_spec

    return not name.startswith("_") and find_spec(f"fittrace.{name}") is not None


def __getattr__(name: str) -> object:
    if name in _ATTRS:
        module, attr = _ATTRS[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _SUBMODULES or _is_plugin_package(name):
        value = importlib.import_module(f"fittrace.{name}")
    else:
        raise AttributeError(f"module 'fittrace' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_ATTRS, *_SUBMODULES})
