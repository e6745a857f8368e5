"""The ``pytorch`` model flavor: a state_dict plus the pickled module, in MLflow's layout.

A saved model directory holds::

    MLmodel                   flavors: python_function (loader mlflow.pytorch) and pytorch
    data/model.pth            torch.save(module) with cloudpickle: classes defined in __main__ travel
    data/pickle_module_info.txt   the unpickler MLflow's loader should use ("pickle")
    data/state_dict.pth       torch.save(module.state_dict()): tensors only, loadable weights_only=True
    requirements.txt, python_env.yaml, conda.yaml, input_example.json (when given)

``mlflow.pytorch.load_model`` reads this directory unchanged (``model_data``, ``pytorch_version``
and ``code`` keys), and ``load_model`` here reads MLflow's models in both of its formats
(pickled module, and ``torch.export`` "pt2" programs).

Two ways to load: ``load_model(uri)`` unpickles the full module (arbitrary code can run while
unpickling: load only what you trust; a warning is shown when the source is remote), and
``load_model(uri, model=MyNet())`` loads only the tensors with ``torch.load(weights_only=True)``
into a module you construct, which runs no code from the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fittrace import models
from fittrace.exceptions import InvalidParameterError

FLAVOR_NAME = "pytorch"
DATA_DIR = "data"
MODEL_FILE = "model.pth"
STATE_DICT_FILE = "state_dict.pth"
PICKLE_MODULE_INFO_FILE = "pickle_module_info.txt"
EXPORTED_MODEL_FILE = "model.pt2"  # MLflow's serialization_format="pt2"
# cloudpickle writes standard pickle streams: any loader reads them with pickle's Unpickler.
_UNPICKLER_MODULE = "pickle"


def _pickle_module() -> Any:
    try:
        import cloudpickle
    except ImportError:
        import pickle

        return pickle
    return cloudpickle


def _as_numpy(data: Any) -> Any:
    if hasattr(data, "detach") and hasattr(data, "cpu"):
        return data.detach().cpu().numpy()
    return data


def _example_predict_fn(pytorch_model: Any) -> Any:
    """Run the module on an input example (numpy/pandas) to infer a signature."""

    def predict(example: Any) -> Any:
        return _PytorchPyfuncModel(pytorch_model).predict(example)

    return predict


def save_model(
    pytorch_model: Any,
    path: str | os.PathLike,
    *,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: Any = None,
    extra_pip_requirements: Any = None,
    metadata: dict[str, Any] | None = None,
    pickle_module: Any = None,
) -> None:
    """Save an ``nn.Module`` as a model directory at ``path`` (state_dict + pickled module).

    Without a ``signature``, one is inferred by running the module on ``input_example``
    (a tensor, numpy array or DataFrame), when one is given.
    """
    import torch

    if not isinstance(pytorch_model, torch.nn.Module):
        raise InvalidParameterError(
            f"pytorch_model must be a torch.nn.Module, got {type(pytorch_model).__name__}"
        )
    # a torch.compile wrapper holds the module itself as _orig_mod
    module = getattr(pytorch_model, "_orig_mod", pytorch_model)
    pickler = pickle_module or _pickle_module()
    with models.new_model_dir(path) as model_dir:
        data = model_dir / DATA_DIR
        data.mkdir()
        torch.save(module.state_dict(), data / STATE_DICT_FILE)
        torch.save(module, data / MODEL_FILE, pickle_module=pickler)
        (data / PICKLE_MODULE_INFO_FILE).write_text(_UNPICKLER_MODULE, encoding="utf-8")
        models.write_model_metadata(
            model_dir,
            flavor=FLAVOR_NAME,
            flavor_conf={
                "pytorch_version": str(torch.__version__),
                "model_data": DATA_DIR,
                "state_dict": f"{DATA_DIR}/{STATE_DICT_FILE}",
                "module_class": f"{type(module).__module__}.{type(module).__qualname__}",
                "code": None,
            },
            loader_module="mlflow.pytorch",  # MLflow's format: MLflow loads it without fittrace
            requirements=["torch", getattr(pickler, "__name__", "pickle")],
            # the module's base classes' packages: lightning for a LightningModule
            modules={cls.__module__ for cls in type(module).__mro__},
            signature=signature,
            input_example=_as_numpy(input_example),
            predict_fn=_example_predict_fn(module),
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
            pyfunc_conf={"data": DATA_DIR},
        )


def log_model(pytorch_model: Any, artifact_path: str | None = "model", **kwargs: Any) -> Any:
    """Save the module and log it to ``run_id``, the active run, or a new one.

    Takes ``save_model``'s options plus ``registered_model_name``, ``run_id`` and ``name``
    (MLflow 3's spelling of ``artifact_path``); returns a ``fittrace.models.ModelInfo``.
    """
    return models.log_model(save_model, pytorch_model, artifact_path, **kwargs)


def _data_dir(loaded: Any) -> Path:
    return loaded.path / loaded.conf.get("model_data", DATA_DIR)


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(
    model_uri: str | os.PathLike,
    dst_path: str | os.PathLike | None = None,
    *,
    model: Any = None,
    map_location: Any = None,
    strict: bool = True,
) -> Any:
    """Load a saved PyTorch model, in eval mode.

    With ``model`` (an ``nn.Module`` you constructed), only the weights are read, with
    ``torch.load(weights_only=True)``, and loaded into it (``strict`` as in
    ``load_state_dict``); that module is returned. Without it, the pickled module is
    unpickled. ``map_location`` defaults to ``"cpu"``.
    """
    import torch

    loaded = models.load_flavor(model_uri, FLAVOR_NAME, dst_path)
    location = "cpu" if map_location is None else map_location
    if model is not None:
        if not isinstance(model, torch.nn.Module):
            raise InvalidParameterError(
                f"model must be a torch.nn.Module to load weights into, got {type(model).__name__}"
            )
        model.load_state_dict(_read_state_dict(loaded, location), strict=strict)
        return model.eval()
    loaded.warn_if_untrusted("pickle")
    return _unpickle_module(_data_dir(loaded), location)


def load_state_dict(
    model_uri: str | os.PathLike,
    dst_path: str | os.PathLike | None = None,
    *,
    map_location: Any = None,
) -> dict[str, Any]:
    """The saved weights as a state_dict, read with ``torch.load(weights_only=True)``."""
    loaded = models.load_flavor(model_uri, FLAVOR_NAME, dst_path)
    return _read_state_dict(loaded, "cpu" if map_location is None else map_location)


def load_checkpoint(
    model_class: Any,
    run_id: str | None = None,
    epoch: int | None = None,
    global_step: int | None = None,
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """A LightningModule restored from a checkpoint autologging saved (``checkpoint=True``).

    The run's latest checkpoint (of the active run when ``run_id`` is None), or the one saved
    at ``epoch`` / ``global_step``; ``kwargs`` go to ``model_class.load_from_checkpoint``.
    """
    from fittrace.autologging import checkpoints

    path = checkpoints.download(run_id, epoch, global_step, None)
    return model_class.load_from_checkpoint(path, **(kwargs or {}))


def _read_state_dict(loaded: Any, location: Any) -> dict[str, Any]:
    import torch

    relative = loaded.conf.get("state_dict")
    path = loaded.path / relative if relative else _data_dir(loaded) / STATE_DICT_FILE
    if not path.is_file():
        raise InvalidParameterError(
            f"The model at {loaded.source!r} has no state_dict file ({path.name}): it was saved without "
            "separate weights (as MLflow saves models). Load it with load_model(uri) without model=, "
            "from a source you trust."
        )
    return torch.load(path, map_location=location, weights_only=True)


def _unpickle_module(data_dir: Path, location: Any) -> Any:
    """The module of ``data/model.pth`` (fittrace, MLflow "pickle") or ``data/model.pt2`` (MLflow "pt2")."""
    import torch

    path = data_dir / MODEL_FILE
    if path.is_file():
        return torch.load(path, map_location=location, weights_only=False).eval()
    exported = data_dir / EXPORTED_MODEL_FILE
    if exported.is_file():  # torch.export program: a graph module, already in inference form
        return torch.export.load(exported).module()
    raise InvalidParameterError(
        f"{str(data_dir)!r} holds neither {MODEL_FILE} nor {EXPORTED_MODEL_FILE}; it is not a PyTorch model"
    )


def _load_pyfunc(path: str | os.PathLike) -> _PytorchPyfuncModel:
    """The python_function loader: a wrapper whose ``predict`` runs the module under no_grad."""
    directory = models.model_dir_of(path)
    if any((directory / name).is_file() for name in (MODEL_FILE, EXPORTED_MODEL_FILE)):
        data = directory  # MLflow hands the loader the data directory itself
    else:
        data = directory / DATA_DIR
    models.warn_if_untrusted("pickle")
    return _PytorchPyfuncModel(_unpickle_module(data, _default_device()))


class _PytorchPyfuncModel:
    """``predict(data)`` for numpy arrays, DataFrames, tensors, or dicts of them (keyword inputs)."""

    def __init__(self, pytorch_model: Any) -> None:
        self.pytorch_model = pytorch_model

    def get_raw_model(self) -> Any:
        return self.pytorch_model

    def _tensor(self, data: Any) -> Any:
        import numpy as np
        import torch

        if hasattr(data, "to_numpy") and hasattr(data, "columns"):
            data = data.to_numpy()
        if not isinstance(data, torch.Tensor):
            array = np.asarray(data)
            data = torch.as_tensor(array if array.flags.writeable else array.copy())
        reference = next(self.pytorch_model.parameters(), None)
        if reference is None:
            return data
        if (
            data.is_floating_point()
            and reference.is_floating_point()
            and data.dtype != reference.dtype
        ):
            data = data.to(reference.dtype)
        return data.to(reference.device)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import torch

        with torch.no_grad():
            if isinstance(data, dict):
                output = self.pytorch_model(
                    **{k: self._tensor(v) for k, v in data.items()}, **(params or {})
                )
            else:
                output = self.pytorch_model(self._tensor(data), **(params or {}))
        if not isinstance(output, torch.Tensor):
            raise InvalidParameterError(
                f"The PyTorch model returned {type(output).__name__}; pyfunc predict needs a single tensor output"
            )
        result = output.detach().cpu().numpy()
        if hasattr(data, "index") and hasattr(data, "columns"):
            import pandas as pd

            return pd.DataFrame(result, index=data.index)
        return result
