"""MLflow's own client logs to `fittrace server`: MLFLOW_TRACKING_URI=http://... and nothing else.

An unmodified mlflow script runs in a subprocess (MLflow is never imported into this process)
against a `fittrace server` over SQLite with a token; what it wrote is read back both by MLflow's
client (inside the script) and by fittrace's Client (here).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mlflow")

import fittrace  # noqa: E402

pytestmark = pytest.mark.mlflow_interop

TOKEN = "s3cret-token"

SCRIPT = r"""
import json, os, sys, tempfile
import numpy as np
import mlflow, mlflow.data, mlflow.pyfunc, mlflow.sklearn
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException, RestException
from sklearn.linear_model import LogisticRegression

X = np.random.default_rng(0).random((40, 3))
Y = (X[:, 0] > 0.5).astype(int)
client = MlflowClient()
out = {}

experiment_id = mlflow.create_experiment("mlflow-flows", tags={"team": "ml"})
mlflow.set_experiment("mlflow-flows")
with mlflow.start_run(run_name="manual") as run:
    mlflow.log_params({"alpha": 0.5, "layers": 3})
    for step in range(5):
        mlflow.log_metric("loss", 1 / (step + 1), step=step)
    mlflow.set_tags({"stage": "dev", "gone": "soon"})
    client.delete_tag(run.info.run_id, "gone")
    client.log_batch(
        run.info.run_id,
        metrics=[Metric("acc", i / 10, 1000 + i, i) for i in range(10)],
        params=[Param("batch", "32")],
        tags=[RunTag("kind", "batch")],
    )
    mlflow.log_input(mlflow.data.from_numpy(X, targets=Y, name="train"), context="training")
    mlflow.log_text("hello", "notes/a.txt")
    mlflow.log_dict({"k": [1, 2]}, "config/c.json")
out["manual"] = run.info.run_id

seen = client.get_run(out["manual"])
out["mlflow_read"] = {
    "params": seen.data.params,
    "metrics": seen.data.metrics,
    "tags": {k: v for k, v in seen.data.tags.items() if not k.startswith("mlflow.source")},
    "status": seen.info.status,
    "artifact_uri": seen.info.artifact_uri,
    "inputs": [(d.dataset.name, [t.value for t in d.tags]) for d in seen.inputs.dataset_inputs],
    "history": [(m.step, m.value) for m in client.get_metric_history(out["manual"], "loss")],
    "artifacts": sorted(f.path for f in client.list_artifacts(out["manual"], "config")),
    "text": open(client.download_artifacts(out["manual"], "notes/a.txt")).read(),
    "experiment": [client.get_experiment(experiment_id).tags, client.get_experiment(experiment_id).artifact_location],
}

mlflow.sklearn.autolog(log_models=False)
with mlflow.start_run(run_name="autologged") as run:
    LogisticRegression(C=0.25).fit(X, Y)
mlflow.sklearn.autolog(disable=True)
out["autologged"] = run.info.run_id

with mlflow.start_run(run_name="registered") as run:
    model = LogisticRegression(C=2.0).fit(X, Y)
    info = mlflow.sklearn.log_model(
        model, name="clf", registered_model_name="mlflow-clf", pip_requirements=["scikit-learn"]
    )
out["registered"] = run.info.run_id
client.set_registered_model_alias("mlflow-clf", "champion", info.registered_model_version)
loaded = mlflow.pyfunc.load_model("models:/mlflow-clf@champion")
out["same_predictions"] = bool((loaded.predict(X) == model.predict(X)).all())
out["prediction"] = model.predict(X).tolist()
out["model_id"] = info.model_id

found = mlflow.search_runs([experiment_id], "params.alpha = '0.5' and metrics.loss < 0.5", output_format="list")
out["search"] = [r.info.run_id for r in found]
out["versions"] = [
    (v.name, v.version, v.run_id, list(v.aliases))
    for v in client.search_model_versions("name = 'mlflow-clf'")
]
client.delete_run(out["autologged"])
logged = mlflow.search_logged_models(experiment_ids=[experiment_id], output_format="list")
out["logged_models"] = [(m.model_id, m.name, m.source_run_id, m.status.name) for m in logged]
client.rename_experiment(experiment_id, "renamed")
out["renamed"] = client.get_experiment_by_name("renamed").experiment_id == experiment_id
out["active_runs"] = sorted(r.info.run_name for r in client.search_runs([experiment_id]))

try:
    client.get_run("0" * 32)
except RestException as e:
    out["missing_run"] = e.error_code
try:
    mlflow.create_experiment("renamed")
