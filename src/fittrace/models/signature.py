"""Model signatures: what a model takes and returns, in MLflow's JSON encoding.

A :class:`Schema` is a list of column specs (:class:`ColSpec`, for tabular data) or of tensor specs
(:class:`TensorSpec`, for arrays). ``infer_signature`` builds one from example data without importing
any framework: torch and TensorFlow tensors are recognised by their class's module.
numpy and pandas are imported only when data of theirs is seen.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any

from fittrace.exceptions import InvalidParameterError


class DataType(enum.Enum):
    """Column types, with MLflow's names."""

    boolean = "boolean"
    integer = "integer"  # int32
    long = "long"  # int64
    float = "float"  # float32
    double = "double"  # float64
    string = "string"
    binary = "binary"
    datetime = "datetime"

    def __repr__(self) -> str:
        return self.value

    __str__ = __repr__

    def to_numpy(self) -> Any:
        import numpy as np

        return np.dtype(_NUMPY_NAMES[self])


_NUMPY_NAMES = {
    DataType.boolean: "bool",
    DataType.integer: "int32",
    DataType.long: "int64",
    DataType.float: "float32",
    DataType.double: "float64",
    DataType.string: "object",
    DataType.binary: "object",
    DataType.datetime: "datetime64[ns]",
}


def _parse_type(value: Any) -> DataType | dict:
    """A DataType from its name; MLflow's richer types (array, object, map, any) stay as raw dicts."""
    if isinstance(value, DataType):
        return value
    if isinstance(value, str):
        try:
            return DataType[value]
        except KeyError:
            raise InvalidParameterError(
                f"Unknown column type {value!r}; allowed: {', '.join(t.value for t in DataType)}"
            ) from None
    if isinstance(value, dict):
        return dict(value)
    raise InvalidParameterError(f"Column type must be a DataType or its name, got {value!r}")


def _column_name(name: Any) -> str | int | None:
    """A column name as a signature keeps it: integer names stay integers (pandas' default columns)."""
    import numbers

    if name is None:
        return None
    if isinstance(name, numbers.Integral) and not isinstance(name, bool):
        return int(name)
    return str(name)


class ColSpec:
    """One column: a type, an optional name, and whether it must be present."""

    def __init__(
        self, type: DataType | str | dict, name: str | int | None = None, required: bool = True
    ) -> None:
        self.type = _parse_type(type)
        self.name = _column_name(name)
        self.required = bool(required)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = (
            {"type": self.type.value} if isinstance(self.type, DataType) else dict(self.type)
        )
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ColSpec:
        extra = {k: v for k, v in d.items() if k not in ("name", "required")}
        col_type = d["type"] if set(extra) == {"type"} else extra
        return cls(col_type, d.get("name"), d.get("required", True))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColSpec) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        type_text = (
            self.type.value if isinstance(self.type, DataType) else self.type.get("type", "?")
        )
        text = type_text if self.name is None else f"{self.name!r}: {type_text}"
        return text if self.required else f"{text} (optional)"


def _dtype_name(dtype: Any) -> str:
    """MLflow's spelling of a tensor dtype: 'str' for unicode, 'bytes' for byte strings."""
    if dtype.kind == "U":
        return "str"
    if dtype.kind == "S":
        return "bytes"
    return dtype.name


