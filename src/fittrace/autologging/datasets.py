"""Training data as a run input: name, shape, schema and a content digest — never a copy of the data.

The digest hashes the shape, the dtypes and three bounded samples of the rows
(head, tail and an evenly strided selection, ``SAMPLE_BYTES`` each), so its
cost and memory do not grow with the data; sparse matrices are hashed through
their stored arrays, never densified. torch tensors are sampled the same way on
their own device and only the sampled rows are copied to the host (one copy).
torch is never imported here: a tensor is recognised only when torch is already
loaded. The schema is MLflow's, inferred from the first rows (``schema_text``).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from typing import Any

from fittrace.entities import DatasetInput

SAMPLE_BYTES = 16 * 1024


def _is_pandas(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas") and hasattr(obj, "iloc")


def _is_sparse(obj: Any) -> bool:
    return type(obj).__module__.startswith("scipy.sparse") and hasattr(obj, "nnz")


def _is_torch(obj: Any) -> bool:
    tensor = getattr(sys.modules.get("torch"), "Tensor", None)  # None: torch not (fully) loaded
    return isinstance(tensor, type) and isinstance(obj, tensor)


def _sample_rows(n_rows: int, row_bytes: int) -> tuple[slice, slice, slice]:
    rows = max(1, SAMPLE_BYTES // max(row_bytes, 1))
    step = max(1, n_rows // rows)
    return slice(0, rows), slice(max(0, n_rows - rows), n_rows), slice(0, None, step)


def _hash_array(h: Any, a: Any) -> None:
    """Feed dtype, shape and sampled rows of a numpy array to ``h``."""
    import numpy as np

    h.update(f"{a.dtype.str}{a.shape}".encode())
    if a.ndim == 0 or a.size == 0:
        h.update(repr(a.tolist()).encode())
        return
    row_bytes = a.itemsize * (a.size // a.shape[0])
    head, tail, strided = _sample_rows(a.shape[0], row_bytes)
    rows = head.stop
    for part in (a[head], a[tail], a[strided][:rows]):
        if a.dtype.hasobject:
            h.update(repr(part.tolist()).encode())
        else:
            h.update(memoryview(np.ascontiguousarray(part)).cast("B"))


def _hash_tensor(h: Any, t: Any) -> None:
    """Feed dtype, shape and sampled rows of a torch tensor to ``h``; only those rows reach the host."""
    import torch

    t = t.detach()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    if t.layout != torch.strided:  # sparse / nested tensors: their structure only
        h.update(f"{t.layout}".encode())
        return
    if t.ndim == 0 or t.numel() == 0:
        h.update(repr(t.cpu().tolist()).encode())
        return
    row_bytes = t.element_size() * (t.numel() // t.shape[0])
    head, tail, strided = _sample_rows(t.shape[0], row_bytes)
    sample = torch.cat((t[head], t[tail], t[strided][: head.stop])).cpu().contiguous()
    try:
        array = sample.numpy()
    except TypeError:  # no numpy dtype (bfloat16, float8, ...): hash the raw bytes
        array = sample.view(torch.uint8).numpy()
    h.update(memoryview(array).cast("B"))


def _hash_frame(h: Any, frame: Any) -> None:
    import pandas as pd

    columns = (
        [(str(c), str(t)) for c, t in frame.dtypes.items()]
        if hasattr(frame, "dtypes") and frame.ndim == 2
        else [(str(frame.name), str(frame.dtype))]
    )
    h.update(f"{frame.shape}{columns}".encode())
    head, tail, strided = _sample_rows(len(frame), 8 * max(1, len(columns)))
    for part in (frame.iloc[head], frame.iloc[tail], frame.iloc[strided].iloc[: head.stop]):
        h.update(memoryview(pd.util.hash_pandas_object(part, index=False).to_numpy()).cast("B"))


def _hash_sparse(h: Any, matrix: Any) -> None:
    h.update(f"{matrix.format}{matrix.shape}{matrix.nnz}".encode())
    for name in ("data", "indices", "indptr", "row", "col", "offsets"):
        part = getattr(matrix, name, None)
        if part is not None and getattr(part, "ndim", 0) >= 1:
            _hash_array(h, part)


def _hash_any(h: Any, data: Any) -> None:
    import numpy as np

    if _is_pandas(data):
        _hash_frame(h, data)
    elif _is_sparse(data):
        _hash_sparse(h, data)
    elif isinstance(data, np.ndarray):
        _hash_array(h, data)
    elif _is_torch(data):
        _hash_tensor(h, data)
    elif isinstance(data, (list, tuple)):
        h.update(f"{type(data).__name__}{len(data)}{data[:100]!r}{data[-100:]!r}".encode())
    else:
        h.update(f"{type(data).__qualname__}{getattr(data, 'shape', None)}".encode())


def digest(*data: Any) -> str:
    """An 8-hex-digit digest of the given arrays/frames (None entries skipped)."""
    h = hashlib.blake2b(digest_size=4)
    for part in data:
        if part is not None:
            _hash_any(h, part)
    return h.hexdigest()


def _shape(data: Any) -> list[int] | None:
    shape = getattr(data, "shape", None)
    if shape is None and isinstance(data, (list, tuple)):
        shape = (len(data),)
    return [int(s) for s in shape] if shape is not None else None


def _nbytes(data: Any) -> int | None:
    if _is_sparse(data):
        return int(
            sum(
                getattr(data, n).nbytes
                for n in ("data", "indices", "indptr", "row", "col")
                if hasattr(data, n)
            )
        )
    if _is_pandas(data):
        return None  # memory_usage(deep=True) would scan object columns
    if _is_torch(data):
        return int(data.element_size() * data.numel())
    nbytes = getattr(data, "nbytes", None)
    return int(nbytes) if isinstance(nbytes, int) else None


def _spec(data: Any) -> Any:
    if _is_pandas(data):
        if data.ndim == 2:
            return [{"name": str(c), "type": str(t)} for c, t in data.dtypes.items()]
        return [{"name": str(data.name), "type": str(data.dtype)}]
    shape = _shape(data)
    spec: dict[str, Any] = {"type": "sparse" if _is_sparse(data) else "tensor"}
    if hasattr(data, "dtype"):
        spec["dtype"] = str(data.dtype)
    if shape is not None:
        spec["shape"] = [-1, *shape[1:]]
    return spec


def profile(X: Any, y: Any) -> dict[str, Any]:
    """Shapes, element counts and byte sizes of the features ``X`` and targets ``y``."""
    profile: dict[str, Any] = {}
    for prefix, data in (("features", X), ("targets", y)):
        if data is None:
            continue
        shape = _shape(data)
        if shape is not None:
            profile[f"{prefix}_shape"] = shape
            profile[f"{prefix}_size"] = math.prod(shape)
        nbytes = _nbytes(data)
        if nbytes is not None:
            profile[f"{prefix}_nbytes"] = nbytes
    return profile


_SCHEMA_ROWS = 8  # the rows a dataset's schema is inferred from: dtypes and trailing shape only


def _head(data: Any) -> Any:
    if _is_sparse(data):
        return data  # its schema reads dtype and shape only
    return data.iloc[:_SCHEMA_ROWS] if _is_pandas(data) else data[:_SCHEMA_ROWS]


def schema_text(X: Any, y: Any) -> str:
    """MLflow's dataset schema: ``{"mlflow_colspec": [...]}`` for a DataFrame's columns, else
    ``{"mlflow_tensorspec": {"features": "<schema JSON>", "targets": ... or null}}``; data that
    MLflow's schema cannot describe as ``{"features": spec, "targets": spec}``."""
    from fittrace.models.signature import infer_schema

    try:
        if _is_pandas(X) and X.ndim == 2:
            return json.dumps({"mlflow_colspec": infer_schema(_head(X)).to_dict()})
        features = infer_schema(_head(X)).to_json()
        targets = None if y is None else infer_schema(_head(y)).to_json()
        return json.dumps({"mlflow_tensorspec": {"features": features, "targets": targets}})
    except Exception:  # noqa: BLE001 - lists of records, objects: fittrace's own description
        schema = {"features": _spec(X)}
        if y is not None:
            schema["targets"] = _spec(y)
        return json.dumps(schema, default=str)


def dataset_input(X: Any, y: Any, name: str, context: str, source: str) -> DatasetInput:
    """A run input describing ``(X, y)``; reads only shapes, dtypes and bounded row samples."""
    return DatasetInput(
        name=name,
        digest=digest(X, y),
        source_type="code",
        source=json.dumps({"source_name": source}),
        schema=schema_text(X, y),
        profile=json.dumps(profile(X, y)),
        context=context,
    )
