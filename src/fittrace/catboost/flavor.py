"""The ``catboost`` model flavor: CatBoost models in CatBoost's own binary format (``cbm``).

No pickle is involved, so loading is safe. The class (CatBoostClassifier, ...) is recorded
as ``model_class`` and restored on load. catboost is imported only inside these functions.
"""

from __future__ import annotations

import os
from typing import Any

from fittrace import models
from fittrace.exceptions import InvalidParameterError

FLAVOR_NAME = "catboost"
_DATA_FILE = "model.cb"


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
    with models.new_model_dir(path) as model_dir:
        cb_model.save_model(str(model_dir / _DATA_FILE), format="cbm")
        models.write_model_metadata(
            model_dir,
            flavor=FLAVOR_NAME,
            flavor_conf={
                "catboost_version": catboost.__version__,
                "data": _DATA_FILE,
                "model_type": type(cb_model).__name__,
                "model_class": models.class_path(cb_model),
                "save_format": "cbm",
                "code": None,
            },
            loader_module="fittrace.catboost",
            requirements=["catboost", "numpy", "pandas"],
            signature=signature,
            input_example=input_example,
            predict_fn=models.PredictWrapper(cb_model).predict,
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

    cls = models.import_class(
        conf.get("model_class", "catboost.core.CatBoost"), (catboost.CatBoost,)
    )
    model = cls()
    model.load_model(str(models.model_file(model_dir, conf.get("data", _DATA_FILE))), format="cbm")
    return model


def load_model(model_uri: str | os.PathLike, dst_path: str | os.PathLike | None = None) -> Any:
    """The CatBoost model saved at ``model_uri``, as the class it was saved from."""
    loaded = models.load_flavor(model_uri, FLAVOR_NAME, dst_path)
    return _load(loaded.path, loaded.conf)


def _load_pyfunc(path: str | os.PathLike) -> models.PredictWrapper:
    return models.PredictWrapper(_load(*models.flavor_section(path, FLAVOR_NAME)))
