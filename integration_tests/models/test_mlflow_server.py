"""fittrace logs into a real `mlflow server`: FITTRACE_TRACKING_URI=http://... finds it is MLflow's.
And `fittrace import --from-mlflow http://...` copies what such a server holds.

Autologged fits, the registry and artifacts go through MLflow's REST API and artifact proxy, and
MLflow's own client reads back what fittrace wrote.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")
import xgboost as xgb  # noqa: E402
from mlflow.entities import Metric, Param  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import fittrace  # noqa: E402
from fittrace import migration  # noqa: E402
from fittrace.exceptions import ParamConflictError, ResourceNotFoundError  # noqa: E402
from fittrace.store.mlflow_rest import MlflowRestStore  # noqa: E402
from fittrace.testing import reset_tracking  # noqa: E402

pytestmark = pytest.mark.mlflow_interop

X = np.random.default_rng(1).random((60, 3))
Y = (X[:, 0] > 0.5).astype(int)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """`mlflow server` on a loopback port, SQLite backend, proxied artifacts (MLflow's default)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=open(root / "server.log", "wb"), start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(
                f"{url}/api/2.0/mlflow/experiments/search?max_results=1", timeout=5
            )
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(
                    "mlflow server did not start: " + (root / "server.log").read_text()[-2000:]
                )
            time.sleep(0.5)
    yield url
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # its worker may linger: the whole group goes
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def on_mlflow(mlflow_server, monkeypatch):
    """fittrace's tracking URI is the MLflow server; MLflow's client reads the same server."""
    monkeypatch.setenv("FITTRACE_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    reset_tracking()
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_registry_uri(mlflow_server)
    yield mlflow.MlflowClient(mlflow_server)
    reset_tracking()


def test_an_autologged_fit_and_registered_model_land_on_the_mlflow_server(on_mlflow):
    assert isinstance(fittrace.MlflowClient()._store, MlflowRestStore)
    fittrace.set_experiment("sk")
    fittrace.sklearn.autolog(registered_model_name="clf")
    with fittrace.start_run(run_name="lr") as run:
        model = LogisticRegression(C=0.5).fit(X, Y)
        for step in range(30):
            fittrace.log_metric("loss", 1 / (step + 1), step=step)
        fittrace.log_metric("nan_metric", math.nan)
        fittrace.log_text("hello", "notes/a.txt")
    fittrace.sklearn.autolog(disable=True)

    seen = on_mlflow.get_run(run.info.run_id)  # MLflow's client reads what fittrace wrote
    assert seen.data.params["C"] == "0.5" and seen.info.status == "FINISHED"
    assert seen.data.tags["mlflow.runName"] == "lr"
    assert seen.data.metrics["training_accuracy_score"] == pytest.approx(model.score(X, Y))
    history = on_mlflow.get_metric_history(run.info.run_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(s, 1 / (s + 1)) for s in range(30)]
    assert math.isnan(on_mlflow.get_metric_history(run.info.run_id, "nan_metric")[0].value)
    names = {f.path for f in on_mlflow.list_artifacts(run.info.run_id)}
    assert {"model", "notes"} <= names
    local = on_mlflow.download_artifacts(run.info.run_id, "notes/a.txt")
    assert open(local).read() == "hello"

    fittrace.MlflowClient().set_registered_model_alias("clf", "champion", 1)
    assert on_mlflow.get_model_version_by_alias("clf", "champion").run_id == run.info.run_id
    expected = model.predict(X)
    assert (fittrace.pyfunc.load_model("models:/clf@champion").predict(X) == expected).all()
    assert (mlflow.pyfunc.load_model("models:/clf/1").predict(X) == expected).all()
    found = fittrace.search_runs(filter_string="metrics.loss < 0.5 AND params.C = '0.5'")
    assert list(found["run_id"]) == [run.info.run_id]


def test_xgboost_training_and_paged_search(on_mlflow):
    fittrace.set_experiment("xgb")
    fittrace.xgboost.autolog(log_models=False)
    for depth in (2, 3, 4):
        dtrain = xgb.DMatrix(X, label=Y)
        xgb.train({"max_depth": depth}, dtrain, 5, evals=[(dtrain, "train")])
    fittrace.xgboost.autolog(disable=True)
    experiment = on_mlflow.get_experiment_by_name("xgb")
    runs = on_mlflow.search_runs([experiment.experiment_id], order_by=["params.max_depth ASC"])
    assert [r.data.params["max_depth"] for r in runs] == ["2", "3", "4"]
    assert all(len(on_mlflow.get_metric_history(r.info.run_id, "train-rmse")) == 5 for r in runs)
    client = fittrace.MlflowClient()
    first = client.search_runs(
        [experiment.experiment_id], max_results=2, order_by=["params.max_depth"]
    )
    second = client.search_runs([experiment.experiment_id], max_results=2, page_token=first.token,
                                order_by=["params.max_depth"])  # fmt: skip
    assert [r.data.params["max_depth"] for r in [*first, *second]] == ["2", "3", "4"]


def test_mlflow_errors_become_fittrace_errors(on_mlflow):
    store = fittrace.MlflowClient()._store
    with pytest.raises(ResourceNotFoundError):
        store.get_run("0" * 32)
    assert store.get_experiment_by_name("no such experiment") is None
    with fittrace.start_run() as run:
        pass
    store.write_batch([], [(run.info.run_id, "lr", "0.1")], [])
    with pytest.raises(ParamConflictError):
        store.write_batch([], [(run.info.run_id, "lr", "0.2")], [])


def test_a_keras_fit_is_autologged_into_the_mlflow_server(on_mlflow):
    keras = pytest.importorskip("keras")
    fittrace.set_experiment("keras")
    fittrace.tensorflow.autolog()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(X, Y, epochs=2, verbose=0)
    fittrace.tensorflow.autolog(disable=True)
    experiment = on_mlflow.get_experiment_by_name("keras")
    (run,) = on_mlflow.search_runs([experiment.experiment_id])
    assert run.data.params["epochs"] == "2"
    assert len(on_mlflow.get_metric_history(run.info.run_id, "loss")) == 2
    assert "model" in {f.path for f in on_mlflow.list_artifacts(run.info.run_id)}


def test_import_from_an_mlflow_server_copies_runs_histories_and_artifacts(on_mlflow, tmp_path):
    experiment_id = on_mlflow.create_experiment("served-history")
    run_id = on_mlflow.create_run(experiment_id, tags={"mlflow.runName": "old"}).info.run_id
    on_mlflow.log_batch(
        run_id,
        metrics=[Metric("loss", 1 / (s + 1), 1_700_000_000_000 + s, s) for s in range(50)],
        params=[Param("lr", "0.1")],
    )
    (tmp_path / "report.txt").write_text("kept byte for byte")
    on_mlflow.log_artifact(run_id, str(tmp_path / "report.txt"), "docs")
    on_mlflow.set_terminated(run_id)

    ours = f"sqlite:///{tmp_path / 'ft' / 'fittrace.db'}"
    counts = migration.import_from_mlflow(
        on_mlflow.tracking_uri, experiment_names=["served-history"], tracking_uri=ours
    )
    assert (counts.runs_copied, counts.metric_points, counts.artifact_files) == (1, 50, 1)
    client = fittrace.MlflowClient(ours)
    (copy,) = client.search_runs([client.get_experiment_by_name("served-history").experiment_id])
    assert copy.info.run_name == "old" and copy.data.params == {"lr": "0.1"}
    history = client.get_metric_history(copy.info.run_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(s, 1 / (s + 1)) for s in range(50)]
    local = client.download_artifacts(copy.info.run_id, "docs/report.txt", str(tmp_path / "d"))
    assert open(local).read() == "kept byte for byte"
    again = migration.import_from_mlflow(
        on_mlflow.tracking_uri, experiment_names=["served-history"], tracking_uri=ours
    )
    assert (again.runs_copied, again.runs_skipped) == (0, 1)
