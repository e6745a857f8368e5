"""The Keras 3 model flavor: a ``.keras`` file in MLflow's layout, loaded in Keras's safe mode.

Directory::

    MLmodel                  flavors: python_function (loader mlflow.keras), keras,
                             and tensorflow on the TensorFlow backend
    data/model.keras         keras.Model.save(): architecture, weights, compile and optimizer state
    data/keras_module.txt    "keras"
    data/save_format.txt     "keras"
    requirements.txt, python_env.yaml, conda.yaml, input_example.json (optional)

The ``keras`` section carries MLflow's Keras 3 keys (``data``, ``keras_version``,
``keras_backend``, ``save_exported_model``) plus ``model_type``/``save_format``/
``keras_module``, so ``mlflow.keras.load_model`` and ``mlflow.tensorflow.load_model``
both read it. ``load_model`` reads models MLflow saved with either flavor.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fittrace import models
from fittrace.exceptions import InvalidParameterError, ResourceNotFoundError

FLAVOR_NAME = "keras"
TF_FLAVOR_NAME = "tensorflow"
DATA_DIR = "data"
MODEL_FILE = "model.keras"
LOADER_MODULE = "mlflow.keras"  # MLflow's format: MLflow loads it without fittrace
_BACKEND_DISTRIBUTIONS = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}


def save_model(
    model: Any,
    path: str | os.PathLike,
    *,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    save_model_kwargs: dict[str, Any] | None = None,
) -> None:
    """Save a Keras 3 model to the local directory ``path`` (which must not exist or be empty).

    ``save_model_kwargs`` go to ``model.save``. With an ``input_example`` and no ``signature``
    the signature is inferred from the example and the model's prediction on it.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise InvalidParameterError(
            f"fittrace.tensorflow.save_model takes a keras.Model (Keras 3), got {type(model).__qualname__}"
        )
    backend = keras.backend.backend()
    with models.new_model_dir(path) as model_dir:
        data = model_dir / DATA_DIR
        data.mkdir()
        model.save(data / MODEL_FILE, **(save_model_kwargs or {}))
        (data / "keras_module.txt").write_text("keras", encoding="utf-8")
        (data / "save_format.txt").write_text("keras", encoding="utf-8")
        conf = {
            "data": DATA_DIR,
            "keras_version": keras.__version__,
            "keras_backend": backend,
            "save_exported_model": False,
            "model_type": "keras",
            "save_format": "keras",
            "keras_module": "keras",
        }
        requirements = ["keras"]
        if backend in _BACKEND_DISTRIBUTIONS:
            requirements.append(_BACKEND_DISTRIBUTIONS[backend])
        mlmodel = models.write_model_metadata(
            model_dir,
            flavor=FLAVOR_NAME,
            flavor_conf=conf,
            loader_module=LOADER_MODULE,
            requirements=requirements,
            signature=signature,
            input_example=input_example,
            predict_fn=lambda example: _predict(model, example),
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
        )
        if backend == "tensorflow":
            import tensorflow as tf

            mlmodel.add_flavor(
                TF_FLAVOR_NAME, **{**conf, "keras_version": tf.__version__, "code": None}
            )
            mlmodel.save(model_dir)


def log_model(model: Any, artifact_path: str | None = "model", **kwargs: Any) -> models.ModelInfo:
    """Save the model and log it to ``run_id``, the active run, or a new run.

    Takes ``save_model``'s options plus ``registered_model_name``, ``run_id`` and ``name``.
    """
    return models.log_model(save_model, model, artifact_path, **kwargs)


