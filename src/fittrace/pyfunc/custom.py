"""Custom models: a ``PythonModel`` subclass (or a models-from-code file) saved in MLflow's format.

The directory is MLflow's own (``loader_module: mlflow.pyfunc.model``, ``python_model.pkl``
written with cloudpickle, ``artifacts/``, ``code/``), so ``mlflow.pyfunc.load_model`` loads it
as well as ``fittrace.pyfunc.load_model``. ``python_model="model.py"`` saves the file itself
(models from code): it must call ``fittrace.models.set_model(...)`` (or MLflow's) with the model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import uuid
from collections import namedtuple
from pathlib import Path
from typing import Any

from fittrace import models
from fittrace.exceptions import InvalidParameterError
from fittrace.models.model import PYFUNC_FLAVOR

LOADER_MODULE = "mlflow.pyfunc.model"  # MLflow's loader; fittrace maps it to this module
PICKLE_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"
CODE_DIR = "code"

_TypeHints = namedtuple("_TypeHints", ["input", "output"])
_code_models: dict[str, Any] = {}  # what the models-from-code file being run passed to set_model


class PythonModelContext:
    """What ``load_context`` and ``predict`` get: ``artifacts`` (name -> local path), ``model_config``."""

    def __init__(self, artifacts: dict[str, str], model_config: dict[str, Any] | None) -> None:
        self.artifacts = artifacts
        self.model_config = model_config


class PythonModel:
    """Subclass and implement ``predict(self, context, model_input, params=None)``; optionally
    ``load_context(self, context)`` to load artifacts once when the model is loaded."""

    def load_context(self, context: PythonModelContext) -> None:
        """Called once on load, with the saved artifacts' local paths in ``context.artifacts``."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict | None = None
    ) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement predict()")

    @property
    def predict_type_hints(self) -> _TypeHints:  # what MLflow's loader asks of a PythonModel
        return _TypeHints(None, None)


def set_model(model: Any) -> None:
    """In a models-from-code file: the model object that file defines."""
    _code_models["model"] = model
    real = sys.modules.get("mlflow.models.model")
    if real is not None and real is not sys.modules.get("fittrace.models.model"):
        real.__mlflow_model__ = model  # what MLflow's own models-from-code loader reads


def _run_model_code(path: Path) -> Any:
    _code_models.clear()
    spec = importlib.util.spec_from_file_location(f"fittrace_code_model_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    real = sys.modules.get("mlflow.models.model")
    model = _code_models.pop("model", None) or getattr(real, "__mlflow_model__", None)
    if model is None:
        raise InvalidParameterError(
            f"{str(path)!r} did not call set_model(model): a models-from-code file must"
        )
    return model


class _Wrapper:
    """pyfunc's view of a PythonModel: ``predict(data, params)`` passes the context along."""

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.python_model.predict(self.context, data, params=params)

    def get_raw_model(self) -> Any:
        return self.python_model


def save_model(
    path: str | os.PathLike,
    python_model: Any = None,
    artifacts: dict[str, str] | None = None,
    signature: Any = None,
    input_example: Any = None,
    code_paths: list[str] | None = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
) -> None:
    """Save a PythonModel instance, or a models-from-code file path, as a model directory.

    ``artifacts`` maps names to local files or directories (copied in); ``code_paths`` are
    files or directories put on ``sys.path`` when the model loads.
    """
    if python_model is None:
        raise InvalidParameterError("save_model needs python_model= (a PythonModel or a .py file)")
    from_code = isinstance(python_model, (str, os.PathLike))
    with models.new_model_dir(path) as model_dir:
        conf: dict[str, Any] = {}
        if code_paths:
            (model_dir / CODE_DIR).mkdir()
            for code in code_paths:
                _copy(Path(code), model_dir / CODE_DIR)
            conf["code"] = CODE_DIR
        if artifacts:
            (model_dir / ARTIFACTS_DIR).mkdir()
            conf["artifacts"] = {}
            for name, source in artifacts.items():
                target = model_dir / ARTIFACTS_DIR / Path(source).name
                _copy(Path(source), model_dir / ARTIFACTS_DIR)
                rel = target.relative_to(model_dir).as_posix()
                conf["artifacts"][name] = {"path": rel, "uri": str(source)}
        if from_code:
            code_file = Path(python_model)
            _copy(code_file, model_dir)
            conf["model_code_path"] = str(code_file)
            instance = _run_model_code(code_file)
            requirements = []
        else:
            import cloudpickle

            with open(model_dir / PICKLE_FILE, "wb") as f:
                cloudpickle.dump(python_model, f)
            conf.update(python_model=PICKLE_FILE, cloudpickle_version=cloudpickle.__version__)
            instance = python_model
            requirements = ["cloudpickle"]
        if model_config is not None:
            conf["config"] = model_config
        context = PythonModelContext(_artifact_paths(model_dir, conf), model_config)
        models.write_model_metadata(
            model_dir,
            flavor=PYFUNC_FLAVOR,
            flavor_conf={},
            loader_module=LOADER_MODULE,
            requirements=requirements,
            modules=[type(instance).__module__],
            signature=signature,
            input_example=input_example,
            predict_fn=lambda example: _loaded(instance, context).predict(example),
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
            pyfunc_conf=conf,
        )


def _loaded(instance: Any, context: PythonModelContext) -> _Wrapper:
    instance.load_context(context)
    return _Wrapper(instance, context)


def _copy(source: Path, directory: Path) -> None:
    if not source.exists():
        raise InvalidParameterError(f"No such file or directory: {str(source)!r}")
    if source.is_dir():
        shutil.copytree(source, directory / source.name)
    else:
        shutil.copy2(source, directory / source.name)


def _artifact_paths(model_dir: Path, conf: dict[str, Any]) -> dict[str, str]:
    return {
        name: str(models.model_file(model_dir, entry["path"]))
        for name, entry in conf.get("artifacts", {}).items()
    }


def log_model(
    artifact_path: str | None = None, python_model: Any = None, **kwargs: Any
) -> models.ModelInfo:
    """``save_model`` into the active run (started if none); takes ``name``, ``registered_model_name``."""
    return models.log_model(
        lambda model, path, **options: save_model(path, model, **options),
        python_model,
        artifact_path if artifact_path is not None or "name" in kwargs else "model",
        **kwargs,
    )


def _load_pyfunc(path: str | os.PathLike) -> _Wrapper:
    model_dir = models.model_dir_of(path)
    conf = models.Model.load(model_dir).flavors[PYFUNC_FLAVOR]
    if conf.get("code"):
        code_dir = str(models.model_file(model_dir, conf["code"]))
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
    model_config = conf.get("config")
    if "model_code_path" in conf:
        code_file = models.model_file(model_dir, Path(conf["model_code_path"]).name)
        instance = _run_model_code(code_file)
    else:
        import cloudpickle  # noqa: F401  (the pickle refers to it)

        models.warn_if_untrusted("pickle")
        with open(models.model_file(model_dir, conf.get("python_model", PICKLE_FILE)), "rb") as f:
            import pickle

            instance = pickle.load(f)
    return _loaded(instance, PythonModelContext(_artifact_paths(model_dir, conf), model_config))
