"""Writing model directories and logging them to runs: the part every flavor shares."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import platform
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from fittrace.exceptions import InvalidParameterError, ResourceAlreadyExistsError
from fittrace.models.model import (
    MLMODEL_FILE_NAME,
    PYFUNC_FLAVOR,
    Model,
    ModelInfo,
    fittrace_version,
)
from fittrace.models.signature import ModelSignature, infer_signature

_logger = logging.getLogger("fittrace.models")


class _LogTarget(NamedTuple):
    run_id: str
    artifact_path: str
    model_id: str


# Set by log_model while the flavor's save_model runs, so the MLmodel records where it goes.
_LOG_TARGET: contextvars.ContextVar[_LogTarget | None] = contextvars.ContextVar(
    "fittrace_log_target", default=None
)


@contextlib.contextmanager
def new_model_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Create an empty model directory; if the body raises, remove what it wrote."""
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ResourceAlreadyExistsError(
            f"Cannot save a model to {str(target)!r}: the path already exists and is not an empty directory"
        )
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        yield target
    except BaseException:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for child in target.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
        raise


def write_model_metadata(
    model_dir: str | os.PathLike,
    *,
    flavor: str,
    flavor_conf: dict[str, Any],
    loader_module: str | None,
    requirements: Iterable[str] = (),
    modules: Iterable[str] = (),
    signature: ModelSignature | None | bool = None,
    input_example: Any = None,
    predict_fn: Callable[[Any], Any] | None = None,
    pip_requirements: Iterable[str] | None = None,
    extra_pip_requirements: Iterable[str] | None = None,
    metadata: dict[str, Any] | None = None,
    pyfunc_conf: dict[str, Any] | None = None,
) -> Model:
    """Write MLmodel, the input example, requirements.txt and the env files beside a flavor's data.

    ``requirements`` are distribution names and ``modules`` import names (e.g. the classes a
    pipeline holds) to pin from the installed versions; ``pip_requirements`` replaces that list and
    ``extra_pip_requirements`` adds to it. With ``signature=None``, an ``input_example`` and a
    ``predict_fn``, the signature is inferred from the example and its prediction
    (``signature=False`` turns that off). ``loader_module=None`` writes no python_function flavor.
    """
    from fittrace.models.input_example import save_input_example
    from fittrace.models.requirements import (
        merge_requirements,
        pinned_requirements,
        write_environment,
    )

    directory = Path(model_dir)
    target = _LOG_TARGET.get()
    mlmodel = Model(
        artifact_path=target.artifact_path if target else None,
        run_id=target.run_id if target else None,
        metadata=metadata,
        fittrace_version=fittrace_version(),
        **({"model_id": target.model_id} if target else {}),
    )
    if input_example is not None:
        mlmodel.saved_input_example_info = save_input_example(directory, input_example)
        if signature is None and predict_fn is not None:
            signature = _signature_from_example(input_example, predict_fn)
    if signature is not None and signature is not False:
        mlmodel.signature = ModelSignature.coerce(signature)
    requirement_lines = merge_requirements(
        pinned_requirements(requirements, modules), pip_requirements, extra_pip_requirements
    )
    env = write_environment(directory, requirement_lines)
    if loader_module:
        mlmodel.add_flavor(
            PYFUNC_FLAVOR,
            loader_module=loader_module,
            python_version=platform.python_version(),
            env=env,
            **(pyfunc_conf or {}),
        )
    if flavor != PYFUNC_FLAVOR:  # a python_function-only model: pyfunc_conf is its section
        mlmodel.add_flavor(flavor, **flavor_conf)
    mlmodel.save(directory)
    return mlmodel


def _signature_from_example(
    example: Any, predict_fn: Callable[[Any], Any]
) -> ModelSignature | None:
    try:
        return infer_signature(example, predict_fn(example))
    except Exception as e:  # a model that cannot predict on its example still gets saved
        warnings.warn(
            f"Could not infer the model signature from the input example: {e}. "
            "Pass signature=infer_signature(X, y) to record one.",
            UserWarning,
            stacklevel=4,
        )
        return None


def log_model(
    save_fn: Callable[..., Any],
    model: Any,
    artifact_path: str | None = "model",
    *,
    name: str | None = None,
    registered_model_name: str | None = None,
    run_id: str | None = None,
    await_registration_for: Any = None,
    **save_kwargs: Any,
) -> ModelInfo:
    """Save ``model`` with the flavor's ``save_fn(model, path, **save_kwargs)`` and log it to a run.

    Logs into ``run_id``, else the active run, else a newly started run (left active, as in
    MLflow). ``name`` is MLflow 3's spelling of ``artifact_path``. The model gets a new
    ``model_id``; ``ModelInfo.model_uri`` is ``models:/<model_id>`` and ``runs:/<run_id>/<name>``
    loads it too. With ``registered_model_name``
    the model is created in the registry if needed and gets its next version (registration is
    synchronous; ``await_registration_for`` is accepted for MLflow compatibility).
    """
    from fittrace.models import logged
    from fittrace.store.artifacts import clean_artifact_path
    from fittrace.tracking.client import Client

    path = clean_artifact_path(name or artifact_path)
    if not path:
        raise InvalidParameterError(
            f"artifact_path must name a directory inside the run, got {artifact_path!r}"
        )
    if run_id is None:
        from fittrace.tracking import fluent

        run = fluent.active_run() or fluent.start_run()
        run_id = run.info.run_id
    client = Client()
    repo = client.artifact_repository(run_id)
    # Saved next to the run's artifacts, so a local store takes the folder with one rename.
    with tempfile.TemporaryDirectory(prefix="fittrace-model-", dir=repo.staging_dir()) as tmp:
        local = Path(tmp) / "model"
        model_id = logged.new_model_id()
        token = _LOG_TARGET.set(_LogTarget(run_id, path, model_id))
        try:
            with Model.recording_saves() as written:
                save_fn(model, local, **save_kwargs)
        finally:
            _LOG_TARGET.reset(token)
        saved = written.get(os.path.abspath(local / MLMODEL_FILE_NAME))
        mlmodel = Model.from_dict(saved) if saved is not None else Model.load(local)
        repo.move_dir(str(local), path)
    logged.record(client, run_id, model_id, path)
    version = None
    if registered_model_name:
        from fittrace.models.registry import register_model

        run_uri = f"runs:/{run_id}/{path}"
        version = register_model(run_uri, registered_model_name, client=client).version
    _logger.debug("Logged model %s to runs:/%s/%s", model_id, run_id, path)
    return ModelInfo.from_model(mlmodel, f"models:/{model_id}", version)
