"""Input examples and signatures for autologged models, from a DMatrix or from the sklearn API's X.

A Booster's signature comes from the DMatrix it was trained on: named features
become ``double`` columns (``long`` for features typed ``int``), unnamed ones a
``float64`` tensor of shape ``(-1, n_features)``; the output schema is read off
one in-place prediction on an all-missing row, so no training data is needed. The input
example, when asked for, is the first rows of the DMatrix with missing values
as NaN. DMatrices with categorical features and QuantileDMatrices (which keep
no raw values) get no input example; categorical ones no signature either.
"""

from __future__ import annotations

from typing import Any

EXAMPLE_ROWS = 5


def _has_categories(dmatrix: Any) -> bool:
    return any(t == "c" for t in dmatrix.feature_types or ())


def dmatrix_example(dmatrix: Any, rows: int = EXAMPLE_ROWS) -> Any:
    """The first ``rows`` rows of ``dmatrix`` as a DataFrame (named features) or float64 array, or None."""
    import numpy as np
    import xgboost as xgb

    if (
        isinstance(dmatrix, xgb.QuantileDMatrix)
        or _has_categories(dmatrix)
        or dmatrix.num_row() == 0
    ):
        return None
    part = dmatrix.slice(list(range(min(rows, dmatrix.num_row())))).get_data().tocoo()
    dense = np.full(part.shape, np.nan)
    dense[part.row, part.col] = part.data  # entries a DMatrix leaves out are its missing values
    names = dmatrix.feature_names
    if names is None:
        return dense
    import pandas as pd

    frame = pd.DataFrame(dense, columns=list(names))
    for name, kind in zip(names, dmatrix.feature_types or (), strict=False):
        if kind == "int" and not frame[name].isna().any():
            frame[name] = frame[name].astype("int64")
    return frame


def dmatrix_signature(booster: Any, dmatrix: Any) -> Any:
    """The signature of ``booster`` trained on ``dmatrix`` (see the module docstring), or None."""
    import numpy as np
    import xgboost as xgb

    from fittrace.models.signature import (
        ColSpec,
        DataType,
        ModelSignature,
        Schema,
        TensorSpec,
        infer_schema,
    )

    if _has_categories(dmatrix):
        return None
    names, types = dmatrix.feature_names, dmatrix.feature_types
    n_features = dmatrix.num_col()
    if names is None:
        inputs = Schema([TensorSpec(np.dtype("float64"), (-1, n_features))])
    else:
        kinds = types or ["float"] * len(names)
        inputs = Schema(
            [
                ColSpec(DataType.long if k == "int" else DataType.double, n)
                for n, k in zip(names, kinds, strict=True)
            ]
        )
    blank = np.full((1, n_features), np.nan)
    try:  # in-place prediction needs no DMatrix (~0.1 ms instead of several)
        output = booster.inplace_predict(blank, validate_features=False)
    except xgb.core.XGBoostError:  # not supported by some boosters (multi-output gblinear)
        output = booster.predict(xgb.DMatrix(blank, feature_names=names, feature_types=types))
    return ModelSignature(inputs, infer_schema(output))


def estimator_signature(estimator: Any, example: Any) -> Any:
    """The signature of a fitted sklearn-API model: ``example`` in, its predictions out."""
    from fittrace.models.signature import infer_signature
    from fittrace.sklearn._training import head

    return infer_signature(
        example, estimator.predict(head(example))
    )  # predict may change its input