except RestException as e:
    out["duplicate_experiment"] = e.error_code

os.environ["MLFLOW_TRACKING_TOKEN"] = "wrong"
try:
    client.search_experiments()
except MlflowException as e:
    out["wrong_token"] = str(e)[:200]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def fittrace_server(tmp_path_factory):
    """`fittrace server` on a free loopback port, SQLite store, a token required."""
    root = tmp_path_factory.mktemp("fittrace-server")
    store = f"sqlite:///{root / 'fittrace.db'}"
    with open(root / "server.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "fittrace.cli", "server", "--backend-store-uri", store,
             "--artifacts-destination", str(root / "artifacts"), "--port", "0"],
            stdout=subprocess.PIPE, stderr=log, text=True,
            env={**os.environ, "FITTRACE_SERVER_TOKEN": TOKEN}, start_new_session=True,
        )  # fmt: skip
    with process.stdout:
        line = process.stdout.readline()
        if not line.startswith("fittrace UI at "):
            process.kill()
            pytest.fail("fittrace server did not start: " + (root / "server.log").read_text())
        yield line.split()[3]
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def test_an_unmodified_mlflow_script_logs_to_fittrace_server(fittrace_server, monkeypatch):
    url = fittrace_server
    # none of this process's MLflow or fittrace settings (an in-process mlflow.set_registry_uri
    # sets MLFLOW_REGISTRY_URI, which would send the script's registry calls elsewhere)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "FITTRACE_"))}
    env.update(MLFLOW_TRACKING_URI=url, MLFLOW_TRACKING_TOKEN=TOKEN)
    env.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_ALLOW_PICKLE_DESERIALIZATION="true")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])

    # MLflow's client read back what it wrote, in MLflow's shapes
    read = out["mlflow_read"]
    assert read["params"] == {"alpha": "0.5", "layers": "3", "batch": "32"}
    assert read["metrics"] == {"loss": 0.2, "acc": 0.9}
    assert read["tags"] == {
        "mlflow.runName": "manual", "mlflow.user": read["tags"]["mlflow.user"],
        "stage": "dev", "kind": "batch",
    }  # fmt: skip
    assert read["status"] == "FINISHED"
    assert read["artifact_uri"].startswith("mlflow-artifacts:/")
    assert read["inputs"] == [["train", ["training"]]]
    assert read["history"] == [[s, 1 / (s + 1)] for s in range(5)]
    assert read["artifacts"] == ["config/c.json"] and read["text"] == "hello"
    assert read["experiment"][0] == {"team": "ml"}
    assert read["experiment"][1].startswith("mlflow-artifacts:/")
    assert out["same_predictions"] is True
    assert out["search"] == [out["manual"]]
    assert out["versions"] == [["mlflow-clf", "1", out["registered"], ["champion"]]]
    assert out["active_runs"] == ["manual", "registered"]
    assert out["logged_models"] == [[out["model_id"], "clf", out["registered"], "READY"]]
    assert out["renamed"] is True
    assert out["missing_run"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["duplicate_experiment"] == "RESOURCE_ALREADY_EXISTS"
    assert out["wrong_token"].startswith("UNAUTHENTICATED")  # the right one worked above

    # fittrace's Client reads the same runs through the same server
    monkeypatch.setenv("FITTRACE_TRACKING_URI", url)
    monkeypatch.setenv("FITTRACE_TRACKING_TOKEN", TOKEN)
    fittrace.testing.reset_tracking()
    client = fittrace.MlflowClient()
    run = client.get_run(out["manual"])
    assert run.data.params == {"alpha": "0.5", "layers": "3", "batch": "32"}
    history = client.get_metric_history(out["manual"], "acc")
    assert sorted((m.step, m.value, m.timestamp) for m in history) == [
        (i, i / 10, 1000 + i) for i in range(10)
    ]
    assert [d.name for d in run.inputs.dataset_inputs] == ["train"]
    local = client.download_artifacts(out["manual"], "notes/a.txt")
    assert Path(local).read_text() == "hello"
    autologged = client.get_run(out["autologged"])
    assert autologged.data.params["C"] == "0.25" and autologged.info.lifecycle_stage == "deleted"
    assert "training_accuracy_score" in autologged.data.metrics
    version = client.get_model_version_by_alias("mlflow-clf", "champion")
    assert version.run_id == out["registered"]
    X = np.random.default_rng(0).random((40, 3))
    model = fittrace.pyfunc.load_model("models:/mlflow-clf@champion")
    assert model.predict(X).tolist() == out["prediction"]
    assert fittrace.get_logged_model(out["model_id"]).source_run_id == out["registered"]
