"""The seed document's tracking snippets, with ``import fittrace as mlflow`` as the only change.

The model snippets (``mlflow.sklearn.log_model``, ``pyfunc.load_model``, ``infer_signature``) are
covered by the models tests.
"""

from __future__ import annotations

import os
import pickle

import pytest

import fittrace as mlflow


def test_method_1_with_run_name_and_note_tag():
    data_desc = "Description: train data is from 2022-01 and test-data is from 2022-02"
    with mlflow.start_run(
        run_name="logistic-regression", tags={"mlflow.note.content": data_desc}
    ) as run:
        assert mlflow.active_run().info.run_id == run.info.run_id

    stored = mlflow.get_run(run.info.run_id)
    assert stored.info.run_name == "logistic-regression"
    assert stored.data.tags["fittrace.runName"] == "logistic-regression"
    assert stored.data.tags["fittrace.note.content"] == data_desc
    assert stored.info.status == "FINISHED"
    assert stored.info.end_time is not None
    assert mlflow.active_run() is None


def test_method_2_start_and_end_then_print_run_info(capsys):
    run = mlflow.start_run()
    mlflow.log_param("alpha", 0.1)
    mlflow.end_run()

    print(run.info.run_id)
    print(run.data.params)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == run.info.run_id and len(run.info.run_id) == 32
    assert out[1] == "{}"  # the run object is a snapshot taken at start_run, as in MLflow
    stored = mlflow.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.params == {"alpha": "0.1"}


def test_log_param_metric_tag_then_search_by_tag():
    pytest.importorskip("pandas")  # the seed's users read search results as a DataFrame
    rmse = 4.25
    with mlflow.start_run() as xgb_run:
        mlflow.set_tag("model", "xgboost")
        mlflow.log_param("max_depth", 6)
        mlflow.log_metric("rmse", rmse)
    with mlflow.start_run():
        mlflow.set_tag("model", "linear")
        mlflow.log_metric("rmse", 7.5)

    runs = mlflow.search_runs(filter_string="tags.model='xgboost'")
    assert list(runs["run_id"]) == [xgb_run.info.run_id]
    assert runs.loc[0, "tags.model"] == "xgboost"
    assert runs.loc[0, "params.max_depth"] == "6"
    assert runs.loc[0, "metrics.rmse"] == rmse


def test_log_pickled_processor_as_artifact():
    processor = {"vocabulary": {"PU_DO": 0, "trip_distance": 1}, "sparse": True}
    os.makedirs("models", exist_ok=True)
    with open("models/processor.bin", "wb") as f_out:
        pickle.dump(processor, f_out)

    with mlflow.start_run() as run:
        mlflow.log_artifact(local_path="models/processor.bin", artifact_path="processor")

    client = mlflow.tracking.MlflowClient()
    [info] = client.list_artifacts(run.info.run_id, "processor")
    assert info.path == "processor/processor.bin"
    assert not info.is_dir and info.file_size == os.path.getsize("models/processor.bin")
    local = client.download_artifacts(run.info.run_id, "processor/processor.bin", "downloaded")
    with open(local, "rb") as f_in:
        assert pickle.load(f_in) == processor


def test_download_artifacts_with_run_id_artifact_path_and_dst_path(tmp_path):
    os.makedirs("model_dir")
    with open("model_dir/MLmodel", "w") as f:
        f.write("flavors: {}\n")
    with open("model_dir/model.json", "w") as f:
        f.write('{"trees": []}')
    with mlflow.start_run() as run:
        mlflow.log_artifacts("model_dir", artifact_path="model")
    retrieved_run = mlflow.get_run(run.info.run_id)

    model_local_path = str(tmp_path / "repos" / "mlops" / "model" / "my-experiment")
    file_path = mlflow.artifacts.download_artifacts(
        run_id=retrieved_run.info.run_id,
        artifact_path="model",  # path on mlflow server
        dst_path=model_local_path,
    )
    assert os.path.samefile(file_path, f"{model_local_path}/model")
    assert sorted(os.listdir(f"{model_local_path}/model")) == ["MLmodel", "model.json"]
    with open(f"{model_local_path}/model/model.json") as f:
        assert f.read() == '{"trees": []}'


def test_retrieve_artifacts_with_mlflow_client():
    with mlflow.start_run() as run:
        mlflow.log_text("hello", "notes/readme.txt")
        mlflow.log_dict({"a": 1}, "config.json")

    client = mlflow.tracking.MlflowClient()
    listed = client.list_artifacts(run_id=run.info.run_id)
    assert [(i.path, i.is_dir) for i in listed] == [("config.json", False), ("notes", True)]
    assert mlflow.MlflowClient is mlflow.tracking.MlflowClient
