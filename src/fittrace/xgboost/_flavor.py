"""The ``xgboost`` model flavor: Boosters and the scikit-learn API models, in XGBoost's own format.

UBJSON by default (``model_format="json"`` for text); no pickle is involved, so loading is safe.
The class is recorded as ``model_class`` and restored on load. xgboost is imported only inside
these functions.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from fittrace import models
from fittrace.exceptions import InvalidParameterError
from fittrace.xgboost import MODEL_FORMATS

FLAVOR_NAME = "xgboost"


def _model_class_name(xgb_model: Any) -> str:
    cls = type(xgb_model)
    return f"{cls.__module__}.{cls.__qualname__}"


def _restore_class(name: str) -> Any:
    """The xgboost class named in an MLmodel; only Booster and XGBModel subclasses are accepted."""
    import xgboost as xgb

    module_name, _, class_name = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as e:
        raise InvalidParameterError(f"Cannot restore XGBoost model class {name!r}: {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, (xgb.Booster, xgb.XGBModel))):
        raise InvalidParameterError(
            f"model_class {name!r} is not an XGBoost model class (xgboost.Booster or an xgboost.XGBModel subclass)"
        )
    return cls


class _XGBoostPyfunc:
    """pyfunc wrapper: Boosters predict on a DMatrix, the scikit-learn API models on the data itself."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import xgboost as xgb

        if isinstance(self.model, xgb.Booster):
            return self.model.predict(
                data if isinstance(data, xgb.DMatrix) else xgb.DMatrix(data), **(params or {})
            )
        return self.model.predict(data, **(params or {}))

    def get_raw_model(self) -> Any:
        return self.model


def save_model(
    xgb_model: Any,
    path: str | os.PathLike,
    *,
    model_format: str = "ubj",
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Save an ``xgboost.Booster`` or an XGBClassifier/XGBRegressor/... as a model directory at ``path``."""
    import xgboost as xgb

    if model_format not in MODEL_FORMATS:
        raise InvalidParameterError(
            f"Unknown model_format {model_format!r}; allowed: {', '.join(MODEL_FORMATS)}"
        )
    if not isinstance(xgb_model, (xgb.Booster, xgb.XGBModel)):
        raise InvalidParameterError(
            f"Expected an xgboost.Booster or XGBModel (XGBClassifier, ...), got {type(xgb_model).__name__}"
        )
    with models.new_model_dir(path) as model_dir:
        data_file = f"model.{model_format}"
        xgb_model.save_model(str(model_dir / data_file))
        requirements = ["xgboost", "numpy", "scipy"]
        if isinstance(xgb_model, xgb.XGBModel):
            requirements.append("scikit-learn")
        models.write_model_metadata(
            model_dir,
            flavor=FLAVOR_NAME,
            flavor_conf={
                "xgb_version": xgb.__version__,
                "data": data_file,
                "model_class": _model_class_name(xgb_model),
                "model_format": model_format,
                "code": None,
            },
            loader_module="mlflow.xgboost",  # MLflow's format: MLflow loads it without fittrace
            requirements=requirements,
            signature=signature,
            input_example=input_example,
            predict_fn=_XGBoostPyfunc(xgb_model).predict,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
        )


def log_model(
    xgb_model: Any, artifact_path: str | None = "model", **kwargs: Any
) -> models.ModelInfo:
    """Save the model into the active run (started if none) under ``artifact_path``.

    Takes ``save_model``'s options plus ``registered_model_name``, ``run_id`` and ``name``.
    """
    return models.log_model(save_model, xgb_model, artifact_path, **kwargs)


def _load_from_dir(model_dir: Any, conf: dict[str, Any]) -> Any:
    cls = _restore_class(conf.get("model_class", "xgboost.core.Booster"))
    model = cls()
    model.load_model(str(models.model_file(model_dir, conf.get("data", "model.xgb"))))
    return model


def load_model(model_uri: str | os.PathLike, dst_path: str | os.PathLike | None = None) -> Any:
    """The XGBoost model saved at ``model_uri``, as the class it was saved from."""
    loaded = models.load_flavor(model_uri, FLAVOR_NAME, dst_path)
    return _load_from_dir(loaded.path, loaded.conf)


def _load_pyfunc(path: str | os.PathLike) -> _XGBoostPyfunc:
    model_dir = models.model_dir_of(path)
    return _XGBoostPyfunc(
        _load_from_dir(model_dir, models.Model.load(model_dir).flavors[FLAVOR_NAME])
    )
