"""What the tracking server and ``RestStore`` exchange: the callable store methods, values as JSON, errors.

A store call is ``POST /api/fittrace/v1/store/<method>`` with a JSON object of keyword
arguments; the answer is ``{"result": value}`` or ``{"error": {"type": ..., "message": ...}}``.
Values are JSON with four tagged forms, so what the store returns arrives as the same objects:

- ``{"$f": "NaN" | "Infinity" | "-Infinity"}``: a float JSON cannot spell;
- ``{"$t": "<entity class>", field: value, ...}``: an entity (``Run``, ``Metric``...) or
  ``{"$t": "PagedList", "items": [...], "token": ...}``;
- ``{"$map": [[key, value], ...]}``: a dict whose keys are not all strings free of a leading
  ``$`` (every other dict is a plain JSON object);
- ``{"$a": "q" | "d", "bytes": base64}``: an ``array.array`` of int64 or float64, packed
  little-endian (a ``MetricHistory``'s columns).

Tuples travel as lists. Only the entity classes listed here are ever built from a message.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import numbers
from array import array
from collections.abc import Iterable, Mapping
from typing import Any

from fittrace import exceptions
from fittrace.entities import (
    DatasetInput,
    Experiment,
    FileInfo,
    LoggedModelInput,
    Metric,
    MetricHistory,
    ModelVersion,
    PagedList,
    Param,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)
from fittrace.exceptions import (
    FittraceError,
    InvalidParameterError,
    ParamConflictError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
    SignatureEnforcementError,
    StoreError,
)
from fittrace.store import metric_blocks

API_PREFIX = "/api/fittrace/v1"

# The store methods a client may call, by whether they change anything. Everything else on the
# store (close, connections, private helpers, attributes) is out of reach.
READ_METHODS = frozenset(
    {
        "get_experiment",
        "get_experiment_by_name",
        "search_experiments",
        "count_runs",
        "count_matching_runs",
        "get_run_info",
        "get_run",
        "get_params",
        "get_metric_history",
        "get_metric_history_columns",
        "search_runs",
        "get_registered_model",
        "search_registered_models",
        "get_model_version",
        "search_model_versions",
        "get_latest_versions",
        "get_model_version_by_alias",
    }
)
WRITE_METHODS = frozenset(
    {
        "create_experiment",
        "set_experiment_lifecycle",
        "set_experiment_tag",
        "create_run",
        "resume_run",
        "update_run_info",
        "set_run_lifecycle",
        "write_batch",
        "delete_tag",
        "log_inputs",
        "create_registered_model",
        "update_registered_model",
        "delete_registered_model",
        "set_registered_model_tag",
        "delete_registered_model_tag",
        "create_model_version",
        "update_model_version",
        "delete_model_version",
        "set_model_version_tag",
        "delete_model_version_tag",
        "set_registered_model_alias",
        "delete_registered_model_alias",
    }
)
METHODS = READ_METHODS | WRITE_METHODS

_ENTITIES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        Experiment,
        Metric,
        MetricHistory,
        Param,
        RunTag,
        RunInfo,
        RunData,
        DatasetInput,
        RunInputs,
        LoggedModelInput,
        Run,
        FileInfo,
        ModelVersion,
        RegisteredModel,
    )
}
_FIELDS = {name: tuple(f.name for f in dataclasses.fields(cls)) for name, cls in _ENTITIES.items()}
_SCALARS = (str, int, bool, type(None))
_ARRAY_CODES = ("q", "d")  # int64 and float64 columns


# ------------------------------------------------------------------------------------ values


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return {"$f": "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")}


def encode(value: Any) -> Any:
    """``value`` as plain JSON data (see the module docstring); TypeError for what cannot travel."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is float:
        return _float(value)
    if kind is list or kind is tuple:
        return [encode(v) for v in value]
    if kind is dict:
        if all(type(k) is str and not k.startswith("$") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"$map": [[encode(k), encode(v)] for k, v in value.items()]}
    if kind is array:  # a MetricHistory's columns: their packed bytes, not a number each
        return {"$a": value.typecode, "bytes": base64.b64encode(metric_blocks.pack(value)).decode()}
    if isinstance(value, PagedList):
        return {"$t": "PagedList", "items": [encode(v) for v in value], "token": value.token}
    for base in kind.__mro__:  # an entity, or a subclass of one (ActiveRun is a Run)
        name = base.__name__
        if _ENTITIES.get(name) is base:
            return {"$t": name, **{f: encode(getattr(value, f)) for f in _FIELDS[name]}}
    if isinstance(value, numbers.Integral):  # numpy integers, IntEnum...
        return bool(value) if isinstance(value, bool) else int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Real):
        return _float(float(value))
    if isinstance(value, Mapping):
        return encode(dict(value))
    if isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
        return [encode(v) for v in value]
    raise TypeError(f"A {kind.__name__} cannot be sent to the tracking server")


