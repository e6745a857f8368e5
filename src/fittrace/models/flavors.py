"""Pieces most flavors share: a ``predict`` pyfunc wrapper, a model's class by name and back.

For flavor authors (the plugin flavors use them; see ``fittrace.models``)::

    save:  flavor_conf={"model_class": class_path(model), ...}, predict_fn=PredictWrapper(model).predict
    load:  cls = import_class(conf["model_class"], (lgb.Booster, lgb.LGBMModel))
    pyfunc: model_dir, conf = flavor_section(path, FLAVOR_NAME); return PredictWrapper(load(...))
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from fittrace.exceptions import InvalidParameterError


class PredictWrapper:
    """pyfunc wrapper whose ``predict(data, params)`` is ``model.predict(data, **params)``."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.model.predict(data, **(params or {}))

    def get_raw_model(self) -> Any:
        return self.model


def class_path(obj: Any) -> str:
    """``module.QualName`` of ``obj``'s class, to record as ``model_class``."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def import_class(name: str, allowed: tuple[type, ...]) -> type:
    """The class ``class_path`` recorded, refusing any that is not a subclass of ``allowed``."""
    module_name, _, class_name = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as e:
        raise InvalidParameterError(f"Cannot restore the model class {name!r}: {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, allowed)):
        names = " or ".join(f"{c.__module__}.{c.__qualname__}" for c in allowed)
        raise InvalidParameterError(f"model_class {name!r} is not a subclass of {names}")
    return cls


def flavor_section(path: str | os.PathLike, flavor: str) -> tuple[Path, dict[str, Any]]:
    """For a ``_load_pyfunc(path)``: the model directory and its MLmodel's ``flavor`` section."""
    from fittrace.models.loading import model_dir_of
    from fittrace.models.model import Model

    model_dir = model_dir_of(path)
    return model_dir, Model.load(model_dir).flavors[flavor]
