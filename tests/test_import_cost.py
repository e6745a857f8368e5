"""``import fittrace`` stays light: no framework, data library, SQL driver or web stack gets imported.

Timing lives in benchmarks/bench_core.py; here we check what a fresh interpreter loads.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = [
    "sqlite3",
    "_sqlite3",
    "pandas",
    "numpy",
    "sklearn",
    "xgboost",
    "torch",
    "tensorflow",
    "keras",
    "lightning",
    "matplotlib",
    "scipy",
    "fsspec",
    "psycopg",
    "psycopg2",
    "sqlalchemy",
    "http.server",
    "flask",
    "fastapi",
    "uvicorn",
    "mlflow",
]


def _modules_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import fittrace",
        "import fittrace as mlflow; mlflow.__version__",
        "from fittrace import exceptions, entities",
    ],
)
def test_import_fittrace_loads_nothing_heavy(statement):
    loaded = _modules_after(statement)
    assert "fittrace" in loaded
    assert sorted(m for m in HEAVY if m in loaded) == []
    assert (
        sorted(
            m
            for m in loaded
            if m.startswith("fittrace.")
            and m
            not in {"fittrace._lazy", "fittrace.exceptions", "fittrace.entities", "fittrace.tags"}
        )
        == []
    )


@pytest.mark.sqlite_store
def test_tracking_loads_sqlite_but_no_data_library():
    loaded = _modules_after("import fittrace; fittrace.get_experiment_by_name('Default')")
    assert "sqlite3" in loaded  # the check above is able to see the modules it forbids
    assert "psycopg" not in loaded  # the PostgreSQL store loads only for postgresql:// URIs
    assert (
        sorted(
            m
            for m in ("pandas", "numpy", "sklearn", "torch", "tensorflow", "mlflow")
            if m in loaded
        )
        == []
    )


_FIRST_FIT = """
import json, sys, threading
from sklearn.linear_model import LogisticRegression
X, y = [[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]], [0, 1, 0, 1]
LogisticRegression().fit(X, y)
before = set(sys.modules)
import fittrace, fittrace.sklearn
from fittrace.tracking import environment
metadata_calls = []  # scikit-learn may have imported importlib.metadata: count fittrace's uses
real_metadata = environment._metadata
environment._metadata = lambda: metadata_calls.append(1) or real_metadata()
by_the_fit = []  # what the fit's own thread imports (deferred writes import on another)
class Seen:
    def find_spec(self, name, path=None, target=None):
        if threading.current_thread() is threading.main_thread():
            by_the_fit.append(name)
sys.meta_path.insert(0, Seen())
fittrace.sklearn.autolog()
LogisticRegression().fit(X, y)
sys.meta_path.remove(sys.meta_path[0])
run_id = fittrace.last_active_run().info.run_id
loaded = sorted(set(sys.modules) - before)
print(json.dumps({"run_id": run_id, "loaded": loaded, "metadata_calls": len(metadata_calls),
                  "by_the_fit": by_the_fit}))
"""

# Each costs a first fit time and none is needed by it: the records a fit never builds
# (a dataclass costs about 0.5 ms to define), the search compiler, the registry's records.
_NOT_FOR_A_FIT = [
    "fittrace.entities.history",
    "fittrace.entities.files",
    "fittrace.entities.links",
    "fittrace.entities.registry",
    "fittrace.store.search",
    "getpass",
]


def test_a_first_autologged_fit_loads_only_what_it_uses(run_python):
    pytest.importorskip("sklearn")  # the stores session, which has it, runs this
    result = run_python(_FIRST_FIT)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert "fittrace.models.model" in out["loaded"]  # the check sees what the fit imported
    assert "fittrace.models.model" in out["by_the_fit"]
    assert [m for m in ("yaml", "importlib.metadata", "pynvml") if m in out["loaded"]] == []
    assert [m for m in _NOT_FOR_A_FIT if m in out["by_the_fit"]] == []
    assert out["metadata_calls"] == 0
    import fittrace.sklearn

    model = fittrace.sklearn.load_model(f"runs:/{out['run_id']}/model")
    assert list(model.predict([[0.1, 0.95], [0.95, 0.05]])) == [0, 1]
    requirements = fittrace.MlflowClient().download_artifacts(
        out["run_id"], "model/requirements.txt"
    )
    with open(requirements) as f:
        assert any(line.startswith("scikit-learn==") for line in f)
