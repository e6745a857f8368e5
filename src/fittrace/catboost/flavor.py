"""The ``catboost`` model flavor: CatBoost models in CatBoost's own binary format (``cbm``).

No pickle is involved, so loading is safe. The class (CatBoostClassifier, ...) is recorded
as ``model_class`` and restored on load. catboost is imported only inside these functions.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from fittrace import models
from fittrace.exceptions import InvalidParameterError

FLAVOR_NAME = "catboost"
_DATA_FILE = "model.cb"


class _CatBoostPyfunc:
    """pyfunc wrapper: ``model.predict(data)``."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.model.predict(data, **(params or {}))

    def get_raw_model(self) -> Any:
        return self.model


def save_model(
    cb_model: Any,
    path: str | os.PathLike,
    *,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Save a fitted CatBoost model (any ``catboost.CatBoost`` subclass) at ``path``."""
    import catboost

    if not isinstance(cb_model, catboost.CatBoost):
        raise InvalidParameterError(
            f"Expected a catboost model (CatBoostClassifier, ...), got {type(cb_model).__name__}"
        )
    cls = type(cb_model)
    with models.new_model_dir(path) as model_dir:
        cb_model.save_model(str(model_dir / _DATA_FILE), format="cbm")
        models.write_model_metadata(
            model_dir,
            flavor=FLAVOR_NAME,
            flavor_conf={
                "catboost_version": catboost.__version__,
                "data": _DATA_FILE,
                "model_type": cls.__name__,
                "model_class": f"{cls.__module__}.{cls.__qualname__}",
                "save_format": "cbm",
                "code": None,
            },
            loader_module="fittrace.catboost",
            requirements=["catboost", "numpy", "pandas"],
            signature=signature,
            input_example=input_example,
            predict_fn=_CatBoostPyfunc(cb_model).predict,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
        )


def log_model(
    cb_model: Any, artifact_path: str | None = "model", **kwargs: Any
) -> models.ModelInfo:
    """Save the model into the active run (started if none) under ``artifact_path``.

    Takes ``save_model``'s options plus ``registered_model_name``, ``run_id`` and ``name``.
    """
    return models.log_model(save_model, cb_model, artifact_path, **kwargs)


def _load(model_dir: Any, conf: dict[str, Any]) -> Any:
    import catboost

    name = conf.get("model_class", "catboost.core.CatBoost")
    module_name, _, class_name = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as e:
        raise InvalidParameterError(f"Cannot restore CatBoost model class {name!r}: {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, catboost.CatBoost)):
        raise InvalidParameterError(f"model_class {name!r} is not a CatBoost model class")
    model = cls()
    model.load_model(str(models.model_file(model_dir, conf.get("data", _DATA_FILE))), format="cbm")
    return model


def load_model(model_uri: str | os.PathLike, dst_path: str | os.PathLike | None = None) -> Any:
    """The CatBoost model saved at ``model_uri``, as the class it was saved from."""
    loaded = models.load_flavor(model_uri, FLAVOR_NAME, dst_path)
    return _load(loaded.path, loaded.conf)


def _load_pyfunc(path: str | os.PathLike) -> _CatBoostPyfunc:
    model_dir = models.model_dir_of(path)
    return _CatBoostPyfunc(_load(model_dir, models.Model.load(model_dir).flavors[FLAVOR_NAME]))
