"""Unmodified MLflow scripts, ``from mlflow... import`` lines included, run on fittrace."""

from __future__ import annotations

import subprocess
import sys

import fittrace

MLFLOW_SCRIPT = """
    import mlflow
    import mlflow.pyfunc
    from mlflow import MlflowClient
    from mlflow.entities import RunStatus
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    import fittrace

    assert mlflow is fittrace and infer_signature is fittrace.models.infer_signature
    mlflow.set_experiment("heart")
    with mlflow.start_run(run_name="unmodified") as run:
        mlflow.log_param("C", 0.5)
        mlflow.log_metric("acc", 0.9)
    status = MlflowClient().get_run(run.info.run_id).info.status
    assert status == RunStatus.FINISHED == RunStatus.to_string(RunStatus.FINISHED)
    try:
        MlflowClient().get_run("no-such-run")
    except MlflowException as e:
        print("caught:", type(e).__name__)
    try:
        import mlflow.genai  # noqa: F401
    except ModuleNotFoundError as e:
        print("missing:", e)
"""


def _run_in_heart() -> fittrace.entities.Run:
    (run,) = fittrace.search_runs(experiment_names=["heart"], output_format="list")
    return run


def test_install_as_mlflow_maps_mlflow_and_its_submodules(run_python):
    done = run_python(
        "import fittrace.compat\nfittrace.compat.install_as_mlflow()\n"
        + MLFLOW_SCRIPT.replace("\n    ", "\n")
    )
    assert done.returncode == 0, done.stderr
    assert "missing: No module named 'mlflow.genai'" in done.stdout
    assert "caught: ResourceNotFoundError" in done.stdout
    run = _run_in_heart()
    assert run.data.params == {"C": "0.5"} and run.data.metrics == {"acc": 0.9}


def test_fittrace_run_as_mlflow_runs_the_script_unchanged(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(MLFLOW_SCRIPT.replace("\n    ", "\n"))
    launch = "import sys; from fittrace.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", launch, "run", "--as-mlflow", "python", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert _run_in_heart().info.run_name == "unmodified"
