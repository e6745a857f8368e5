"""Fixtures for the models tests: a framework-free toy flavor and a small table."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pandas as pd
import pytest

HERE = str(Path(__file__).parent)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch):
    """The toy flavor module (importable by name, as pyfunc's loader_module needs)."""
    if HERE not in sys.path:
        monkeypatch.syspath_prepend(HERE)
    module = importlib.import_module("_toy_flavor")
    return module


@pytest.fixture
def toy_model(toy):
    return toy.LinearToy({"age": 0.5, "oldpeak": 2.0})


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"age": [63, 37, 41], "oldpeak": [2.3, 3.5, 1.4]})
