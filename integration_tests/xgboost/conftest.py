"""Each test gets its own tracking store in tmp_path, a clean fluent state and no leftover patches."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def binary_data() -> tuple[np.ndarray, np.ndarray]:
    """240 rows, 5 features, a noisy binary label."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(240, 5))
    y = (X[:, 0] - 0.5 * X[:, 1] + 0.8 * rng.normal(size=240) > 0).astype(int)
    return X, y
