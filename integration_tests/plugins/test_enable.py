"""``fittrace.autolog()`` finds the plugin autologgers by entry point and installs them lazily."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import fittrace
from fittrace.autologging import list_integrations

fittrace.autolog()
plugins = ("lightgbm", "catboost", "statsmodels", "optuna")
assert set(plugins) <= set(list_integrations()), list_integrations()
assert not set(plugins) & set(sys.modules), "autolog() imported a framework"
import lightgbm, optuna  # statsmodels and catboost install the same way; their imports are slow
import fittrace as mlflow
assert lightgbm.train.__wrapped__ is lightgbm.engine.train
assert optuna.study.Study.optimize.__wrapped__ is not None
assert mlflow.lightgbm.INTEGRATION.name == "lightgbm"
print("ok")
"""


def test_autolog_enables_every_plugin_only_when_its_framework_is_imported():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
