"""Small binary data for LightGBM trainings of a few iterations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def frame() -> tuple[pd.DataFrame, np.ndarray]:
    """300 rows, 4 named features, a noisy binary label."""
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
    y = (X["a"] - 0.5 * X["b"] + 0.7 * rng.normal(size=300) > 0).astype(int).to_numpy()
    return X, y
