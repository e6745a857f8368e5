"""PyFuncModel: a loaded model of any flavor, whose ``predict`` checks input against the signature."""

from __future__ import annotations

import importlib
import inspect
import os
import warnings
from pathlib import Path
from typing import Any

from fittrace.exceptions import InvalidParameterError
from fittrace.models.enforcement import enforce_params, enforce_schema
from fittrace.models.loading import loading_from
from fittrace.models.model import PYFUNC_FLAVOR, Model
from fittrace.models.uri import resolve_model_uri
from fittrace.pyfunc.custom import PythonModel, PythonModelContext  # mlflow.pyfunc.model's names

__all__ = ["FLAVOR_NAME", "PyFuncModel", "PythonModel", "PythonModelContext", "load_model"]

FLAVOR_NAME = PYFUNC_FLAVOR

# MLflow's loader modules whose format fittrace's flavor reads.
_MLFLOW_LOADERS = {
    "mlflow.sklearn": "fittrace.sklearn",
    "mlflow.xgboost": "fittrace.xgboost",
    "mlflow.tensorflow": "fittrace.tensorflow",
    "mlflow.keras": "fittrace.tensorflow",
    "mlflow.pytorch": "fittrace.pytorch",
    "mlflow.pyfunc.model": "fittrace.pyfunc.custom",
}


class PyFuncModel:
    """A loaded model: ``predict(data, params=None)`` plus the model's ``metadata`` (its MLmodel)."""

    def __init__(
        self, model_meta: Model, model_impl: Any, model_dir: Path, loader_module: str
    ) -> None:
        self._meta = model_meta
        self._impl = model_impl
        self._dir = model_dir
        self.loader_module = loader_module
        predict = getattr(model_impl, "predict", None)
        if not callable(predict):
            raise InvalidParameterError(
                f"The loader {loader_module!r} returned an object without predict()"
            )
        try:
            parameters = inspect.signature(predict).parameters
        except (TypeError, ValueError):
            parameters = {}
        self._takes_params = "params" in parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
        )

    @property
    def metadata(self) -> Model:
        return self._meta

    @property
    def model_dir(self) -> Path:
        return self._dir

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Check ``data`` (and ``params``) against the signature, then predict."""
        schema = self._meta.get_input_schema()
        if schema is not None:
            data = enforce_schema(data, schema)
        params = enforce_params(params, self._meta.get_params_schema())
        if self._takes_params:
            return self._impl.predict(data, params=params)
        return self._impl.predict(data)

    def get_raw_model(self) -> Any:
        """The framework's own model object."""
        raw = getattr(self._impl, "get_raw_model", None)
        return raw() if callable(raw) else self._impl

    def __repr__(self) -> str:
        lines = ["fittrace.pyfunc.loaded_model:"]
        if self._meta.artifact_path:
            lines.append(f"  artifact_path: {self._meta.artifact_path}")
        lines.append(f"  flavor: {self.loader_module}")
        if self._meta.run_id:
            lines.append(f"  run_id: {self._meta.run_id}")
        return "\n".join(lines)


def load_model(
    model_uri: str | os.PathLike,
    suppress_warnings: bool = False,
    dst_path: str | os.PathLike | None = None,
) -> PyFuncModel:
    """Load the model at ``model_uri`` (runs:/, models:/, a path, ...) as a PyFuncModel.

    ``suppress_warnings`` silences the loader's warnings (the untrusted-source warning included).
    """
    resolved = resolve_model_uri(model_uri, dst_path)
    mlmodel = Model.load(resolved.path)
    conf = mlmodel.flavors.get(PYFUNC_FLAVOR)
    if not conf or "loader_module" not in conf:
        raise InvalidParameterError(
            f"The model at {resolved.uri!r} has no python_function flavor (it has: "
            f"{', '.join(sorted(mlmodel.flavors))}); load it with its own flavor's load_model"
        )
    declared = conf["loader_module"]
    module_name = _MLFLOW_LOADERS.get(declared, declared)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise InvalidParameterError(
            f"Cannot load the model at {resolved.uri!r}: its loader module {module_name!r} is not importable ({e})"
        ) from e
    if module_name.startswith("fittrace."):
        data_path = resolved.path
    else:  # MLflow's convention for other loaders: the python_function 'data' entry, if any
        data_path = resolved.path / conf["data"] if "data" in conf else resolved.path
    with loading_from(resolved.source, resolved.is_local), warnings.catch_warnings():
        if suppress_warnings:
            warnings.simplefilter("ignore")
        impl = module._load_pyfunc(str(data_path))
    return PyFuncModel(mlmodel, impl, resolved.path, declared)
