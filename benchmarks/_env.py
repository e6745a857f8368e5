"""The environment benchmark subprocesses run in."""

from __future__ import annotations

import os
import tempfile


def child_env(**extra: str) -> dict[str, str]:
    """This environment without fittrace's or MLflow's settings, importing from .pyc files.

    Start-up is timed as users see it after ``pip install`` (which byte-compiles):
    ``PYTHONDONTWRITEBYTECODE`` is dropped and bytecode goes to a cache folder
    of its own, so the first launch compiles and later ones read it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FITTRACE_", "MLFLOW_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault(
        "PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "fittrace-bench-pycache")
    )
    env.update(extra)
    return env
