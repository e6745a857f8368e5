"""The ``sklearn`` model flavor: any estimator or Pipeline, in MLflow's on-disk format.

cloudpickle by default; ``serialization_format="skops"`` stores it with skops (no pickle, only
trusted types load). scikit-learn is imported only inside these functions.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from fittrace import models
from fittrace.exceptions import InvalidParameterError

FLAVOR_NAME = "sklearn"
SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_CLOUDPICKLE = "cloudpickle"
SERIALIZATION_FORMAT_SKOPS = "skops"
SUPPORTED_SERIALIZATION_FORMATS = (
    SERIALIZATION_FORMAT_CLOUDPICKLE,
    SERIALIZATION_FORMAT_PICKLE,
    SERIALIZATION_FORMAT_SKOPS,
)
_DATA_FILE = {
    SERIALIZATION_FORMAT_CLOUDPICKLE: "model.pkl",
    SERIALIZATION_FORMAT_PICKLE: "model.pkl",
    SERIALIZATION_FORMAT_SKOPS: "model.skops",
}


def _import_skops() -> Any:
    try:
        import skops.io
    except ImportError:
        raise InvalidParameterError(
            "serialization_format='skops' needs the skops package (pip install skops); "
            "or use serialization_format='cloudpickle'"
        ) from None
    return skops.io


def _estimator_modules(model: Any) -> set[str]:
    """Modules of the estimator and everything nested in it (pipeline steps, wrapped functions)."""
    modules = {type(model).__module__}
    get_params = getattr(model, "get_params", None)
    if not callable(get_params):
        return modules
    try:
        params = get_params(deep=True)
    except Exception:  # a third-party estimator with a broken get_params still saves
        return modules
    for value in params.values():
        if value is None or isinstance(value, (str, int, float, bool, list, tuple, dict)):
            continue
        modules.add(type(value).__module__)
        owner = getattr(value, "__module__", None)
        if isinstance(owner, str):
            modules.add(owner)
    return modules


def _dump(
    sk_model: Any, target: Path, fmt: str, skops_trusted_types: list[str] | None
) -> list[str]:
    """Serialize the model to ``target``; return the extra distributions the format needs."""
    if fmt == SERIALIZATION_FORMAT_SKOPS:
        sio = _import_skops()
        try:
            sio.dump(sk_model, target)
        except Exception as e:
            raise InvalidParameterError(
                f"skops cannot serialize this model ({e}); skops supports no custom functions or classes "
                "outside module top level. Use serialization_format='cloudpickle' for such models."
            ) from e
        untrusted = set(sio.get_untrusted_types(file=target)) - set(skops_trusted_types or ())
        if untrusted:
            raise InvalidParameterError(
                f"The model holds types skops does not trust by default: {sorted(untrusted)}. If loading them "
                "is safe, pass skops_trusted_types=[...] listing them."
            )
        return ["skops"]
    with open(target, "wb") as f:
        if fmt == SERIALIZATION_FORMAT_CLOUDPICKLE:
            import cloudpickle

            cloudpickle.dump(sk_model, f)
            return ["cloudpickle"]
        pickle.dump(sk_model, f)
    return []


def save_model(
    sk_model: Any,
    path: str | os.PathLike,
    *,
    serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
    skops_trusted_types: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Save a scikit-learn estimator or Pipeline as a model directory at ``path``.

    ``pyfunc_predict_fn`` picks the method pyfunc's predict calls (``predict_proba``, ...). An
    estimator without ``predict`` (``AgglomerativeClustering``) is saved with the sklearn flavor
    only: ``sklearn.load_model`` loads it, and the MLmodel offers no python_function flavor.
    """
    import sklearn

    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise InvalidParameterError(
            f"Unknown serialization_format {serialization_format!r}; allowed: {', '.join(SUPPORTED_SERIALIZATION_FORMATS)}"
        )
    predict_fn = getattr(sk_model, pyfunc_predict_fn, None)
    pyfunc = callable(predict_fn)
    if not pyfunc and pyfunc_predict_fn != "predict":
        raise InvalidParameterError(
            f"{type(sk_model).__name__} has no method {pyfunc_predict_fn!r} for pyfunc_predict_fn"
        )
    with models.new_model_dir(path) as model_dir:
        data_file = _DATA_FILE[serialization_format]
        extra = _dump(sk_model, model_dir / data_file, serialization_format, skops_trusted_types)
        conf: dict[str, Any] = {
            "pickled_model": data_file,
            "sklearn_version": sklearn.__version__,
            "serialization_format": serialization_format,
            "code": None,
        }
        if serialization_format == SERIALIZATION_FORMAT_SKOPS:
            conf["skops_trusted_types"] = list(skops_trusted_types) if skops_trusted_types else None
        models.write_model_metadata(
            model_dir,
            flavor=FLAVOR_NAME,
            flavor_conf=conf,
            # MLflow's format: MLflow loads it without fittrace
            loader_module="mlflow.sklearn" if pyfunc else None,
            requirements=["scikit-learn", "numpy", "scipy", *extra],
            modules=_estimator_modules(sk_model),
            signature=signature,
            input_example=input_example,
            predict_fn=predict_fn if pyfunc else None,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
            pyfunc_conf={"model_path": data_file, "predict_fn": pyfunc_predict_fn},
        )


