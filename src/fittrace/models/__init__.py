"""Model directories in MLflow's ``MLmodel`` layout, signatures, and what every flavor shares.

Users: ``infer_signature``, ``ModelSignature``, ``Model``, ``ModelInfo``, ``register_model``.

Writing a flavor (``fittrace/<framework>/_flavor.py``) -- the framework is imported inside functions::

    from fittrace import models

    FLAVOR_NAME = "pytorch"

    def save_model(pytorch_model, path, *, signature=None, input_example=None,
                   pip_requirements=None, extra_pip_requirements=None, metadata=None, **options):
        import torch
        with models.new_model_dir(path) as model_dir:        # pathlib.Path; removed again on error
            (model_dir / "data").mkdir()
            torch.save(pytorch_model.state_dict(), model_dir / "data" / "state_dict.pth")
            models.write_model_metadata(
                model_dir,
                flavor=FLAVOR_NAME,
                flavor_conf={"pytorch_version": torch.__version__, "model_data": "data"},
                loader_module="fittrace.pytorch",  # its _load_pyfunc(path) returns an object with predict()
                requirements=["torch", "cloudpickle"],  # distributions, pinned in-process
                signature=signature,                # None + input_example: inferred via predict_fn
                input_example=input_example,
                predict_fn=None,                    # e.g. a callable(example) -> output
                pip_requirements=pip_requirements,
                extra_pip_requirements=extra_pip_requirements,
                metadata=metadata,
            )

    def log_model(pytorch_model, artifact_path="model", **kwargs) -> models.ModelInfo:
        # active run (started if none), upload, registered_model_name=..., run_id=... all handled here
        return models.log_model(save_model, pytorch_model, artifact_path, **kwargs)

    def load_model(model_uri, dst_path=None):
        loaded = models.load_flavor(model_uri, FLAVOR_NAME, dst_path)  # .path, .conf (flavor section), .mlmodel
        loaded.warn_if_untrusted("pickle")    # before unpickling: warns if the model is not local
        data = models.model_file(loaded.path, loaded.conf["model_data"])  # refuses names leaving the dir
        return torch.load(data / "model.pth", weights_only=False)

    def _load_pyfunc(path):           # path: the local model dir (MLflow may pass a file in it)
        model_dir = models.model_dir_of(path)
        models.warn_if_untrusted("pickle")    # only if it unpickles; knows the origin pyfunc.load_model saw
        return Wrapper(...)           # .predict(data) or .predict(data, params=None)

pyfunc.load_model dispatches on ``python_function.loader_module`` (``mlflow.<flavor>`` is mapped to
``fittrace.<flavor>``), enforces the signature, then calls ``Wrapper.predict`` with numpy arrays
(tensor signatures) or a pandas DataFrame (column signatures).

Shared pieces (``fittrace.models.flavors``): ``PredictWrapper(model)`` (pyfunc calling ``model.predict``),
``class_path(model)`` / ``import_class(name, allowed_bases)`` to record and restore the model's class,
``flavor_section(path, flavor)`` -> (model dir, flavor conf) for ``_load_pyfunc``.

Other helpers: ``models.resolve_model_uri(uri, dst_path)`` (runs:/, models:/, local, file://, store URLs),
``models.Model.load(dir)`` for the MLmodel, ``models.infer_signature``, ``models.load_input_example(dir)``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Model": "fittrace.models.model",
    "ModelInfo": "fittrace.models.model",
    "MLMODEL_FILE_NAME": "fittrace.models.model",
    "ModelSignature": "fittrace.models.signature",
    "Schema": "fittrace.models.signature",
    "ColSpec": "fittrace.models.signature",
    "TensorSpec": "fittrace.models.signature",
    "ParamSchema": "fittrace.models.signature",
    "ParamSpec": "fittrace.models.signature",
    "DataType": "fittrace.models.signature",
    "infer_signature": "fittrace.models.signature",
    "validate_schema": "fittrace.models.enforcement",
    "load_input_example": "fittrace.models.input_example",
    "new_model_dir": "fittrace.models.saving",
    "write_model_metadata": "fittrace.models.saving",
    "log_model": "fittrace.models.saving",
    "load_flavor": "fittrace.models.loading",
    "LoadedFlavor": "fittrace.models.loading",
    "model_dir_of": "fittrace.models.loading",
    "model_file": "fittrace.models.loading",
    "get_model_info": "fittrace.models.loading",
    "warn_if_untrusted": "fittrace.models.loading",
    "resolve_model_uri": "fittrace.models.uri",
    "ResolvedModel": "fittrace.models.uri",
    "register_model": "fittrace.models.registry",
    "PredictWrapper": "fittrace.models.flavors",
    "class_path": "fittrace.models.flavors",
    "import_class": "fittrace.models.flavors",
    "flavor_section": "fittrace.models.flavors",
    "set_model": "fittrace.pyfunc.custom",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fittrace.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
