"""Test sessions: fast unit tests, integration tests with real frameworks, MLflow interop, oldest supported versions.

`nox` with no arguments runs the default sessions (the full suite CI runs).
torch is pinned to 2.13.0: a CPU build is available locally and an unpinned torch pulls several GB.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests", "integration", "oldest"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint over the package, tests and benchmarks."""
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "integration_tests", "benchmarks", "examples", "noxfile.py")


@nox.session
def tests(session: nox.Session) -> None:
    """Fast, framework-free unit tests."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests", "-q", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """Real training with the newest supported scikit-learn, XGBoost, TensorFlow/Keras, PyTorch/Lightning and MLflow."""
    session.install(TORCH)
    session.install("-e", ".[all,test,bench]", TORCH)
    session.run("pytest", "integration_tests", "-q", *session.posargs)


@nox.session
def oldest(session: nox.Session) -> None:
    """The oldest supported scikit-learn and XGBoost releases."""
    session.install("-e", ".[test]", "scikit-learn==1.3.2", "xgboost==2.0.3", "numpy<2", "pandas<2.2", "scipy<1.14")
    session.run("pytest", "integration_tests/sklearn", "integration_tests/xgboost", "-q", *session.posargs)
