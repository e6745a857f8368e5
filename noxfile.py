"""Test sessions: fast unit tests, integration tests with real frameworks, MLflow interop, oldest supported versions.

`nox` with no arguments runs the default sessions (the full suite CI runs).
torch is pinned to 2.13.0: a CPU build is available locally and an unpinned torch pulls several GB.
"""

from __future__ import annotations

import glob
import os
import shutil

import nox

nox.options.sessions = [
    "lint",
    "tests",
    "integration",
    "oldest",
    "oldest_tensorflow",
    "oldest_lightning",
    "oldest_plugins",
    "stores",
    "ui",
]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check over the package, tests and benchmarks."""
    session.install("ruff==0.17.6")  # pinned: a new release must not turn main red
    paths = [
        "src",
        "tests",
        "integration_tests",
        "benchmarks",
        "examples",
        "noxfile.py",
        "conftest.py",
    ]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def tests(session: nox.Session) -> None:
    """Fast, framework-free unit tests."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests", "-q", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """Real training with the newest supported frameworks and MLflow; posargs narrow it to given paths."""
    session.install(TORCH)
    # tensorboard: Keras autologging uploads its logs when it is installed (TensorFlow >= 2.20
    # no longer pulls it in; 2.16 in `oldest_tensorflow` does).
    session.install("-e", ".[all,test,bench]", "dask[array]", "distributed", "tensorboard", TORCH)
    paths = session.posargs or [
        "integration_tests",
        "--ignore=integration_tests/stores",
        "--ignore=integration_tests/ui",
    ]
    session.run("pytest", "-q", *paths)


@nox.session
def oldest(session: nox.Session) -> None:
    """The oldest supported scikit-learn and XGBoost releases."""
    session.install(
        "-e",
        ".[test]",
        "scikit-learn==1.3.2",
        "xgboost==2.0.3",
        "numpy<2",
        "pandas<2.2",
        "scipy<1.14",
    )
    # xgboost 2.0's Dask API differs; the Dask client is tested with the newest xgboost in `integration`.
    session.run(
        "pytest",
        "integration_tests/sklearn",
        "integration_tests/xgboost",
        "--ignore=integration_tests/xgboost/test_distributed.py",
        "-q",
        *session.posargs,
    )


@nox.session
def oldest_tensorflow(session: nox.Session) -> None:
    """TensorFlow 2.16, the first release whose tf.keras is Keras 3."""
    session.install("-e", ".[test]", "tensorflow==2.16.2", "numpy<2")
    session.run(
        "pytest",
        "integration_tests/tensorflow",
        "--ignore=integration_tests/tensorflow/test_torch_backend.py",  # Keras on torch: `integration`
        "-q",
        *session.posargs,
    )


@nox.session
def oldest_lightning(session: nox.Session) -> None:
    """The oldest supported Lightning release, on the pinned torch."""
    session.install(TORCH)
    # Lightning 2.2 still imports pkg_resources, which newer setuptools no longer ships.
    session.install("-e", ".[test]", "lightning==2.2.5", "setuptools<80", "cloudpickle", TORCH)
    session.run("pytest", "integration_tests/pytorch", "-q", *session.posargs)


@nox.session
def oldest_plugins(session: nox.Session) -> None:
    """The oldest supported LightGBM, CatBoost, statsmodels and Optuna, in one environment."""
    session.install(
        "-e",
        ".[test]",
        "lightgbm==4.0.0",
        "catboost==1.2",
        "statsmodels==0.14.0",
        "optuna==3.4.0",
        "scikit-learn==1.3.2",
        "numpy<2",
        "pandas<2.2",
        "scipy<1.14",
    )
    session.run(
        "pytest",
        "integration_tests/lightgbm",
        "integration_tests/catboost",
        "integration_tests/statsmodels",
        "integration_tests/optuna",
        "integration_tests/plugins",
        "-q",
        *session.posargs,
    )


@nox.session
def stores(session: nox.Session) -> None:
    """The team setup: fast and scikit-learn tests tracking into a real PostgreSQL server,
    artifacts on an S3-compatible server (moto's) with runs in PostgreSQL, and MLflow's client
    and stores meeting fittrace's on PostgreSQL (migration both ways, MLflow's REST API)."""
    _ensure_postgres(session)
    session.install("-e", ".[sklearn,postgres,s3,mlflow,test]", "moto[server]>=5.0.13")
    paths = session.posargs or [
        "tests",
        "integration_tests/sklearn",
        "integration_tests/stores",
        "integration_tests/models/test_mlflow_migration.py",
        "integration_tests/models/test_mlflow_rest_api.py",
    ]
    session.run("pytest", "--tracking-store=postgresql", "-q", *paths)


def _ensure_postgres(session: nox.Session) -> None:
    """PostgreSQL's server programs (the tests start a throwaway server), from Debian if missing."""
    if (
        os.environ.get("FITTRACE_TEST_POSTGRES_URI")
        or shutil.which("pg_ctl")
        or glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
    ):
        return
    if os.geteuid() != 0:
        session.error(
            "PostgreSQL is needed: apt-get install postgresql, or set FITTRACE_TEST_POSTGRES_URI"
        )
    session.run("apt-get", "update", "-qq", external=True)
    session.run("apt-get", "install", "-y", "-qq", "postgresql", external=True)


@nox.session
def ui(session: nox.Session) -> None:
    """The web UI driven in headless Chromium with Selenium; a screenshot of each view is saved
    in .nox/ui/tmp/screenshots (FITTRACE_UI_SCREENSHOTS)."""
    _ensure_chromium(session)
    session.install("-e", ".[test]", "selenium>=4.20")
    screenshots = os.path.join(session.create_tmp(), "screenshots")
    session.run(
        "pytest",
        "-q",
        *(session.posargs or ["integration_tests/ui"]),
        env={"FITTRACE_UI_SCREENSHOTS": screenshots},
    )


def _ensure_chromium(session: nox.Session) -> None:
    """Chromium and its WebDriver from Debian, if missing."""
    if shutil.which("chromedriver"):
        return
    if os.geteuid() != 0:
        session.error("Chromium is needed: apt-get install chromium chromium-driver")
    session.run("apt-get", "update", "-qq", external=True)
    session.run("apt-get", "install", "-y", "-qq", "chromium", "chromium-driver", external=True)
