"""The ``statsmodels`` model flavor: a fitted results object, saved with its own ``save`` (pickle).

As in MLflow: ``model.statsmodels`` in the model directory, ``remove_data=True`` drops the
training arrays. Loading unpickles, so a model from another machine is loaded with a warning.
"""

from __future__ import annotations

import os
from typing import Any

from fittrace import models
from fittrace.exceptions import InvalidParameterError

FLAVOR_NAME = "statsmodels"
_DATA_FILE = "model.statsmodels"


def save_model(
    statsmodels_model: Any,
    path: str | os.PathLike,
    *,
    remove_data: bool = False,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Save a fitted statsmodels results object (what ``Model.fit`` returns) at ``path``."""
    import statsmodels

    if not callable(getattr(statsmodels_model, "save", None)) or not hasattr(
        statsmodels_model, "model"
    ):
        raise InvalidParameterError(
            f"Expected a fitted statsmodels results object, got {type(statsmodels_model).__name__}"
        )
    with models.new_model_dir(path) as model_dir:
        statsmodels_model.save(str(model_dir / _DATA_FILE), remove_data)
        models.write_model_metadata(
            model_dir,
            flavor=FLAVOR_NAME,
            flavor_conf={
                "statsmodels_version": statsmodels.__version__,
                "data": _DATA_FILE,
                "code": None,
            },
            loader_module="fittrace.statsmodels",
            requirements=["statsmodels", "numpy", "scipy", "pandas"],
            signature=signature,
            input_example=input_example,
            predict_fn=models.PredictWrapper(statsmodels_model).predict,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
        )


def log_model(
    statsmodels_model: Any, artifact_path: str | None = "model", **kwargs: Any
) -> models.ModelInfo:
    """Save the results into the active run (started if none) under ``artifact_path``.

    Takes ``save_model``'s options plus ``registered_model_name``, ``run_id`` and ``name``.
    """
    return models.log_model(save_model, statsmodels_model, artifact_path, **kwargs)


def _load(model_dir: Any, conf: dict[str, Any]) -> Any:
    from statsmodels.iolib.smpickle import load_pickle

    return load_pickle(str(models.model_file(model_dir, conf.get("data", _DATA_FILE))))


def load_model(model_uri: str | os.PathLike, dst_path: str | os.PathLike | None = None) -> Any:
    """The statsmodels results object saved at ``model_uri``."""
    loaded = models.load_flavor(model_uri, FLAVOR_NAME, dst_path)
    loaded.warn_if_untrusted("pickle")
    return _load(loaded.path, loaded.conf)


def _load_pyfunc(path: str | os.PathLike) -> models.PredictWrapper:
    models.warn_if_untrusted("pickle")
    return models.PredictWrapper(_load(*models.flavor_section(path, FLAVOR_NAME)))