def load_model(
    model_uri: str,
    dst_path: str | os.PathLike | None = None,
    *,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> Any:
    """Load a Keras model saved by fittrace or MLflow (``keras`` or ``tensorflow`` flavor).

    Keras's ``safe_mode`` is on: a model holding arbitrary Python code (a Lambda layer) does
    not load unless ``safe_mode=False`` is passed for a model you trust.
    """
    resolved = models.resolve_model_uri(model_uri, dst_path)
    return _load_keras(
        Path(resolved.path), custom_objects=custom_objects, compile=compile, safe_mode=safe_mode
    )


def load_checkpoint(
    model: Any = None,
    run_id: str | None = None,
    epoch: int | None = None,
    global_step: int | None = None,
) -> Any:
    """A Keras model from a checkpoint autologging saved (``checkpoint=True``).

    The run's latest checkpoint (of the active run when ``run_id`` is None), or the one saved
    at ``epoch`` / ``global_step``. A weights-only checkpoint is loaded into ``model``; a full
    one is loaded as a new model (into ``model``'s weights too when one is given).
    """
    import keras

    from fittrace.autologging import checkpoints

    path = checkpoints.download(run_id, epoch, global_step, None)
    if path.endswith(".weights.h5"):
        if model is None:
            raise InvalidParameterError(
                "this checkpoint holds weights only: pass the model to load them into"
            )
        model.load_weights(path)
        return model
    loaded = keras.models.load_model(path)
    if model is None:
        return loaded
    model.set_weights(loaded.get_weights())
    return model


def _load_keras(model_dir: Path, **load_kwargs: Any) -> Any:
    import keras

    mlmodel = models.Model.load(model_dir)
    conf = mlmodel.flavors.get(FLAVOR_NAME) or mlmodel.flavors.get(TF_FLAVOR_NAME)
    if conf is None:
        raise ResourceNotFoundError(
            f"The model at {str(model_dir)!r} has no keras or tensorflow flavor (it has: "
            f"{', '.join(sorted(mlmodel.flavors))})"
        )
    if conf.get("save_exported_model") or conf.get("model_type", "keras") != "keras":
        raise InvalidParameterError(
            f"The model at {str(model_dir)!r} is a TensorFlow SavedModel/exported graph, not a Keras "
            "model file; load it with tensorflow.saved_model.load"
        )
    return keras.saving.load_model(_model_file(model_dir, conf), **load_kwargs)


def _model_file(model_dir: Path, conf: dict[str, Any]) -> Path:
    """``data/model.keras`` (or MLflow's older ``.h5``) inside the model directory."""
    data = model_dir / str(conf.get("data", DATA_DIR))
    if data.is_dir():
        data = data / "model"
    base = data.with_suffix("") if data.suffix in (".keras", ".h5") else data
    for candidate in (base.with_suffix(".keras"), base.with_suffix(".h5")):
        if candidate.is_file():
            return candidate
    raise ResourceNotFoundError(
        f"No Keras model file (model.keras or model.h5) under {str(model_dir)!r}"
    )


class KerasPyfuncModel:
    """``predict`` for a loaded Keras model: numpy in, numpy out; a DataFrame in, a DataFrame out."""

    def __init__(self, model: Any) -> None:
        self.keras_model = model

    def get_raw_model(self) -> Any:
        return self.keras_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if hasattr(data, "iloc") and hasattr(data, "columns"):  # pandas DataFrame
            import pandas as pd

            output = _predict(self.keras_model, data.to_numpy())
            return (
                pd.DataFrame(output, index=data.index)
                if getattr(output, "ndim", 0) <= 2
                else output
            )
        return _predict(self.keras_model, data)


def _predict(model: Any, data: Any) -> Any:
    return model.predict(data, verbose=0)


def _load_pyfunc(path: str | os.PathLike) -> KerasPyfuncModel:
    """The python_function loader: ``path`` is the model directory or a path inside it."""
    model_dir = Path(models.model_dir_of(path))
    if (
        not (model_dir / models.MLMODEL_FILE_NAME).is_file()
        and (model_dir.parent / models.MLMODEL_FILE_NAME).is_file()
    ):
        model_dir = model_dir.parent  # MLflow's tensorflow flavor hands loaders <model>/data
    return KerasPyfuncModel(_load_keras(model_dir))