class TensorSpec:
    """One array: numpy dtype and shape (-1 for a dimension of any size), optionally named."""

    def __init__(self, type: Any, shape: Sequence[int], name: str | None = None) -> None:
        import numpy as np

        dtype = np.dtype(type)
        if dtype.kind in "US":
            dtype = np.dtype(dtype.kind)  # drop the length: any string length is fine
        self.type = dtype
        self.shape = tuple(int(s) for s in shape)
        self.name = None if name is None else str(name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.name is None else {"name": self.name}
        out["type"] = "tensor"
        out["tensor-spec"] = {"dtype": _dtype_name(self.type), "shape": list(self.shape)}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TensorSpec:
        spec = d["tensor-spec"]
        return cls(spec["dtype"], spec["shape"], d.get("name"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TensorSpec) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        text = f"Tensor({_dtype_name(self.type)!r}, {self.shape})"
        return text if self.name is None else f"{self.name!r}: {text}"


class Schema:
    """An ordered list of ColSpecs, or of TensorSpecs (never mixed)."""

    def __init__(self, inputs: Sequence[ColSpec | TensorSpec]) -> None:
        inputs = list(inputs)
        kinds = {type(i) for i in inputs}
        if not kinds <= {ColSpec, TensorSpec} or len(kinds) > 1:
            raise InvalidParameterError(
                "A schema holds only ColSpec or only TensorSpec entries, got "
                + ", ".join(sorted(k.__name__ for k in kinds))
            )
        names = [i.name for i in inputs]
        if any(n is None for n in names) and any(n is not None for n in names):
            raise InvalidParameterError("Either all or none of a schema's entries must be named")
        if len(set(names)) != len(names) and names and names[0] is not None:
            raise InvalidParameterError(f"Duplicate names in schema: {names}")
        self.inputs = inputs

    def is_tensor_spec(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return bool(self.inputs) and self.inputs[0].name is not None

    def input_names(self) -> list[str | int]:
        return [i.name if i.name is not None else n for n, i in enumerate(self.inputs)]

    def required_input_names(self) -> list[str | int]:
        return [
            i.name if i.name is not None else n
            for n, i in enumerate(self.inputs)
            if not isinstance(i, ColSpec) or i.required
        ]

    def input_types(self) -> list[Any]:
        return [i.type for i in self.inputs]

    def to_dict(self) -> list[dict[str, Any]]:
        return [i.to_dict() for i in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Schema:
        items = json.loads(text)
        return cls(
            [
                TensorSpec.from_dict(d) if d.get("type") == "tensor" else ColSpec.from_dict(d)
                for d in items
            ]
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.to_dict() == other.to_dict()

    def __len__(self) -> int:
        return len(self.inputs)

    def __repr__(self) -> str:
        return "[" + ", ".join(repr(i) for i in self.inputs) + "]"


class ParamSpec:
    """An inference parameter: name, type, default value and optional shape ((-1,) for a list)."""

    def __init__(
        self, name: str, type: DataType | str, default: Any, shape: Sequence[int] | None = None
    ) -> None:
        self.name = str(name)
        parsed = _parse_type(type)
        if not isinstance(parsed, DataType):
            raise InvalidParameterError(f"Param {name!r}: unsupported type {type!r}")
        self.type = parsed
        self.shape = None if shape is None else tuple(shape)
        self.default = default

    def to_dict(self) -> dict[str, Any]:
        default = self.default
        if isinstance(default, (_dt.datetime, _dt.date)):
            default = default.isoformat()
        return {
            "name": self.name,
            "type": self.type.value,
            "default": default,
            "shape": None if self.shape is None else list(self.shape),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ParamSpec:
        return cls(d["name"], d["type"], d.get("default"), d.get("shape"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSpec) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        text = f"{self.name!r}: {self.type.value} (default: {self.default})"
        return text if self.shape is None else f"{text} (shape: {self.shape})"


class ParamSchema:
    """The inference parameters a model accepts."""

    def __init__(self, params: Sequence[ParamSpec]) -> None:
        self.params = list(params)

    def to_json(self) -> str:
        return json.dumps([p.to_dict() for p in self.params])

    @classmethod
    def from_json(cls, text: str) -> ParamSchema:
        return cls([ParamSpec.from_dict(d) for d in json.loads(text)])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSchema) and self.params == other.params

    def __repr__(self) -> str:
        return "[" + ", ".join(repr(p) for p in self.params) + "]"


def dict_form(obj: Any) -> Any:
    """``obj.to_dict()``, the public dict form of fittrace's and MLflow's objects; None without one."""
    to_dict = getattr(obj, "to_dict", None)
    return to_dict() if callable(to_dict) else None


class ModelSignature:
    """Input and output schemas of a model, plus its inference parameters."""

    def __init__(
        self,
        inputs: Schema | None = None,
        outputs: Schema | None = None,
        params: ParamSchema | None = None,
    ) -> None:
        for what, value, kind in (
            ("inputs", inputs, Schema),
            ("outputs", outputs, Schema),
            ("params", params, ParamSchema),
        ):
            if value is not None and not isinstance(value, kind):
                raise InvalidParameterError(
                    f"ModelSignature {what} must be a {kind.__name__} or None, got {value!r}"
                )
        self.inputs = inputs
        self.outputs = outputs
        self.params = params

    def to_dict(self) -> dict[str, str | None]:
        """MLflow's encoding: each part a JSON string (or None)."""
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSignature:
        inputs, outputs, params = d.get("inputs"), d.get("outputs"), d.get("params")
        return cls(
            Schema.from_json(inputs) if inputs else None,
            Schema.from_json(outputs) if outputs else None,
            ParamSchema.from_json(params) if params else None,
        )

    @classmethod
    def coerce(cls, signature: Any) -> ModelSignature:
        """``signature`` as fittrace's: itself, or MLflow's ``ModelSignature`` read through its ``to_dict()``."""
        if isinstance(signature, cls):
            return signature
        encoded = dict_form(signature)
        if not isinstance(encoded, Mapping) or not {"inputs", "outputs"} <= set(encoded):
            raise InvalidParameterError(
                "signature must be a ModelSignature (fittrace.models.infer_signature or MLflow's), "
                f"got {signature!r}"
            )
        return cls.from_dict(encoded)

    def __eq__(self, other: object) -> bool:
        return self.to_dict() == dict_form(other)

    def __repr__(self) -> str:
        lines = ["inputs:", f"  {self.inputs!r}", "outputs:", f"  {self.outputs!r}"]
        if self.params is not None:
            lines += ["params:", f"  {self.params!r}"]
        return "\n".join(lines)


# --------------------------------------------------------------------------- inference


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: Mapping[str, Any] | None = None
) -> ModelSignature:
    """The signature of example data: numpy arrays, pandas DataFrames/Series, lists, dicts,
    scipy sparse matrices, torch and TensorFlow tensors.

    >>> print(infer_signature(X_test, y_test))   # doctest: +SKIP
    inputs:
      ['age': long, 'sex': long, ...]
    outputs:
      ['target': long]
    """
    return ModelSignature(
        infer_schema(model_input) if model_input is not None else None,
        infer_schema(model_output) if model_output is not None else None,
        _infer_param_schema(params) if params else None,
    )


_PY_SCALARS = (str, bytes, bool, int, float, _dt.datetime, _dt.date)


def _module_of(obj: Any) -> str:
    return type(obj).__module__ or ""


def as_numpy_if_tensor(data: Any) -> Any:
    """A torch/TensorFlow tensor or scipy sparse matrix as something numpy-like; anything else unchanged.

    Never imports those frameworks: the object's class module tells what it is.
    """
    module = _module_of(data)
    if module.startswith("torch") and hasattr(data, "detach"):
        return data.detach().cpu().numpy()
    if module.startswith(("tensorflow", "tf_keras", "keras")) and hasattr(data, "numpy"):
        return data.numpy()
    return data


def _is_sparse(data: Any) -> bool:
    return _module_of(data).startswith("scipy.sparse") and hasattr(data, "tocsr")


def _is_array(data: Any) -> bool:
    return _module_of(data) == "numpy" and hasattr(data, "dtype") and hasattr(data, "shape")


def infer_schema(data: Any) -> Schema:
    """The Schema of one piece of example data (see ``infer_signature``)."""
    data = as_numpy_if_tensor(data)
    module = _module_of(data)
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return Schema([ColSpec(_series_type(data[c], c), c) for c in data.columns])
        if isinstance(data, pd.Series):
            return Schema([ColSpec(_series_type(data, data.name), _column_name(data.name))])
    if _is_sparse(data):
        return Schema([TensorSpec(data.dtype, (-1, *data.shape[1:]))])
    if _is_array(data):
        return Schema([_tensor_spec(data)])
    if isinstance(data, Mapping):
        return _infer_mapping(data)
    if isinstance(data, (list, tuple)):
        return _infer_list(data)
    if isinstance(data, _PY_SCALARS):
        return Schema([ColSpec(_value_type(data))])
    raise InvalidParameterError(
        f"Cannot infer a signature from {type(data).__module__}.{type(data).__qualname__}; supported: "
        "pandas DataFrame/Series, numpy arrays, scipy sparse matrices, torch/TensorFlow tensors, "
        "lists, dicts and scalars"
    )


def _tensor_spec(array: Any, name: str | None = None) -> TensorSpec:
    shape = (-1, *array.shape[1:]) if array.ndim else ()
    return TensorSpec(array.dtype, shape, name)


def _infer_mapping(data: Mapping) -> Schema:
    if not data:
        raise InvalidParameterError("Cannot infer a signature from an empty dict")
    values = [as_numpy_if_tensor(v) for v in data.values()]
    if all(_is_array(v) for v in values):
        return Schema([_tensor_spec(v, str(k)) for k, v in zip(data, values, strict=True)])
    import pandas as pd

    if all(isinstance(v, _PY_SCALARS) or v is None for v in values):
        return infer_schema(pd.DataFrame([dict(data)]))
    try:
        frame = pd.DataFrame({str(k): v for k, v in zip(data, values, strict=True)})
    except ValueError as e:
        raise InvalidParameterError(f"Cannot infer a signature from this dict: {e}") from e
    return infer_schema(frame)


def _infer_list(data: Sequence) -> Schema:
    if not data:
        raise InvalidParameterError("Cannot infer a signature from an empty list")
    if all(isinstance(v, Mapping) for v in data):
        import pandas as pd

        return infer_schema(pd.DataFrame(list(data)))
    if all(isinstance(v, _PY_SCALARS) for v in data):
        types = {_value_type(v) for v in data}
        if types == {DataType.long, DataType.double}:
            types = {DataType.double}
        if len(types) != 1:
            raise InvalidParameterError(
                f"Cannot infer a signature from a list mixing {sorted(t.value for t in types)}"
            )
        return Schema([ColSpec(types.pop())])
    import numpy as np

    try:
        array = np.asarray(data)
    except ValueError as e:
        raise InvalidParameterError(f"Cannot infer a signature from this list: {e}") from e
    if array.dtype == object:
        raise InvalidParameterError(
            "Cannot infer a signature from a ragged or mixed-type nested list"
        )
    return Schema([_tensor_spec(array)])


def _value_type(value: Any) -> DataType:
    if isinstance(value, bool):
        return DataType.boolean
    if isinstance(value, int):
        return DataType.long
    if isinstance(value, float):
        return DataType.double
    if isinstance(value, str):
        return DataType.string
    if isinstance(value, (bytes, bytearray)):
        return DataType.binary
    if isinstance(value, (_dt.datetime, _dt.date)):
        return DataType.datetime
    module = _module_of(value)
    if module == "numpy" and hasattr(value, "dtype"):
        return numpy_dtype_type(value.dtype)
    if module.startswith("pandas") and type(value).__name__ == "Timestamp":
        return DataType.datetime
    raise InvalidParameterError(f"Unsupported value type {type(value).__name__} ({value!r})")


def numpy_dtype_type(dtype: Any, what: str = "data") -> DataType:
    """The DataType of a numpy dtype (int8..int32 -> integer, int64/uint32 -> long, ...)."""
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return DataType.boolean
    if kind == "i" and size <= 4 or kind == "u" and size <= 2:
        return DataType.integer
    if kind == "i" or kind == "u" and size <= 4:
        return DataType.long
    if kind == "f":
        return DataType.float if size <= 4 else DataType.double
    if kind == "U":
        return DataType.string
    if kind == "S":
        return DataType.binary
    if kind == "M":
        return DataType.datetime
    raise InvalidParameterError(
        f"Unsupported type {dtype} for {what}; allowed: bool, (u)int up to int64/uint32, float16-64, "
        "str, bytes, datetime64"
    )


def _series_type(series: Any, name: Any) -> DataType:
    import pandas as pd

    what = f"column {name!r}" if name is not None else "the data"
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _series_type(pd.Series(dtype.categories), name)
    if isinstance(dtype, pd.StringDtype):
        return DataType.string
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return DataType.datetime
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and hasattr(dtype, "numpy_dtype"):
        return numpy_dtype_type(dtype.numpy_dtype, what)  # nullable Int64, Float64, boolean
    if dtype.kind != "O":
        return numpy_dtype_type(dtype, what)
    values = series.dropna()
    if values.empty:
        raise InvalidParameterError(
            f"Cannot infer the type of {what}: it holds only missing values"
        )
    types = {_value_type(v) for v in values.iloc[:1000]}
    if types == {DataType.long, DataType.double}:
        return DataType.double
    if len(types) != 1:
        raise InvalidParameterError(
            f"Cannot infer the type of {what}: it mixes {sorted(t.value for t in types)}; cast it to one type"
        )
    return types.pop()


def _infer_param_schema(params: Mapping[str, Any]) -> ParamSchema:
    specs = []
    for name, value in params.items():
        if isinstance(value, (list, tuple)):
            if not value:
                raise InvalidParameterError(
                    f"Param {name!r}: cannot infer a type from an empty list"
                )
            types = {_value_type(v) for v in value}
            if types == {DataType.long, DataType.double}:
                types = {DataType.double}
            if len(types) != 1:
                raise InvalidParameterError(
                    f"Param {name!r}: list mixes types {sorted(t.value for t in types)}"
                )
            specs.append(ParamSpec(name, types.pop(), list(value), (-1,)))
        else:
            value = value.item() if _is_array(value) and value.ndim == 0 else value
            specs.append(ParamSpec(name, _value_type(value), value))
    return ParamSchema(specs)
