"""DMatrix training and evaluation data as run inputs: shape, feature schema and a bounded digest.

The schema is MLflow's (a float32 tensor of the matrix's width), the profile adds the feature
names and types. The digest covers the shape, feature names and types, the labels and up to
``SAMPLE_ROWS`` rows each from the head, the tail and an even stride of the
matrix (a QuantileDMatrix keeps no raw rows: shape, names and labels only), so
its cost does not grow with the data. The sklearn API's arrays and frames are
described by ``fittrace.autologging.datasets`` in the same format.
"""

from __future__ import annotations

import json
from typing import Any

from fittrace.entities import DatasetInput

SAMPLE_ROWS = 100


def _sample_rows(n_rows: int) -> list[int]:
    step = max(1, n_rows // SAMPLE_ROWS)
    rows = set(range(min(SAMPLE_ROWS, n_rows))) | set(range(max(0, n_rows - SAMPLE_ROWS), n_rows))
    rows |= set(range(0, n_rows, step))
    return sorted(rows)


def dmatrix_input(dmatrix: Any, name: str, context: str, source: str) -> DatasetInput:
    """A run input describing ``dmatrix`` (``context`` is "train" or "eval")."""
    import numpy as np
    import xgboost as xgb

    from fittrace.autologging.datasets import digest
    from fittrace.models.signature import Schema, TensorSpec

    shape = [int(dmatrix.num_row()), int(dmatrix.num_col())]
    names, types = dmatrix.feature_names, dmatrix.feature_types
    sample = None
    if not isinstance(dmatrix, xgb.QuantileDMatrix) and shape[0]:
        sample = dmatrix.slice(_sample_rows(shape[0])).get_data()
    header = json.dumps([shape, names, types]).encode()
    # MLflow's schema of a DMatrix: its float32 matrix; the feature names and types go in the profile
    features = Schema([TensorSpec("float32", (-1, shape[1]))]).to_json()
    return DatasetInput(
        name=name,
        digest=digest(np.frombuffer(header, dtype=np.uint8), dmatrix.get_label(), sample),
        source_type="code",
        source=json.dumps({"source_name": source}),
        schema=json.dumps({"mlflow_tensorspec": {"features": features, "targets": None}}),
        profile=json.dumps(
            {
                "features_shape": shape,
                "features_size": shape[0] * shape[1],
                "feature_names": names,
                "feature_types": types,
            }
        ),
        context=context,
    )
