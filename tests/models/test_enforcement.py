"""Signature enforcement: what predict accepts, converts, drops and refuses."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from fittrace.exceptions import SignatureEnforcementError
from fittrace.models import ColSpec, Schema, TensorSpec, infer_signature
from fittrace.models.enforcement import enforce_params, enforce_schema, validate_schema

SCHEMA = Schema([ColSpec("long", "age"), ColSpec("double", "oldpeak"), ColSpec("string", "thal")])


def _frame(**overrides):
    data = {"age": [63, 37], "oldpeak": [2.3, 3.5], "thal": ["fixed", "normal"]}
    data.update(overrides)
    return pd.DataFrame(data)


def test_matching_frame_passes_unchanged_and_is_not_mutated():
    frame = _frame()
    out = enforce_schema(frame, SCHEMA)
    pd.testing.assert_frame_equal(out, frame)
    assert out is not frame


def test_missing_column_names_it():
    with pytest.raises(SignatureEnforcementError, match=r"missing input column \['oldpeak'\]"):
        enforce_schema(_frame().drop(columns=["oldpeak"]), SCHEMA)


def test_missing_optional_column_is_fine():
    schema = Schema([ColSpec("long", "age"), ColSpec("double", "extra", required=False)])
    out = enforce_schema(pd.DataFrame({"age": [1]}), schema)
    assert list(out.columns) == ["age"]


def test_extra_columns_dropped_with_warning_and_order_follows_signature():
    frame = _frame(note=["a", "b"])[["thal", "note", "oldpeak", "age"]]
    with pytest.warns(
        UserWarning, match=r"Dropping input columns not in the model signature: \['note'\]"
    ):
        out = enforce_schema(frame, SCHEMA)
    assert list(out.columns) == ["age", "oldpeak", "thal"]
    assert "note" in frame.columns  # caller's frame untouched


def test_safe_casts():
    frame = _frame(age=np.array([63, 37], dtype=np.int32), oldpeak=np.array([2, 3], dtype=np.int64))
    out = enforce_schema(frame, SCHEMA)
    assert out["age"].dtype == np.int64
    assert out["oldpeak"].dtype == np.float64
    assert out["oldpeak"].tolist() == [2.0, 3.0]


def test_whole_floats_become_integers_but_fractions_are_refused():
    out = enforce_schema(_frame(age=[63.0, 37.0]), SCHEMA)
    assert out["age"].dtype == np.int64 and out["age"].tolist() == [63, 37]
    with pytest.raises(SignatureEnforcementError, match="'age'.*non-integer"):
        enforce_schema(_frame(age=[63.5, 37.0]), SCHEMA)


def test_nan_in_integer_column_explains_declaring_double():
    with pytest.raises(SignatureEnforcementError) as err:
        enforce_schema(_frame(age=[63.0, np.nan]), SCHEMA)
    message = str(err.value)
    assert "'age'" in message and "declared long" in message
    assert "missing values" in message and "double" in message


def test_nullable_integer_with_missing_value_is_explained_too():
    with pytest.raises(SignatureEnforcementError, match="'age'.*missing values"):
        enforce_schema(_frame(age=pd.array([1, None], dtype="Int64")), SCHEMA)


def test_huge_int_to_double_and_text_to_number_are_refused():
    with pytest.raises(SignatureEnforcementError, match="'oldpeak'.*too large"):
        enforce_schema(_frame(oldpeak=np.array([2**60, 1], dtype=np.int64)), SCHEMA)
    with pytest.raises(SignatureEnforcementError, match="'age'.*text"):
        enforce_schema(_frame(age=["63", "37"]), SCHEMA)
    with pytest.raises(SignatureEnforcementError, match="'thal'.*str values are required"):
        enforce_schema(_frame(thal=[1, 2]), SCHEMA)


def test_float64_narrows_to_float32_only_when_exact():
    schema = Schema([ColSpec("float", "x")])
    assert enforce_schema(pd.DataFrame({"x": [0.5, 2.0]}), schema)["x"].dtype == np.float32
    with pytest.raises(SignatureEnforcementError, match="lose precision"):
        enforce_schema(pd.DataFrame({"x": [0.1]}), schema)


def test_positional_inputs_for_column_schema():
    out = enforce_schema(
        np.array([[63, 2.3], [37, 3.5]]), Schema([ColSpec("double", "a"), ColSpec("double", "b")])
    )
    assert list(out.columns) == ["a", "b"]
    records = [{"age": 63, "oldpeak": 2.3, "thal": "fixed"}]
    assert enforce_schema(records, SCHEMA)["age"].tolist() == [63]
    assert enforce_schema({"age": 63, "oldpeak": 2.3, "thal": "x"}, SCHEMA).shape == (1, 3)
    with pytest.raises(SignatureEnforcementError, match="expects 3 columns"):
        enforce_schema(np.zeros((2, 5)), SCHEMA)


def test_categorical_and_string_dtype_columns():
    frame = _frame(thal=pd.Categorical(["fixed", "normal"]))
    assert enforce_schema(frame, SCHEMA)["thal"].tolist() == ["fixed", "normal"]
    assert enforce_schema(_frame(thal=pd.array(["a", "b"], dtype="string")), SCHEMA)[
        "thal"
    ].tolist() == ["a", "b"]


def test_booleans_and_datetimes():
    schema = Schema([ColSpec("boolean", "flag"), ColSpec("datetime", "when")])
    ok = pd.DataFrame({"flag": [True], "when": pd.to_datetime(["2024-01-01"])})
    assert enforce_schema(ok, schema).shape == (1, 2)
    with pytest.raises(SignatureEnforcementError, match="'flag'"):
        enforce_schema(ok.assign(flag=[1]), schema)
    with pytest.raises(SignatureEnforcementError, match="'when'.*datetime64"):
        enforce_schema(ok.assign(when=["2024-01-01"]), schema)


def test_tensor_shape_and_dtype():
    schema = Schema([TensorSpec(np.float64, (-1, 3))])
    out = enforce_schema(np.ones((2, 3), dtype=np.float32), schema)
    assert out.dtype == np.float64
    assert enforce_schema([[1, 2, 3]], schema).dtype == np.float64
    with pytest.raises(SignatureEnforcementError, match=r"shape \(2, 4\).*\(-1, 3\)"):
        enforce_schema(np.ones((2, 4)), schema)
    with pytest.raises(SignatureEnforcementError, match="dtype float64.*int32"):
        enforce_schema(np.ones((1, 3)), Schema([TensorSpec(np.int32, (-1, 3))]))


def test_named_tensors():
    schema = Schema([TensorSpec(np.float32, (-1, 2), "x"), TensorSpec(np.int64, (-1,), "mask")])
    data = {"x": np.zeros((4, 2), np.float32), "mask": np.ones(4, np.int32), "other": np.zeros(4)}
    with pytest.warns(UserWarning, match="other"):
        out = enforce_schema(data, schema)
    assert set(out) == {"x", "mask"} and out["mask"].dtype == np.int64
    with pytest.raises(SignatureEnforcementError, match=r"missing input tensor \['mask'\]"):
        enforce_schema({"x": np.zeros((4, 2), np.float32)}, schema)


def test_dataframe_for_tensor_schema_and_inferred_roundtrip():
    X = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    schema = infer_signature(X.to_numpy()).inputs
    assert enforce_schema(X, schema).shape == (2, 2)
    validate_schema(X.to_numpy(), schema)


def test_params_defaults_and_unknown():
    params_schema = infer_signature(params={"alpha": 0.5, "k": 3}).params
    assert enforce_params(None, params_schema) == {"alpha": 0.5, "k": 3}
    assert enforce_params({"alpha": 1}, params_schema) == {"alpha": 1.0, "k": 3}
    with pytest.warns(UserWarning, match="beta"):
        enforce_params({"beta": 1}, params_schema)
    with pytest.raises(SignatureEnforcementError, match="'k' must be long"):
        enforce_params({"k": "three"}, params_schema)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert enforce_params(None, None) is None
