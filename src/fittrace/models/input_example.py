"""Input examples stored beside a model as JSON, in MLflow's formats.

DataFrames use pandas' split orient without the index (``{"columns": [...], "data": [[...]]}``),
arrays are nested lists, a dict of arrays is a dict of nested lists, sparse matrices keep their
CSR/CSC parts. ``serving_input_example.json`` holds the same data as a serving request body.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fittrace.exceptions import InvalidParameterError
from fittrace.models.signature import as_numpy_if_tensor

EXAMPLE_FILE = "input_example.json"
SERVING_FILE = "serving_input_example.json"


def _jsonable(value: Any) -> Any:
    """Plain JSON types for numpy/pandas scalars, datetimes and bytes (base64, as MLflow does)."""
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp, numpy datetime64 via item()
        return value.isoformat()
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    raise InvalidParameterError(
        f"Cannot store {type(value).__name__} value {value!r} in an input example"
    )


def _frame_payload(frame: Any) -> dict[str, Any]:
    rows = (
        frame.astype(object).where(frame.notna(), None).values.tolist()
        if len(frame.columns)
        else []
    )
    return {"columns": [str(c) for c in frame.columns], "data": _jsonable(rows)}


def _encode(example: Any) -> tuple[dict[str, Any], Any, Any]:
    """(info for MLmodel, input_example.json payload, serving payload)."""
    example = as_numpy_if_tensor(example)
    module = type(example).__module__ or ""
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(example, pd.Series):
            example = example.to_frame()
        if isinstance(example, pd.DataFrame):
            payload = _frame_payload(example)
            info = {"type": "dataframe", "pandas_orient": "split"}
            return info, payload, {"dataframe_split": payload}
    if module.startswith("scipy.sparse") and hasattr(example, "tocsr"):
        fmt = "csc" if example.format == "csc" else "csr"
        matrix = example.tocsc() if fmt == "csc" else example.tocsr()
        payload = {
            "data": _jsonable(matrix.data),
            "indices": _jsonable(matrix.indices),
            "indptr": _jsonable(matrix.indptr),
            "shape": list(matrix.shape),
        }
        return {"type": f"sparse_{fmt}"}, payload, {"inputs": _jsonable(matrix.toarray())}
    if module == "numpy" and hasattr(example, "shape"):
        payload = _jsonable(example)
        return {"type": "ndarray"}, payload, {"inputs": payload}
    if (
        isinstance(example, Mapping)
        and example
        and all(type(as_numpy_if_tensor(v)).__module__ == "numpy" for v in example.values())
    ):
        payload = {str(k): _jsonable(as_numpy_if_tensor(v)) for k, v in example.items()}
        return {"type": "ndarray"}, payload, {"inputs": payload}
    payload = _jsonable(example)
    if isinstance(example, list) and example and all(isinstance(r, Mapping) for r in example):
        return {"type": "json_object"}, payload, {"dataframe_records": payload}
    return {"type": "json_object"}, payload, {"inputs": payload}


def save_input_example(model_dir: str | os.PathLike, example: Any) -> dict[str, Any]:
    """Write ``input_example.json`` (+ the serving form) into ``model_dir``; return the MLmodel info."""
    info, payload, serving = _encode(example)
    directory = Path(model_dir)
    (directory / EXAMPLE_FILE).write_text(json.dumps(payload), encoding="utf-8")
    (directory / SERVING_FILE).write_text(json.dumps(serving, indent=2), encoding="utf-8")
    return {"artifact_path": EXAMPLE_FILE, **info, "serving_input_path": SERVING_FILE}


def load_input_example(model_dir: str | os.PathLike, info: Mapping[str, Any] | None = None) -> Any:
    """The input example saved in ``model_dir`` (DataFrame, ndarray, dict, sparse matrix or JSON), or None."""
    if info is None:
        from fittrace.models.model import Model

        info = Model.load(model_dir).saved_input_example_info
    if not info:
        return None
    path = Path(model_dir) / info.get("artifact_path", EXAMPLE_FILE)
    payload = json.loads(path.read_text(encoding="utf-8"))
    kind = info.get("type")
    if kind == "dataframe":
        import pandas as pd

        return pd.DataFrame(payload["data"], columns=payload["columns"])
    if kind == "ndarray":
        import numpy as np

        if isinstance(payload, dict):
            return {k: np.asarray(_nan_safe(v)) for k, v in payload.items()}
        return np.asarray(_nan_safe(payload))
    if kind in ("sparse_csr", "sparse_csc"):
        import scipy.sparse as sp

        cls = sp.csr_matrix if kind == "sparse_csr" else sp.csc_matrix
        return cls((payload["data"], payload["indices"], payload["indptr"]), shape=payload["shape"])
    return payload


def _nan_safe(value: Any) -> Any:
    """None inside numeric nested lists back to NaN."""
    if isinstance(value, list):
        return [_nan_safe(v) for v in value]
    return math.nan if value is None else value
