"""Checking model input against a signature before predict.

Column schemas: missing required columns raise, extra columns are dropped with a warning,
columns are put in the signature's order, and values are cast when no value changes
(int32 -> int64, int -> double while exact, whole floats -> int, ...). Tensor schemas: shape and
dtype are checked the same way. The caller's data is never modified.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from typing import Any

from fittrace.exceptions import SignatureEnforcementError
from fittrace.models.signature import (
    ColSpec,
    DataType,
    ParamSchema,
    Schema,
    TensorSpec,
    as_numpy_if_tensor,
)

# Largest magnitude each float type holds every integer up to.
_EXACT_INT_LIMIT = {4: 2**24, 8: 2**53, 2: 2**11}


def validate_schema(data: Any, schema: Schema) -> None:
    """Raise SignatureEnforcementError if ``data`` cannot be made to fit ``schema``."""
    enforce_schema(data, schema)


def enforce_schema(data: Any, schema: Schema) -> Any:
    """``data`` converted to fit ``schema`` (a new object), or SignatureEnforcementError."""
    if not schema.inputs:
        return data
    if schema.is_tensor_spec():
        return _enforce_tensors(data, schema)
    return _enforce_columns(data, schema)


# --------------------------------------------------------------------------- columns


def _to_frame(data: Any, schema: Schema) -> Any:
    import numpy as np
    import pandas as pd

    names = schema.input_names()
    data = as_numpy_if_tensor(data)
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        if len(names) == 1:
            return data.to_frame(name=names[0])
        return data.to_frame()
    if isinstance(data, Mapping):
        if all(np.ndim(v) == 0 for v in data.values()):
            return pd.DataFrame([dict(data)])
        return pd.DataFrame(dict(data))
    if isinstance(data, (list, tuple)) and data and all(isinstance(r, Mapping) for r in data):
        return pd.DataFrame(list(data))
    if isinstance(data, (str, bytes)):
        data = [data]
    if _module_of(data).startswith("scipy.sparse"):
        data = data.toarray()
    try:
        array = np.asarray(data) if not isinstance(data, np.ndarray) else data
    except ValueError as e:
        raise SignatureEnforcementError(f"Cannot read the model input as a table: {e}") from e
    if array.ndim == 1 and len(names) == 1:
        return pd.DataFrame({names[0]: array})
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != len(names):
        raise SignatureEnforcementError(
            f"The model expects {len(names)} columns {_show(names)}, but the input has shape {array.shape}"
        )
    return pd.DataFrame({name: array[:, i] for i, name in enumerate(names)})


def _show(names: list) -> str:
    shown = [str(n) for n in names[:20]]
    return "[" + ", ".join(repr(n) for n in shown) + (", ...]" if len(names) > 20 else "]")


def _module_of(obj: Any) -> str:
    return type(obj).__module__ or ""


def _enforce_columns(data: Any, schema: Schema) -> Any:
    import pandas as pd

    frame = _to_frame(data, schema)
    if not schema.has_input_names():
        if frame.shape[1] != len(schema.inputs):
            raise SignatureEnforcementError(
                f"The model expects {len(schema.inputs)} unnamed columns, but the input has {frame.shape[1]}"
            )
        return pd.DataFrame(
            {
                col: _enforce_column(frame[col], spec, f"column {i}")
                for i, (col, spec) in enumerate(zip(frame.columns, schema.inputs, strict=True))
            }
        )
    by_name = {str(c): c for c in frame.columns}
    missing = [s.name for s in schema.inputs if s.required and str(s.name) not in by_name]
    expected = {str(s.name) for s in schema.inputs}
    extra = [name for name in by_name if name not in expected]
    if missing:
        note = (
            f" The input has these columns the signature does not declare: {_show(extra)}."
            if extra
            else ""
        )
        raise SignatureEnforcementError(
            f"Model is missing input column{'s' if len(missing) > 1 else ''} {_show(missing)} "
            f"required by its signature.{note}"
        )
    if extra:
        warnings.warn(
            f"Dropping input columns not in the model signature: {_show(extra)}",
            UserWarning,
            stacklevel=4,
        )
    columns = {
        spec.name: _enforce_column(frame[by_name[str(spec.name)]], spec, f"column {spec.name!r}")
        for spec in schema.inputs
        if str(spec.name) in by_name
    }
    return pd.DataFrame(columns, index=frame.index)


def _fail(what: str, spec_type: DataType, message: str) -> SignatureEnforcementError:
    return SignatureEnforcementError(
        f"Input {what} (declared {spec_type.value} in the model signature) {message}"
    )


def _enforce_column(values: Any, spec: ColSpec, what: str) -> Any:
    import numpy as np
    import pandas as pd

    target = spec.type
    if not isinstance(target, DataType):  # MLflow's array/object/map types: passed through
        return values
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        values = values.astype(dtype.categories.dtype)
        dtype = values.dtype
    if target in (DataType.string, DataType.binary):
        return _enforce_text(values, target, what)
    if target == DataType.datetime:
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return values
        raise _fail(
            what, target, f"holds {dtype} values; pass datetime64 values (pandas.to_datetime)"
        )
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and hasattr(dtype, "numpy_dtype"):
        if values.isna().any():
            if target in (DataType.boolean, DataType.integer, DataType.long):
                raise _missing_in_integer(what, target)
            values = values.astype(
                dtype.numpy_dtype.name if dtype.numpy_dtype.kind == "f" else "float64"
            )
        else:
            values = values.astype(dtype.numpy_dtype)
        dtype = values.dtype
    if dtype.kind == "O":  # object and pandas string columns
        values, dtype = _numeric_from_objects(values, target, what)
    wanted = target.to_numpy()
    if dtype == wanted:
        return values
    array = values.to_numpy()
    if target == DataType.boolean:
        raise _fail(what, target, f"holds {dtype} values; only bool values are accepted")
    if dtype.kind == "b":
        raise _fail(
            what, target, "holds bool values; cast them to numbers explicitly if that is meant"
        )
    if wanted.kind == "i":
        if dtype.kind == "f":
            if np.isnan(array).any():
                raise _missing_in_integer(what, target)
            if not np.all(np.isfinite(array)) or not np.array_equal(array, np.trunc(array)):
                raise _fail(
                    what, target, f"holds non-integer {dtype} values; integers are required"
                )
        elif dtype.kind not in "iu":
            raise _fail(
                what, target, f"holds {dtype} values, which cannot be converted to {wanted}"
            )
        info = np.iinfo(wanted)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise _fail(what, target, f"holds values outside the {wanted} range")
        return pd.Series(array.astype(wanted), index=values.index, name=values.name)
    if wanted.kind == "f":
        if dtype.kind in "iu":
            limit = _EXACT_INT_LIMIT[wanted.itemsize]
            if array.size and (array.min() < -limit or array.max() > limit):
                raise _fail(
                    what, target, f"holds integers too large to convert exactly to {wanted}"
                )
        elif dtype.kind == "f" and dtype.itemsize > wanted.itemsize:
            narrowed = array.astype(wanted)
            if not np.array_equal(narrowed.astype(dtype), array, equal_nan=True):
                raise _fail(
                    what, target, f"holds {dtype} values that would lose precision as {wanted}"
                )
        elif dtype.kind != "f":
            raise _fail(
                what, target, f"holds {dtype} values, which cannot be converted to {wanted}"
            )
        return pd.Series(array.astype(wanted), index=values.index, name=values.name)
    raise _fail(what, target, f"holds {dtype} values, which cannot be converted to {wanted}")


def _missing_in_integer(what: str, target: DataType) -> SignatureEnforcementError:
    return _fail(
        what,
        target,
        "contains missing values (NaN/None). Integer columns cannot hold missing values: if this "
        "input may be missing, the signature should declare the column as double (infer the "
        "signature from data that has missing values, or cast the column to float before inferring).",
    )


def _numeric_from_objects(values: Any, target: DataType, what: str) -> tuple[Any, Any]:
    import pandas as pd

    if target == DataType.boolean:
        present = values.dropna()
        if len(present) != len(values):
            raise _fail(what, target, "contains missing values; booleans cannot be missing")
        if all(isinstance(v, bool) for v in present):
            return values.astype(bool), values.astype(bool).dtype
        raise _fail(what, target, "holds non-boolean values")
    if any(isinstance(v, (str, bytes)) for v in values.dropna().iloc[:1000]):
        raise _fail(what, target, "holds text values; numbers are required")
    try:
        converted = pd.to_numeric(values, errors="raise")
    except (TypeError, ValueError) as e:
        raise _fail(what, target, f"holds values that are not numbers ({e})") from e
    return converted, converted.dtype


def _enforce_text(values: Any, target: DataType, what: str) -> Any:
    import pandas as pd

    dtype = values.dtype
    if target == DataType.string and isinstance(dtype, pd.StringDtype):
        return values
    if dtype.kind != "O":
        wanted = "str" if target == DataType.string else "bytes"
        raise _fail(what, target, f"holds {dtype} values; {wanted} values are required")
    kind = str if target == DataType.string else (bytes, bytearray)
    bad = [v for v in values.dropna().iloc[:1000] if not isinstance(v, kind)]
    if bad:
        raise _fail(what, target, f"holds {type(bad[0]).__name__} values such as {bad[0]!r}")
    return values


# --------------------------------------------------------------------------- tensors


def _enforce_tensors(data: Any, schema: Schema) -> Any:
    import numpy as np

    specs: list[TensorSpec] = schema.inputs  # type: ignore[assignment]
    data = as_numpy_if_tensor(data)
    if schema.has_input_names() and (len(specs) > 1 or isinstance(data, Mapping)):
        if _module_of(data).startswith("pandas") and hasattr(data, "columns"):
            data = {str(c): data[c].to_numpy() for c in data.columns}
        if not isinstance(data, Mapping):
            raise SignatureEnforcementError(
                f"The model expects named tensors {_show(schema.input_names())}; pass a dict of arrays"
            )
        given = {str(k): v for k, v in data.items()}
        missing = [s.name for s in specs if s.name not in given]
        if missing:
            raise SignatureEnforcementError(
                f"Model is missing input tensor{'s' if len(missing) > 1 else ''} {_show(missing)}"
            )
        extra = [k for k in given if k not in {s.name for s in specs}]
        if extra:
            warnings.warn(
                f"Dropping input tensors not in the model signature: {_show(extra)}",
                UserWarning,
                stacklevel=4,
            )
        return {s.name: _enforce_tensor(given[s.name], s, f"tensor {s.name!r}") for s in specs}
    if len(specs) != 1:
        raise SignatureEnforcementError(
            f"The model expects {len(specs)} unnamed tensors; pass a list of arrays"
        )
    if _module_of(data).startswith("pandas"):
        data = data.to_numpy()
    elif _module_of(data).startswith("scipy.sparse"):
        data = data.toarray()
    elif not isinstance(data, np.ndarray):
        data = np.asarray(data)
    return _enforce_tensor(data, specs[0], "tensor")


def _enforce_tensor(array: Any, spec: TensorSpec, what: str) -> Any:
    import numpy as np

    array = as_numpy_if_tensor(array)
    if not isinstance(array, np.ndarray):
        array = np.asarray(array)
    if len(array.shape) != len(spec.shape) or any(
        want != -1 and want != got for want, got in zip(spec.shape, array.shape, strict=True)
    ):
        raise SignatureEnforcementError(
            f"Input {what} has shape {array.shape}, but the model signature declares {spec.shape} "
            "(-1 means any size)"
        )
    wanted, dtype = spec.type, array.dtype
    if dtype == wanted or wanted.kind in "OUS" and dtype.kind in "OUS":
        return array
    if dtype.kind == wanted.kind and dtype.itemsize <= wanted.itemsize:
        return array.astype(wanted)
    if dtype.kind == "u" and wanted.kind == "i" and dtype.itemsize < wanted.itemsize:
        return array.astype(wanted)
    if dtype.kind in "iu" and wanted.kind == "f":
        limit = _EXACT_INT_LIMIT.get(wanted.itemsize, 0)
        if not array.size or (array.min() >= -limit and array.max() <= limit):
            return array.astype(wanted)
    raise SignatureEnforcementError(
        f"Input {what} has dtype {dtype}, which cannot be converted safely to the signature's {wanted}"
    )


# --------------------------------------------------------------------------- params


def enforce_params(
    params: Mapping[str, Any] | None, schema: ParamSchema | None
) -> dict[str, Any] | None:
    """Inference params with the signature's defaults filled in; unknown ones dropped with a warning."""
    if schema is None:
        if params:
            warnings.warn(
                f"Ignoring params {sorted(params)}: the model signature declares no params",
                UserWarning,
                stacklevel=4,
            )
        return None
    given = dict(params or {})
    unknown = sorted(set(given) - {p.name for p in schema.params})
    if unknown:
        warnings.warn(
            f"Ignoring params not in the model signature: {unknown}", UserWarning, stacklevel=4
        )
    out = {}
    for spec in schema.params:
        value = given.get(spec.name, spec.default)
        out[spec.name] = _cast_param(value, spec.type, spec.name, spec.shape is not None)
    return out


def _cast_param(value: Any, target: DataType, name: str, is_list: bool) -> Any:
    if value is None:
        return None
    if is_list:
        if not isinstance(value, (list, tuple)):
            raise SignatureEnforcementError(
                f"Param {name!r} must be a list of {target.value}, got {value!r}"
            )
        return [_cast_param(v, target, name, False) for v in value]
    ok = {
        DataType.boolean: lambda v: isinstance(v, bool),
        DataType.integer: lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool),
        DataType.long: lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool),
        DataType.float: lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool),
        DataType.double: lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool),
        DataType.string: lambda v: isinstance(v, str),
        DataType.binary: lambda v: isinstance(v, (bytes, bytearray)),
        DataType.datetime: lambda v: True,
    }[target]
    if not ok(value):
        raise SignatureEnforcementError(f"Param {name!r} must be {target.value}, got {value!r}")
    return float(value) if target in (DataType.float, DataType.double) else value
