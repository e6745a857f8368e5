"""Load any model as a generic object with ``predict``: ``fittrace.pyfunc.load_model(uri).predict(data)``.

Custom models: subclass ``PythonModel`` and save it with ``save_model``/``log_model``.
"""

from __future__ import annotations

from fittrace.pyfunc.custom import (
    PythonModel,
    PythonModelContext,
    log_model,
    save_model,
)
from fittrace.pyfunc.model import FLAVOR_NAME, PyFuncModel, load_model

__all__ = [
    "FLAVOR_NAME",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "load_model",
    "log_model",
    "save_model",
]
