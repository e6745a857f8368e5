"""`fittrace import --from-mlflow` / `fittrace export --to-mlflow` with the real mlflow package.

An MLflow store of 50 runs (nested runs, metric histories, datasets, artifacts, a deleted run, a
registered model with two versions and an alias) goes into fittrace and back out into a fresh
MLflow store, and everything a user would compare is equal on the way.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import fittrace  # noqa: E402
from fittrace import cli, migration  # noqa: E402

pytestmark = pytest.mark.mlflow_interop

X = np.random.default_rng(0).random((40, 3))
Y = (X[:, 0] > 0.5).astype(int)


def _mlflow_store_at(uri: str) -> None:
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory):
    """An MLflow store written with MLflow's own client: 50 runs in two experiments (built once)."""
    tmp_path = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp_path / 'source.db'}"
    _mlflow_store_at(uri)
    client = mlflow.MlflowClient(uri)
    (tmp_path / "notes.txt").write_text("hello")
    for e, experiment in enumerate(("churn", "fraud")):
        exp_id = client.create_experiment(
            experiment, str(tmp_path / experiment), tags={"team": f"t{e}"}
        )
        parent = None
        for i in range(25):
            tags = {"mlflow.runName": f"{experiment}-{i}", "mlflow.user": "ann", "fold": str(i % 3)}
            if parent and i % 5:
                tags["mlflow.parentRunId"] = parent
            run = client.create_run(exp_id, start_time=1_700_000_000_000 + i * 1000, tags=tags)
            rid = run.info.run_id
            parent = parent or rid
            client.log_batch(
                rid,
                metrics=[
                    Metric("loss", 1.0 / (s + i + 1), 1_700_000_000_000 + s, s) for s in range(20)
                ]
                + [Metric("acc", 0.5 + i / 100, 1_700_000_000_500, 0)],
                params=[Param("lr", str(0.01 * (i + 1))), Param("depth", str(i % 4))],
                tags=[RunTag("data", "v2")],
            )
            if i % 10 == 0:
                client.log_artifact(rid, str(tmp_path / "notes.txt"), "docs")
            client.set_terminated(
                rid, "FAILED" if i == 3 else "FINISHED", end_time=1_800_000_000_000 + i
            )
        client.delete_run(client.search_runs([exp_id], max_results=1)[0].info.run_id)
    mlflow.set_experiment("churn")
    with mlflow.start_run(run_name="trained") as run:
        mlflow.log_input(mlflow.data.from_numpy(X, targets=Y, name="train"), context="training")
        for n, c in ((1, 1.0), (2, 0.1)):
            mlflow.sklearn.log_model(
                LogisticRegression(C=c).fit(X, Y), name=f"model{n}", registered_model_name="clf"
            )
    client.set_registered_model_alias("clf", "champion", 2)
    client.set_registered_model_tag("clf", "owner", "ann")
    client.set_model_version_tag("clf", "2", "validated", "yes")
    return tmp_path / "source.db", run.info.run_id


@pytest.fixture
def mlflow_source(mlflow_store, tmp_path, monkeypatch):
    """This test's own copy of the MLflow store's database (artifacts stay shared, read-only)."""
    database, trained_id = mlflow_store
    copy = tmp_path / "source.db"
    shutil.copyfile(database, copy)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = f"sqlite:///{copy}"
    _mlflow_store_at(uri)
    return uri, trained_id


def _every_run(client, experiment_names=("churn", "fraud")):
    ids = [client.get_experiment_by_name(n).experiment_id for n in experiment_names]
    return client.search_runs(ids, run_view_type=3, max_results=1000)


def _histories(client, run):
    return {
        key: sorted(
            (m.step, m.timestamp, m.value) for m in client.get_metric_history(run.info.run_id, key)
        )
        for key in run.data.metrics
    }


