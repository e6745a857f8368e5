"""Signature inference, printing and MLflow's JSON encoding."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from fittrace.exceptions import InvalidParameterError
from fittrace.models import ColSpec, DataType, ModelSignature, Schema, TensorSpec, infer_signature
from fittrace.models.signature import ParamSchema


def _types(schema: Schema) -> dict:
    return {spec.name: spec.type.value for spec in schema.inputs}


def test_seed_example_prints_like_mlflow():
    X = pd.DataFrame(
        {
            "age": [63, 37],
            "oldpeak": [2.3, 3.5],
            "thal": pd.Series([1, 2], dtype="int32").astype("category"),
        }
    )
    y = pd.Series([1, 0], name="target")
    assert str(infer_signature(X, y)) == (
        "inputs:\n  ['age': long, 'oldpeak': double, 'thal': integer]\noutputs:\n  ['target': long]"
    )


def test_dataframe_column_types():
    frame = pd.DataFrame(
        {
            "i8": np.array([1], dtype=np.int8),
            "i32": np.array([1], dtype=np.int32),
            "i64": np.array([1], dtype=np.int64),
            "u16": np.array([1], dtype=np.uint16),
            "u32": np.array([1], dtype=np.uint32),
            "f32": np.array([1], dtype=np.float32),
            "f64": [1.5],
            "flag": [True],
            "when": pd.to_datetime(["2024-01-01"]),
            "when_tz": pd.to_datetime(["2024-01-01"]).tz_localize("UTC"),
            "raw": [b"x"],
            "text": pd.Series(["a"], dtype=object),
            "text_dtype": pd.Series(["a"], dtype="string"),
            "nullable": pd.array([1], dtype="Int64"),
            "nullable_bool": pd.array([True], dtype="boolean"),
            "cat_str": pd.Categorical(["x"]),
            "obj_float": pd.Series([1, 2.5], dtype=object)[:1],
        }
    )
    assert _types(infer_signature(frame).inputs) == {
        "i8": "integer",
        "i32": "integer",
        "i64": "long",
        "u16": "integer",
        "u32": "long",
        "f32": "float",
        "f64": "double",
        "flag": "boolean",
        "when": "datetime",
        "when_tz": "datetime",
        "raw": "binary",
        "text": "string",
        "text_dtype": "string",
        "nullable": "long",
        "nullable_bool": "boolean",
        "cat_str": "string",
        "obj_float": "long",
    }


def test_unsupported_column_types_name_the_column():
    with pytest.raises(InvalidParameterError, match="'big'"):
        infer_signature(pd.DataFrame({"big": np.array([1], dtype=np.uint64)}))
    with pytest.raises(InvalidParameterError, match="'mixed'.*mixes"):
        infer_signature(pd.DataFrame({"mixed": ["a", 1]}))
    with pytest.raises(InvalidParameterError, match="'empty'.*only missing"):
        infer_signature(pd.DataFrame({"empty": [None, None]}))


def test_numpy_arrays_become_tensor_specs():
    sig = infer_signature(np.zeros((5, 3), dtype=np.float32), np.arange(5))
    assert sig.inputs.inputs == [TensorSpec(np.float32, (-1, 3))]
    assert sig.outputs.inputs == [TensorSpec(np.int64, (-1,))]
    assert (
        str(sig) == "inputs:\n  [Tensor('float32', (-1, 3))]\noutputs:\n  [Tensor('int64', (-1,))]"
    )
    assert infer_signature(np.array(["a", "bb"])).inputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "str", "shape": [-1]}}
    ]


def test_series_lists_and_scalars():
    assert infer_signature(pd.Series([1.0, 2.0])).inputs.to_dict() == [
        {"type": "double", "required": True}
    ]
    assert infer_signature([1, 2, 3]).inputs.to_dict() == [{"type": "long", "required": True}]
    assert infer_signature([1, 2.5]).inputs.to_dict() == [{"type": "double", "required": True}]
    assert infer_signature(["a", "b"]).inputs.to_dict() == [{"type": "string", "required": True}]
    assert infer_signature("hello").inputs.to_dict() == [{"type": "string", "required": True}]
    assert infer_signature([[1, 2], [3, 4]]).inputs.inputs == [TensorSpec(np.int64, (-1, 2))]
    with pytest.raises(InvalidParameterError, match="empty list"):
        infer_signature([])


def test_records_and_dicts():
    records = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert _types(infer_signature(records).inputs) == {"a": "long", "b": "string"}
    assert _types(infer_signature({"a": [1, 2], "b": [0.5, 1.5]}).inputs) == {
        "a": "long",
        "b": "double",
    }
    assert _types(infer_signature({"a": 1, "b": "x"}).inputs) == {"a": "long", "b": "string"}
    tensors = infer_signature(
        {"img": np.zeros((2, 4, 4), dtype=np.uint8), "len": np.ones(2)}
    ).inputs
    assert tensors.inputs == [
        TensorSpec(np.uint8, (-1, 4, 4), "img"),
        TensorSpec(np.float64, (-1,), "len"),
    ]


def test_scipy_sparse_matrix():
    sparse = pytest.importorskip("scipy.sparse")
    sig = infer_signature(sparse.csr_matrix(np.eye(4, dtype=np.float32)))
    assert sig.inputs.inputs == [TensorSpec(np.float32, (-1, 4))]


class _FakeTorchTensor:
    """Looks like a torch tensor to duck-typing (class module 'torch'), without torch installed."""

    __module__ = "torch"

    def __init__(self, array):
        self._array = array

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self._array


class _FakeTFTensor:
    __module__ = "tensorflow.python.framework.ops"

    def __init__(self, array):
        self._array = array

    def numpy(self):
        return self._array


def test_torch_and_tensorflow_tensors_by_duck_typing():
    sig = infer_signature(
        _FakeTorchTensor(np.zeros((8, 3, 2), np.float32)), _FakeTFTensor(np.zeros((8, 10)))
    )
    assert sig.inputs.inputs == [TensorSpec(np.float32, (-1, 3, 2))]
    assert sig.outputs.inputs == [TensorSpec(np.float64, (-1, 10))]


def test_unsupported_object_is_a_clear_error():
    with pytest.raises(InvalidParameterError, match="Cannot infer a signature from .*object"):
        infer_signature(object())


def test_params_schema():
    sig = infer_signature(
        pd.DataFrame({"a": [1]}), params={"alpha": 0.5, "n": 3, "mode": "fast", "ks": [1, 2]}
    )
    assert json.loads(sig.to_dict()["params"]) == [
        {"name": "alpha", "type": "double", "default": 0.5, "shape": None},
        {"name": "n", "type": "long", "default": 3, "shape": None},
        {"name": "mode", "type": "string", "default": "fast", "shape": None},
        {"name": "ks", "type": "long", "default": [1, 2], "shape": [-1]},
    ]
    assert str(sig).endswith(
        "params:\n  ['alpha': double (default: 0.5), 'n': long (default: 3), "
        "'mode': string (default: fast), 'ks': long (default: [1, 2]) (shape: (-1,))]"
    )


def test_json_encoding_matches_mlflow_and_round_trips():
    sig = infer_signature(pd.DataFrame({"a": [1], "b": [0.5]}), np.array([1.0]))
    encoded = sig.to_dict()
    assert encoded == {
        "inputs": '[{"type": "long", "name": "a", "required": true}, {"type": "double", "name": "b", "required": true}]',
        "outputs": '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]',
        "params": None,
    }
    assert ModelSignature.from_dict(encoded) == sig


def test_mlflow_rich_types_are_kept_on_round_trip():
    encoded = '[{"type": "array", "items": {"type": "long"}, "name": "xs", "required": true}]'
    schema = Schema.from_json(encoded)
    assert schema.to_json() == encoded
    assert repr(schema) == "['xs': array]"


def test_optional_columns_and_schema_rules():
    schema = Schema([ColSpec("long", "a"), ColSpec(DataType.string, "b", required=False)])
    assert repr(schema) == "['a': long, 'b': string (optional)]"
    assert schema.required_input_names() == ["a"]
    with pytest.raises(InvalidParameterError, match="only ColSpec or only TensorSpec"):
        Schema([ColSpec("long", "a"), TensorSpec(np.float32, (-1,), "t")])
    with pytest.raises(InvalidParameterError, match="Unknown column type 'int'"):
        ColSpec("int", "a")


def test_datetime_values_in_lists():
    assert infer_signature([dt.datetime(2024, 1, 1)]).inputs.to_dict() == [
        {"type": "datetime", "required": True}
    ]


def test_param_schema_json_round_trip():
    schema = infer_signature(params={"k": 3}).params
    assert ParamSchema.from_json(schema.to_json()) == schema
