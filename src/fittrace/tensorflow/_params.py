"""What a Keras ``fit`` call and a compiled model say about the training, as params.

Everything here reads plain attributes; Keras is imported only where a Keras
class is needed, and only after Keras itself was imported by the user.
"""

from __future__ import annotations

import functools
import inspect
import math
import struct
from collections.abc import Iterable, Mapping
from typing import Any

# fit() arguments logged as they were bound (positional or keyword), defaults included.
FIT_PARAMS = (
    "epochs",
    "validation_split",
    "shuffle",
    "initial_epoch",
    "steps_per_epoch",
    "validation_steps",
    "validation_batch_size",
    "validation_freq",
)
# fit() arguments whose presence is logged (True/False), never their content.
FIT_PRESENCE_PARAMS = ("class_weight", "sample_weight")
# EarlyStopping attributes logged under MLflow's param names.
EARLY_STOPPING_PARAMS = ("monitor", "patience", "min_delta", "baseline", "restore_best_weights")


def bind_fit_arguments(fit: Any, args: tuple, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """Map ``fit``'s positional and keyword arguments to its parameter names, defaults filled in.

    ``fit`` is the unbound ``Model.fit``; ``args`` exclude the model. Returns None when the
    arguments do not bind (Keras itself will then raise the user's TypeError).
    """
    try:
        bound = _signature(fit).bind(None, *args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    arguments.pop(next(iter(arguments)))  # the model ("self")
    extra = arguments.pop("kwargs", None)
    if isinstance(extra, dict):
        arguments.update(extra)
    return arguments


@functools.lru_cache(maxsize=8)
def _signature(fn: Any) -> inspect.Signature:
    return inspect.signature(fn)


def fit_params(arguments: Mapping[str, Any], batch_size: int | None) -> dict[str, Any]:
    """The params of one fit call from its bound arguments and the batch size that ran."""
    params: dict[str, Any] = {name: arguments.get(name) for name in FIT_PARAMS if name in arguments}
    for name in FIT_PRESENCE_PARAMS:
        if name in arguments:
            params[name] = arguments[name] is not None
    params["batch_size"] = batch_size
    return params


def optimizer_params(optimizer: Any) -> dict[str, Any]:
    """``optimizer_class`` plus ``optimizer_<key>`` for each config entry; a schedule is expanded.

    MLflow's names come too: ``optimizer_name`` (the config's ``name``, which Keras makes unique
    per object: ``adam_2``) and ``opt_<key>`` (``mlflow.tensorflow``'s prefix) for every entry.
    """
    if optimizer is None:
        return {}
    params: dict[str, Any] = {"optimizer_class": type(optimizer).__name__}
    try:
        config = optimizer.get_config()
    except Exception:  # an optimizer without a config still has a class
        return params
    for key, value in config.items():
        name = f"optimizer_{key}"
        if isinstance(value, Mapping) and "class_name" in value:  # a serialized schedule
            params[name] = value["class_name"]
            for sub_key, sub_value in (value.get("config") or {}).items():
                if sub_key != "name":
                    params[f"{name}_{sub_key}"] = _plain(sub_value)
        else:
            params[name] = _plain(value)
    params.update({f"opt_{k[10:]}": v for k, v in params.items() if k != "optimizer_class"})
    return params


def compile_params(model: Any) -> dict[str, Any]:
    """The loss and the compiled metrics, by name."""
    config = _compile_config(model)
    if not config:
        return {}
    params: dict[str, Any] = {}
    if config.get("loss") is not None:
        params["loss"] = _names(config["loss"])
    for key in ("metrics", "weighted_metrics"):
        if config.get(key):
            params[key] = _names(config[key])
    if config.get("loss_weights") is not None:
        params["loss_weights"] = _plain(config["loss_weights"])
    return params


def _compile_config(model: Any) -> Mapping[str, Any] | None:
    # Keras 3 keeps compile()'s arguments, unserialized, in _compile_config
    raw = getattr(model, "_compile_config", None)
    config = getattr(raw, "config", None)
    if isinstance(config, Mapping):
        return config
    getter = getattr(model, "get_compile_config", None)
    return getter() if callable(getter) else None


def _names(value: Any) -> str:
    """A loss or metric spec (string, object, function, or nested list/dict of them) as text."""
    if isinstance(value, Mapping):
        if "class_name" in value:  # serialized object
            return str((value.get("config") or {}).get("name") or value["class_name"])
        return ", ".join(f"{k}: {_names(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_names(v) for v in value)
    if isinstance(value, str):
        return value
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return value.__name__
    name = getattr(value, "name", None)
    return name if isinstance(name, str) and name else type(value).__name__


def count_params(model: Any) -> dict[str, int]:
    """Total, trainable and non-trainable weight counts of a built model."""
    trainable = sum(_size(w) for w in model.trainable_weights)
    total = sum(_size(w) for w in model.weights)
    return {
        "total_params": total,
        "trainable_params": trainable,
        "non_trainable_params": total - trainable,
    }


def _size(weight: Any) -> int:
    return math.prod(int(d) for d in weight.shape)


def early_stopping_params(callback: Any) -> dict[str, Any]:
    return {
        name: getattr(callback, name) for name in EARLY_STOPPING_PARAMS if hasattr(callback, name)
    }


def find_early_stopping(callbacks: Iterable[Any]) -> Any | None:
    from keras.callbacks import EarlyStopping

    for callback in callbacks:
        if isinstance(callback, EarlyStopping):
            return callback
    return None


def _plain(value: Any) -> Any:
    """Config values as a reader would write them: float32-born floats without noise digits."""
    if isinstance(value, float) and math.isfinite(value):
        return _shortest_float32(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _shortest_float32(value: float) -> float:
    """0.0010000000474974513 (a float32 0.001) -> 0.001; a true float64 is returned unchanged."""
    if abs(value) > 3.0e38:
        return value
    as32 = struct.unpack("f", struct.pack("f", value))[0]
    if as32 != value:
        return value
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.unpack("f", struct.pack("f", candidate))[0] == as32:
            return candidate
    return value