def test_import_copies_every_run_and_model_and_a_second_import_copies_nothing(
    mlflow_source, tmp_path
):
    uri, trained_id = mlflow_source
    source = mlflow.MlflowClient(uri)
    counts = migration.import_from_mlflow(uri)
    assert counts.runs_copied == 51 and counts.versions_copied == 2 and counts.aliases == 1

    client = fittrace.MlflowClient()
    for run in _every_run(source):
        mine = client.get_run(run.info.run_id)  # run ids are kept
        assert mine.data.params == run.data.params
        assert {k: v for k, v in mine.data.tags.items()} == run.data.tags
        assert (mine.info.status, mine.info.start_time, mine.info.end_time) == (
            run.info.status,
            run.info.start_time,
            run.info.end_time,
        )
        assert mine.info.lifecycle_stage == run.info.lifecycle_stage
        assert _histories(client, mine) == _histories(source, run)
    child = next(r for r in _every_run(source) if "mlflow.parentRunId" in r.data.tags)
    assert (
        client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"]
        == child.data.tags["mlflow.parentRunId"]
    )
    trained = client.get_run(trained_id)
    assert [(d.name, d.context) for d in trained.inputs.dataset_inputs] == [("train", "training")]
    assert client.get_registered_model("clf").tags == {"owner": "ann"}
    assert client.get_model_version("clf", 2).tags == {"validated": "yes"}
    expected = mlflow.pyfunc.load_model("models:/clf@champion").predict(X)
    assert (fittrace.pyfunc.load_model("models:/clf@champion").predict(X) == expected).all()

    again = migration.import_from_mlflow(uri)
    assert (again.runs_copied, again.runs_updated, again.runs_skipped) == (0, 0, 51)
    assert again.metric_points == again.artifact_files == again.versions_copied == 0

    # New points on the MLflow side: only they are copied.
    first = _every_run(source)[-1]
    source.log_metric(first.info.run_id, "loss", 0.001, step=99)
    third = migration.import_from_mlflow(uri)
    assert (third.runs_updated, third.metric_points, third.params) == (1, 1, 0)
    assert len(client.get_metric_history(first.info.run_id, "loss")) == 21


def test_export_of_an_import_equals_the_original(mlflow_source, tmp_path, capsys):
    uri, _ = mlflow_source
    source = mlflow.MlflowClient(uri)
    assert cli.main(["import", "--from-mlflow", uri]) == 0
    target = f"sqlite:///{tmp_path / 'target.db'}"
    assert cli.main(["export", "--to-mlflow", target, "--json"]) == 0
    assert '"runs_copied": 51' in capsys.readouterr().out
    exported = mlflow.MlflowClient(target, registry_uri=target)

    by_origin = {r.data.tags[migration.SOURCE_RUN_TAG]: r for r in _every_run(exported)}
    assert len(by_origin) == 51
    for run in _every_run(source):
        copy = by_origin[run.info.run_id]
        assert copy.data.params == run.data.params
        tags = {k: v for k, v in copy.data.tags.items() if k != migration.SOURCE_RUN_TAG}
        if "mlflow.parentRunId" in run.data.tags:  # points at the parent's copy
            parent = tags.pop("mlflow.parentRunId")
            assert (
                exported.get_run(parent).data.tags[migration.SOURCE_RUN_TAG]
                == run.data.tags["mlflow.parentRunId"]
            )
        assert tags == {k: v for k, v in run.data.tags.items() if k != "mlflow.parentRunId"}
        assert _histories(exported, copy) == _histories(source, run)
        assert (copy.info.status, copy.info.lifecycle_stage) == (
            run.info.status,
            run.info.lifecycle_stage,
        )
        for info in source.list_artifacts(run.info.run_id, "docs"):
            original = Path(
                source.download_artifacts(run.info.run_id, info.path, str(tmp_path / "a"))
            )
            copied = Path(
                exported.download_artifacts(copy.info.run_id, info.path, str(tmp_path / "b"))
            )
            assert original.read_bytes() == copied.read_bytes()
    versions = {int(v.version): v for v in exported.search_model_versions("name = 'clf'")}
    assert sorted(versions) == [1, 2] and versions[2].tags == {"validated": "yes"}
    assert exported.get_registered_model("clf").aliases == {"champion": 2}
    _mlflow_store_at(target)
    loaded = mlflow.pyfunc.load_model("models:/clf@champion").predict(X)
    _mlflow_store_at(uri)
    assert (loaded == mlflow.pyfunc.load_model("models:/clf/2").predict(X)).all()

    again = migration.export_to_mlflow(target)
    assert (again.runs_copied, again.runs_skipped, again.versions_copied) == (0, 51, 0)
