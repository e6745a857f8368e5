"""Which arguments of xgboost's entry points become run params, and how they are spelled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# train/cv arguments recorded besides the booster params (data, callbacks and result holders are not).
TRAIN_ARGS = ("num_boost_round", "early_stopping_rounds", "maximize", "verbose_eval")
CV_ARGS = TRAIN_ARGS + ("nfold", "stratified", "metrics", "show_stdv", "seed", "shuffle")
FUNCTION_ARGS = ("obj", "feval", "custom_metric")


def callable_name(value: Any) -> str:
    """A readable name for a function or callable object."""
    return (
        getattr(value, "__qualname__", None)
        or getattr(value, "__name__", None)
        or type(value).__name__
    )


def param_value(value: Any) -> Any:
    """A param value fit for logging: callables by name, callback lists by class names."""
    if callable(value) and not isinstance(value, type):
        return callable_name(value)
    if isinstance(value, (list, tuple)) and any(callable(v) for v in value):
        return [callable_name(v) if callable(v) else v for v in value]
    return value


def booster_params(params: Any) -> dict[str, Any]:
    """The booster params as a dict, from a dict or xgboost's list-of-pairs form.

    A key given several times in the list form (``eval_metric``) becomes a list.
    """
    if params is None:
        return {}
    if isinstance(params, Mapping):
        return {str(k): param_value(v) for k, v in params.items()}
    merged: dict[str, Any] = {}
    for key, value in params:
        key = str(key)
        if key in merged:
            previous = merged[key]
            merged[key] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            merged[key] = param_value(value)
    return merged


def call_params(arguments: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The named train/cv arguments, plus the names of custom objective and metric functions."""
    logged = {name: param_value(arguments[name]) for name in names if name in arguments}
    for name in FUNCTION_ARGS:
        if arguments.get(name) is not None:
            logged[name] = callable_name(arguments[name])
    return logged


def estimator_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """An xgboost sklearn estimator's ``get_params()`` made loggable (callbacks by class name)."""
    logged: dict[str, Any] = {}
    for key, value in params.items():
        if key == "callbacks" and value is not None:
            value = [type(cb).__name__ for cb in value]
        logged[key] = param_value(value)
    return logged