def log_model(
    sk_model: Any, artifact_path: str | None = "model", **kwargs: Any
) -> models.ModelInfo:
    """Save the model into the active run (started if none) under ``artifact_path``.

    Takes ``save_model``'s options plus ``registered_model_name``, ``run_id`` and ``name``.
    """
    return models.log_model(save_model, sk_model, artifact_path, **kwargs)


def _load_from_dir(model_dir: Path, conf: dict[str, Any], warn: Any) -> Any:
    fmt = conf.get("serialization_format", SERIALIZATION_FORMAT_PICKLE)
    data = models.model_file(model_dir, conf.get("pickled_model", _DATA_FILE.get(fmt, "model.pkl")))
    if fmt == SERIALIZATION_FORMAT_SKOPS:
        return _import_skops().load(data, trusted=conf.get("skops_trusted_types") or None)
    if fmt not in (SERIALIZATION_FORMAT_PICKLE, SERIALIZATION_FORMAT_CLOUDPICKLE):
        raise InvalidParameterError(
            f"Unknown sklearn serialization_format {fmt!r} in {str(model_dir)!r}; "
            f"known: {', '.join(SUPPORTED_SERIALIZATION_FORMATS)}"
        )
    warn(fmt)
    with open(data, "rb") as f:  # cloudpickle output loads with pickle (cloudpickle installed)
        return pickle.load(f)


def load_logged(model_dir: str | os.PathLike, flavors: dict[str, dict[str, Any]]) -> Any:
    """The estimator of a model directory this process has just saved, with the ``flavors`` it
    wrote into its MLmodel (no YAML read, no trust warning)."""
    return _load_from_dir(Path(model_dir), flavors[FLAVOR_NAME], lambda fmt: None)


def load_model(model_uri: str | os.PathLike, dst_path: str | os.PathLike | None = None) -> Any:
    """The scikit-learn estimator saved at ``model_uri`` (runs:/, models:/, a path, ...)."""
    loaded = models.load_flavor(model_uri, FLAVOR_NAME, dst_path)
    return _load_from_dir(loaded.path, loaded.conf, loaded.warn_if_untrusted)


class _SklearnPyfunc:
    """pyfunc wrapper: ``predict`` calls the estimator's chosen predict method."""

    def __init__(self, model: Any, predict_fn: str) -> None:
        self.model = model
        self._predict = getattr(model, predict_fn)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self._predict(data)

    def get_raw_model(self) -> Any:
        return self.model


def _load_pyfunc(path: str | os.PathLike) -> _SklearnPyfunc:
    model_dir = models.model_dir_of(path)
    mlmodel = models.Model.load(model_dir)
    model = _load_from_dir(model_dir, mlmodel.flavors[FLAVOR_NAME], models.warn_if_untrusted)
    predict_fn = mlmodel.flavors.get("python_function", {}).get("predict_fn") or "predict"
    return _SklearnPyfunc(model, predict_fn)