def _decode_object(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$f" in obj:
            text = obj["$f"]
            if text not in ("NaN", "Infinity", "-Infinity"):
                raise ValueError(f"not a special float: {text!r}")
            return float(text)
        if "$map" in obj:
            return {k: v for k, v in obj["$map"]}
    if "$a" in obj:
        code = obj["$a"]
        if code not in _ARRAY_CODES or set(obj) != {"$a", "bytes"}:
            raise ValueError(f"not an array of a known type: {code!r}")
        return metric_blocks.unpack(code, base64.b64decode(obj["bytes"], validate=True))
    name = obj.get("$t")
    if name is None:
        return obj
    if name == "PagedList":
        return PagedList(obj["items"], obj["token"])
    cls = _ENTITIES.get(name)
    if cls is None:
        raise ValueError(f"unknown type {name!r}")
    return cls(**{k: v for k, v in obj.items() if k != "$t"})


def metric_columns(rows: list[tuple[str, str, float, int, int]]) -> dict[str, list[Any]]:
    """write_batch's metric rows as ``metric_columns``: each distinct run id and key once, the
    rows' indexes into them, and the values, timestamps and steps as flat lists. About half the
    bytes of rows, and no JSON object per row; ``metric_rows`` undoes it.
    ValueError or TypeError for rows that are not five plain items."""
    runs, keys, values, timestamps, steps = zip(*rows, strict=True) if rows else ((),) * 5
    run_ids, names = list(dict.fromkeys(runs)), list(dict.fromkeys(keys))
    if not all(map(math.isfinite, values)):
        values = tuple(map(_float, values))
    return {
        "runs": run_ids,
        "run": list(map({r: i for i, r in enumerate(run_ids)}.__getitem__, runs)),
        "keys": names,
        "key": list(map({k: i for i, k in enumerate(names)}.__getitem__, keys)),
        "value": list(values),
        "timestamp": list(timestamps),
        "step": list(steps),
    }


def metric_rows(columns: Any) -> list[tuple[Any, ...]]:
    """The (run_id, key, value, timestamp, step) rows of decoded ``metric_columns``, unchecked
    beyond their shape (InvalidParameterError if the columns do not fit together)."""
    try:
        run, key = columns["run"], columns["key"]
        values, timestamps, steps = columns["value"], columns["timestamp"], columns["step"]
        lists = (columns["runs"], columns["keys"], run, key, values, timestamps, steps)
        if not all(type(c) is list for c in lists):
            raise TypeError("every column must be a list")
        if len({len(run), len(key), len(values), len(timestamps), len(steps)}) > 1:
            raise ValueError("the columns differ in length")
        if run and min(run) < 0 or key and min(key) < 0:
            raise ValueError("a negative index")
        runs = map(columns["runs"].__getitem__, run)
        return list(
            zip(runs, map(columns["keys"].__getitem__, key), values, timestamps, steps, strict=True)
        )
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise InvalidParameterError(f"write_batch: malformed metric_columns ({e})") from None


def dumps_encoded(value: Any) -> bytes:
    """Compact JSON of ``value`` already encoded (plain JSON data, no NaN)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8")


def dumps(value: Any) -> bytes:
    """``value`` encoded, as compact JSON bytes (never NaN or Infinity literals)."""
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=False).encode("utf-8")


def loads(data: bytes | str) -> Any:
    """The value ``dumps`` encoded; ValueError (or TypeError) for a malformed message."""
    return json.loads(data, object_hook=_decode_object)


# ------------------------------------------------------------------------------------ errors

_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (ResourceNotFoundError, 404),
    (ResourceAlreadyExistsError, 409),
    (ParamConflictError, 409),
    (InvalidParameterError, 400),
    (SignatureEnforcementError, 400),
)


def error_status(error: FittraceError) -> int:
    """The HTTP status for a fittrace error raised by a store call."""
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 500


def error_body(error_type: str, message: str) -> bytes:
    return dumps({"error": {"type": error_type, "message": message}})


def exception_from(error: Any) -> FittraceError:
    """The exception an ``{"type", "message"}`` error object stands for: a fittrace.exceptions
    class of that name, else StoreError."""
    if not isinstance(error, dict):
        return StoreError(f"Malformed error from the tracking server: {error!r}")
    message = str(error.get("message", ""))
    cls = getattr(exceptions, str(error.get("type", "")), None)
    if isinstance(cls, type) and issubclass(cls, FittraceError):
        return cls(message)
    return StoreError(message)
