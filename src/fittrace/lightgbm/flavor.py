"""The ``lightgbm`` model flavor: Boosters and the scikit-learn API models in LightGBM's text format.

The booster is always saved with ``Booster.save_model`` (``model.lgb``, no pickle, safe to
load). A scikit-learn API model (LGBMClassifier, ...) also records its class, its
``get_params()`` and its classes in ``estimator.json`` and is rebuilt around the loaded
booster. lightgbm is imported only inside these functions.
"""

from __future__ import annotations

import json
import os
from typing import Any

from fittrace import models
from fittrace.exceptions import InvalidParameterError

FLAVOR_NAME = "lightgbm"
_BOOSTER_FILE = "model.lgb"
_ESTIMATOR_FILE = "estimator.json"


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """The params that survive JSON (callables and objects are left to their defaults)."""
    kept = {}
    for key, value in params.items():
        try:
            json.dumps(value)
        except TypeError:
            continue
        kept[key] = value
    return kept


def save_model(
    lgb_model: Any,
    path: str | os.PathLike,
    *,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Save a ``lightgbm.Booster`` or a fitted LGBMClassifier/LGBMRegressor/LGBMRanker at ``path``."""
    import lightgbm as lgb

    if not isinstance(lgb_model, (lgb.Booster, lgb.LGBMModel)):
        raise InvalidParameterError(
            f"Expected a lightgbm.Booster or LGBMModel (LGBMClassifier, ...), got {type(lgb_model).__name__}"
        )
    booster = lgb_model if isinstance(lgb_model, lgb.Booster) else lgb_model.booster_
    with models.new_model_dir(path) as model_dir:
        booster.save_model(str(model_dir / _BOOSTER_FILE))
        requirements = ["lightgbm", "numpy", "scipy"]
        if isinstance(lgb_model, lgb.LGBMModel):
            classes = getattr(lgb_model, "classes_", None)
            estimator = {
                "params": _jsonable(lgb_model.get_params()),
                "classes": None if classes is None else classes.tolist(),
            }
            (model_dir / _ESTIMATOR_FILE).write_text(json.dumps(estimator))
            requirements.append("scikit-learn")
        models.write_model_metadata(
            model_dir,
            flavor=FLAVOR_NAME,
            flavor_conf={
                "lgb_version": lgb.__version__,
                "data": _BOOSTER_FILE,
                "model_class": models.class_path(lgb_model),
                "model_format": "text",
                "code": None,
            },
            loader_module="fittrace.lightgbm",
            requirements=requirements,
            signature=signature,
            input_example=input_example,
            predict_fn=models.PredictWrapper(lgb_model).predict,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
        )


def log_model(
    lgb_model: Any, artifact_path: str | None = "model", **kwargs: Any
) -> models.ModelInfo:
    """Save the model into the active run (started if none) under ``artifact_path``.

    Takes ``save_model``'s options plus ``registered_model_name``, ``run_id`` and ``name``.
    """
    return models.log_model(save_model, lgb_model, artifact_path, **kwargs)


def _rebuild_estimator(cls: Any, booster: Any, saved: dict[str, Any]) -> Any:
    """A fitted scikit-learn API model around ``booster``: the state its ``predict`` reads."""
    import numpy as np

    estimator = cls(**saved["params"])
    state: dict[str, Any] = {
        "_Booster": booster,
        "fitted_": True,
        "_n_features": booster.num_feature(),
        "_n_features_in": booster.num_feature(),
        "_objective": booster.params.get("objective", estimator.objective),
        "_best_iteration": booster.best_iteration,
        "_best_score": booster.best_score,
        "_evals_result": {},
    }
    if saved["classes"] is not None:
        from sklearn.preprocessing import LabelEncoder

        encoder = LabelEncoder()
        encoder.classes_ = np.asarray(saved["classes"])
        state.update(
            _le=encoder,
            _classes=encoder.classes_,
            _n_classes=len(encoder.classes_),
            _class_map={c: i for i, c in enumerate(encoder.classes_)},
        )
    vars(estimator).update(state)
    return estimator


def _load_from_dir(model_dir: Any, conf: dict[str, Any]) -> Any:
    import lightgbm as lgb

    cls = models.import_class(
        conf.get("model_class", "lightgbm.basic.Booster"), (lgb.Booster, lgb.LGBMModel)
    )
    booster = lgb.Booster(model_file=str(models.model_file(model_dir, conf["data"])))
    if issubclass(cls, lgb.Booster):
        return booster
    saved = json.loads(models.model_file(model_dir, _ESTIMATOR_FILE).read_text())
    return _rebuild_estimator(cls, booster, saved)


def load_model(model_uri: str | os.PathLike, dst_path: str | os.PathLike | None = None) -> Any:
    """The LightGBM model saved at ``model_uri``, as the class it was saved from."""
    loaded = models.load_flavor(model_uri, FLAVOR_NAME, dst_path)
    return _load_from_dir(loaded.path, loaded.conf)


def _load_pyfunc(path: str | os.PathLike) -> models.PredictWrapper:
    return models.PredictWrapper(_load_from_dir(*models.flavor_section(path, FLAVOR_NAME)))
