"""The ``MLmodel`` file: a model directory's description, in MLflow's YAML layout (written by ``yaml_text``)."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import datetime as _dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fittrace.entities import Record
from fittrace.exceptions import ResourceNotFoundError, StoreError
from fittrace.models.signature import ModelSignature, ParamSchema, Schema, dict_form
from fittrace.models.yaml_text import dump

MLMODEL_FILE_NAME = "MLmodel"
PYFUNC_FLAVOR = "python_function"

_written: contextvars.ContextVar[dict[str, dict[str, Any]] | None] = contextvars.ContextVar(
    "fittrace_mlmodel_written", default=None
)


def fittrace_version() -> str:
    from fittrace.tracking.environment import installed_version

    return installed_version("fittrace") or "unknown"


class Model:
    """The contents of an ``MLmodel`` file.

    Keys fittrace does not know (``mlflow_version``, ``model_size_bytes``, ...) are kept as
    attributes and written back unchanged.
    """

    def __init__(
        self,
        artifact_path: str | None = None,
        run_id: str | None = None,
        utc_time_created: str | None = None,
        flavors: dict[str, dict[str, Any]] | None = None,
        signature: ModelSignature | None = None,
        saved_input_example_info: dict[str, Any] | None = None,
        model_uuid: str | None = None,
        metadata: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        self.artifact_path = artifact_path
        self.run_id = run_id
        self.utc_time_created = utc_time_created or str(
            _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
        )
        self.flavors = flavors if flavors is not None else {}
        self.signature = signature
        self.saved_input_example_info = saved_input_example_info
        self.model_uuid = model_uuid or uuid.uuid4().hex
        self.metadata = metadata
        self.extra = extra

    def add_flavor(self, name: str, **params: Any) -> Model:
        self.flavors[name] = params
        return self

    def get_input_schema(self) -> Schema | None:
        return self.signature.inputs if self.signature is not None else None

    def get_output_schema(self) -> Schema | None:
        return self.signature.outputs if self.signature is not None else None

    def get_params_schema(self) -> ParamSchema | None:
        return self.signature.params if self.signature is not None else None

    def load_input_example(self, path: str | os.PathLike) -> Any:
        """The saved input example of the model directory at ``path`` (None if there is none)."""
        from fittrace.models.input_example import load_input_example

        return load_input_example(path, self.saved_input_example_info)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            flavors=self.flavors,
            model_uuid=self.model_uuid,
            utc_time_created=self.utc_time_created,
        )
        for key in ("artifact_path", "run_id", "saved_input_example_info", "metadata"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
        return out

    def to_yaml(self) -> str:
        return dump(self.to_dict(), sort_keys=True)

    def save(self, path: str | os.PathLike) -> None:
        """Write the MLmodel file (``path`` is the model directory or the file itself)."""
        target = Path(path)
        if target.is_dir():
            target = target / MLMODEL_FILE_NAME
        contents = self.to_dict()
        target.write_text(dump(contents, sort_keys=True), encoding="utf-8")
        written = _written.get()
        if written is not None:
            written[os.path.abspath(target)] = copy.deepcopy(contents)

    @classmethod
    @contextlib.contextmanager
    def recording_saves(cls) -> Iterator[dict[str, dict[str, Any]]]:
        """Within the block, every MLmodel file saved, by absolute path -> its contents as written.

        ``log_model`` reads the model it just saved from here instead of parsing the file.
        """
        written: dict[str, dict[str, Any]] = {}
        token = _written.set(written)
        try:
            yield written
        finally:
            _written.reset(token)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Model:
        d = dict(d)
        signature = d.pop("signature", None)
        if isinstance(signature, dict):
            d["signature"] = ModelSignature.from_dict(signature)
        return cls(**d)

    @classmethod
    def coerce(cls, model: Any) -> Model:
        """``model`` as fittrace's: itself, or MLflow's ``Model`` read through its ``to_dict()``."""
        if isinstance(model, cls):
            return model
        encoded = dict_form(model)
        if not isinstance(encoded, dict) or not isinstance(encoded.get("flavors"), dict):
            raise StoreError(f"Not an MLmodel description: {model!r}")
        return cls.from_dict(encoded)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Model:
        """Read the MLmodel of a model directory or file, or of a model URI (runs:/, models:/, ...)."""
        from fittrace.models.uri import _scheme, resolve_model_uri  # not needed to write one

        if isinstance(path, str) and len(_scheme(path) or "") > 1:  # a URI, not C:/...
            path = resolve_model_uri(path).path
        target = Path(path)
        if target.is_dir():
            target = target / MLMODEL_FILE_NAME
        try:
            text = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ResourceNotFoundError(
                f"No {MLMODEL_FILE_NAME} file at {str(target)!r}: not a model directory"
            ) from None
        import yaml  # only to read: fittrace writes its files without it

        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
            raise StoreError(
                f"{str(target)!r} is not a valid {MLMODEL_FILE_NAME} file (no 'flavors' mapping)"
            )
        return cls.from_dict(data)

    def __getattr__(self, name: str) -> Any:
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(f"'Model' object has no attribute {name!r}")

    def __eq__(self, other: object) -> bool:
        return self.to_dict() == dict_form(other)

    def __repr__(self) -> str:
        return f"Model(artifact_path={self.artifact_path!r}, flavors={sorted(self.flavors)}, run_id={self.run_id!r})"


@dataclass(frozen=True, repr=False, eq=False)
class ModelInfo(Record):
    """What ``log_model`` returns: where the model went and what it holds.

    As in MLflow 3: ``model_id`` and ``model_uri`` (``models:/<model_id>``) name the logged model,
    ``name`` is its ``artifact_path`` in the run; ``mlflow_version`` is set only for models MLflow
    saved (``fittrace_version`` for fittrace's).
    """

    model_uri: str
    artifact_path: str
    run_id: str
    flavors: dict[str, dict[str, Any]]
    model_uuid: str
    utc_time_created: str
    signature: ModelSignature | None = None
    saved_input_example_info: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    fittrace_version: str | None = None
    registered_model_version: int | None = None
    model_id: str | None = None
    mlflow_version: str | None = None

    @property
    def name(self) -> str:
        return self.artifact_path

    @classmethod
    def from_model(
        cls, model: Any, model_uri: str, registered_model_version: int | None = None
    ) -> ModelInfo:
        model = Model.coerce(model)
        return cls(
            model_uri=model_uri,
            artifact_path=model.artifact_path or "",
            run_id=model.run_id or "",
            flavors=model.flavors,
            model_uuid=model.model_uuid,
            utc_time_created=model.utc_time_created,
            signature=model.signature,
            saved_input_example_info=model.saved_input_example_info,
            metadata=model.metadata,
            fittrace_version=model.extra.get("fittrace_version"),
            registered_model_version=registered_model_version,
            model_id=model.extra.get("model_id"),
            mlflow_version=model.extra.get("mlflow_version"),
        )

    @property
    def signature_dict(self) -> dict[str, str | None] | None:
        return self.signature.to_dict() if self.signature is not None else None
