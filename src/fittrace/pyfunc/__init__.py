"""Load any model as a generic object with ``predict``: ``fittrace.pyfunc.load_model(uri).predict(data)``."""

from __future__ import annotations

from fittrace.pyfunc.model import FLAVOR_NAME, PyFuncModel, load_model

__all__ = ["FLAVOR_NAME", "PyFuncModel", "load_model"]
