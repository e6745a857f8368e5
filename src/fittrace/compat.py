"""Run unmodified MLflow scripts on fittrace: ``install_as_mlflow()`` makes ``mlflow`` mean ``fittrace``.

After ``fittrace.compat.install_as_mlflow()`` (or under ``fittrace run --as-mlflow python
train.py``), ``import mlflow`` gives the ``fittrace`` module and ``mlflow.<sub>`` gives
``fittrace.<sub>``: ``from mlflow.models import infer_signature``, ``import mlflow.sklearn``,
``from mlflow import MlflowClient`` all work on a machine without MLflow. It is never implicit.

Limits: only the parts of MLflow that fittrace implements are there; importing any other
``mlflow.<sub>`` raises ``ModuleNotFoundError`` naming it. It is refused when the real
``mlflow`` is already imported in the process (both cannot be ``mlflow`` at once); installed but
not yet imported, the real package is shadowed for this process only.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

from fittrace.exceptions import FittraceError

__all__ = ["install_as_mlflow"]


class _AliasLoader(importlib.abc.Loader):
    """Loads ``mlflow.<sub>`` by putting the ``fittrace.<sub>`` module itself in its place."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        if importlib.util.find_spec(self.target) is None:
            raise ModuleNotFoundError(
                f"No module named {module.__name__!r}: fittrace, standing in for mlflow, has no "
                f"{self.target!r}",
                name=module.__name__,
            )
        # importlib returns what sys.modules holds after exec_module: the fittrace module.
        sys.modules[module.__name__] = importlib.import_module(self.target)


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "mlflow" and not fullname.startswith("mlflow."):
            return None
        alias = "fittrace" + fullname[len("mlflow") :]
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(alias), is_package=True)


def install_as_mlflow() -> None:
    """Make ``import mlflow`` (and ``mlflow.<sub>``) import fittrace in this process.

    Raises FittraceError if the real mlflow is already imported.
    """
    current = sys.modules.get("mlflow")
    if current is not None and current is not sys.modules["fittrace"]:
        raise FittraceError(
            f"The real mlflow is already imported in this process ({getattr(current, '__file__', '?')}); "
            "fittrace cannot stand in for it. Call fittrace.compat.install_as_mlflow() before "
            "anything imports mlflow, or use `import fittrace as mlflow`."
        )
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
