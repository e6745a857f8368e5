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
            and m not in {"fittrace.exceptions", "fittrace.entities", "fittrace.tags"}
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
