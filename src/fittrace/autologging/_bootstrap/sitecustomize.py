"""Bootstrap that ``fittrace run`` puts first on ``PYTHONPATH``.

It enables autologging from the environment the launcher prepared, restores
the user's own environment (so child processes are not bootstrapped unless
``fittrace run --subprocesses`` asked for it), takes its folder off
``sys.path`` and runs the user's own ``sitecustomize``, if any. It only
registers import hooks: no framework is imported here.
"""

import json
import os
import sys


def _bootstrap() -> None:
    here = os.path.normcase(os.path.dirname(os.path.abspath(__file__)))
    prepared = dict(os.environ)
    saved = os.environ.pop("FITTRACE_AUTOLOG_BOOTSTRAP", None)
    for key, value in (json.loads(saved) if saved else {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    sys.path[:] = [p for p in sys.path if os.path.normcase(os.path.abspath(p or os.curdir)) != here]
    try:
        from fittrace.autologging.env import enable_from_environment
    except ImportError as exc:
        import warnings

        warnings.warn(
            f"fittrace run: fittrace is not importable by {sys.executable}: {exc}", stacklevel=1
        )
    else:
        if prepared.get("FITTRACE_AS_MLFLOW") == "1":
            from fittrace.compat import install_as_mlflow

            install_as_mlflow()
        enable_from_environment(prepared)
    this = sys.modules.pop("sitecustomize", None)
    try:
        import sitecustomize  # noqa: F401  (the user's own, next on sys.path)
    except ImportError as exc:
        if exc.name != "sitecustomize":
            raise
        # None of the user's: importlib expects to find this module back in sys.modules.
        sys.modules["sitecustomize"] = this


_bootstrap()
