"""MLflow code one step beyond the seed runs unchanged on ``import fittrace as mlflow``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import fittrace as mlflow
from fittrace.exceptions import ResourceNotFoundError


def test_datasets_are_logged_as_mlflow_records_them(frame):
    features = np.arange(12, dtype=np.float64).reshape(4, 3)
    with mlflow.start_run() as run:
        train = mlflow.data.from_numpy(features, targets=np.array([0, 1, 0, 1]), name="train")
        table = mlflow.data.from_pandas(
            frame.assign(target=[0, 1, 0]), source="data/heart.csv", targets="target"
        )
        mlflow.log_input(train, context="training")
        mlflow.log_input(table, context="eval")
    assert train.profile["features_shape"] == [4, 3]
    assert [c["name"] for c in table.schema["mlflow_colspec"]] == ["age", "oldpeak", "target"]
    assert json.loads(train.schema["mlflow_tensorspec"]["features"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}
    ]
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    by_name = {i.dataset.name: i for i in inputs}
    assert set(by_name) == {"train", "dataset"}
    assert by_name["train"].dataset.digest == train.digest
    assert [(t.key, t.value) for t in by_name["train"].tags] == [
        ("mlflow.data.context", "training")
    ]
    stored = by_name["dataset"].dataset
    assert stored.source_type == "local" and json.loads(stored.source) == {"uri": "data/heart.csv"}
    assert [c["name"] for c in json.loads(stored.schema)["mlflow_colspec"]] == [
        "age",
        "oldpeak",
        "target",
    ]
    assert json.loads(stored.profile)["features_shape"] == [3, 2]


def test_another_frame_has_another_digest(frame):
    assert mlflow.data.from_pandas(frame).digest != mlflow.data.from_pandas(frame * 2).digest


def test_a_frame_dataset_infers_its_schema_once_from_all_columns(frame, monkeypatch):
    from fittrace.autologging import datasets

    inferred = []
    schema_text = datasets.schema_text
    monkeypatch.setattr(
        datasets, "schema_text", lambda X, y: inferred.append(X) or schema_text(X, y)
    )
    table = mlflow.data.from_pandas(frame.assign(target=[0, 1, 0]), targets="target")
    assert [list(X.columns) for X in inferred] == [["age", "oldpeak", "target"]]
    assert [c["name"] for c in table.schema["mlflow_colspec"]] == ["age", "oldpeak", "target"]
    assert table.profile["features_shape"] == [3, 2] and table.profile["targets_shape"] == [3]


def test_experiments_search_tags_and_run_deletion():
    mlflow.set_experiment("fraud-a")
    mlflow.set_experiment_tags({"team": "risk", "stage": "dev"})
    mlflow.set_experiment("churn")
    mlflow.set_experiment_tag("team", "growth")
    names = [e.name for e in mlflow.search_experiments(filter_string="name LIKE 'fraud%'")]
    assert names == ["fraud-a"]
    found = mlflow.search_experiments(filter_string="tags.team = 'growth'")
    assert [e.name for e in found] == ["churn"]
    assert mlflow.get_experiment_by_name("fraud-a").tags == {"team": "risk", "stage": "dev"}
    ordered = mlflow.search_experiments(order_by=["name ASC"], max_results=2)
    assert [e.name for e in ordered] == ["Default", "churn"]
    client = mlflow.MlflowClient()
    first = client.search_experiments(max_results=2, order_by=["name ASC"])
    rest = client.search_experiments(max_results=2, order_by=["name ASC"], page_token=first.token)
    assert [e.name for e in first + rest] == ["Default", "churn", "fraud-a"] and rest.token is None
    with mlflow.start_run() as run:
        pass
    mlflow.delete_run(run.info.run_id)
    assert mlflow.get_run(run.info.run_id).info.lifecycle_stage == "deleted"


def test_tables_images_and_artifact_loading():
    with mlflow.start_run() as run:
        mlflow.log_table({"x": [1, 2], "pred": ["a", "b"]}, "eval/table.json")
        mlflow.log_table(pd.DataFrame({"x": [3], "pred": ["c"]}), "eval/table.json")
        mlflow.log_image(np.full((4, 5, 3), 0.5), "plots/gray.png")
        mlflow.log_dict({"k": [1, 2]}, "conf.yaml")
        mlflow.log_text("hello", "notes/readme.txt")
    uri = f"runs:/{run.info.run_id}"
    table = mlflow.load_table("eval/table.json", run_ids=[run.info.run_id])
    assert table.to_dict("list") == {"x": [1, 2, 3], "pred": ["a", "b", "c"]}
    image = mlflow.artifacts.load_image(f"{uri}/plots/gray.png")
    assert image.size == (5, 4) and image.getpixel((0, 0)) == (128, 128, 128)
    assert mlflow.artifacts.load_dict(f"{uri}/conf.yaml") == {"k": [1, 2]}
    assert mlflow.artifacts.load_text(f"{uri}/notes/readme.txt") == "hello"
    listed = mlflow.artifacts.list_artifacts(artifact_uri=f"{uri}/notes")
    assert [f.path for f in listed] == ["notes/readme.txt"]
    top = mlflow.artifacts.list_artifacts(run_id=run.info.run_id)
    assert {f.path for f in top} == {"eval", "plots", "conf.yaml", "notes"}


def test_image_series_by_key_and_step_as_mlflow_lays_them_out():
    with mlflow.start_run() as run:
        for step in (0, 1):
            mlflow.log_image(
                np.full((300, 600, 3), step * 255, np.uint8), key="val/sample", step=step
            )
        with pytest.raises(mlflow.exceptions.InvalidParameterError, match="key"):
            mlflow.log_image(np.zeros((2, 2)), key="bad:key")
        with pytest.raises(mlflow.exceptions.InvalidParameterError, match="exactly one"):
            mlflow.log_image(np.zeros((2, 2)))
    run = mlflow.get_run(run.info.run_id)
    assert run.data.tags["mlflow.loggedImages"] == "True"
    names = sorted(
        f.path
        for f in mlflow.artifacts.list_artifacts(run_id=run.info.run_id, artifact_path="images")
    )
    assert len(names) == 4
    full = [n for n in names if n.endswith(".png")]
    assert [n.split("+")[:3] for n in full] == [
        ["images/val~sample", "step", "0"],
        ["images/val~sample", "step", "1"],
    ]
    white = mlflow.artifacts.load_image(f"runs:/{run.info.run_id}/{full[1]}")
    assert white.size == (600, 300) and white.getpixel((0, 0)) == (255, 255, 255)
    thumbnail = mlflow.artifacts.load_image(
        f"runs:/{run.info.run_id}/{full[1][:-4]}+compressed.webp"
    )
    assert thumbnail.size == (256, 128)


def test_registry_versions_are_ints_and_aliases_map_to_them(toy, toy_model):
    with mlflow.start_run():
        info = toy.log_model(toy_model, name="model", registered_model_name="heart")
        toy.log_model(toy_model, name="model2", registered_model_name="heart")
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("heart", "champion", 1)
    assert info.registered_model_version == 1
    assert client.get_model_version("heart", 2).version == 2
    assert client.get_registered_model("heart").aliases == {"champion": 1}
    assert client.get_model_version_by_alias("heart", "champion").version == 1


def test_mlflow3_logged_models(toy, toy_model, frame):
    with mlflow.start_run() as run:
        info = toy.log_model(toy_model, name="heart_model")
    assert info.model_uri == f"models:/{info.model_id}" and info.name == "heart_model"
    assert info.mlflow_version is None and info.fittrace_version
    expected = toy_model.predict(frame)
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/heart_model"):
        np.testing.assert_allclose(mlflow.pyfunc.load_model(uri).predict(frame), expected)
    assert mlflow.last_logged_model().model_id == info.model_id
    model = mlflow.get_logged_model(info.model_id)
    assert (model.name, model.source_run_id) == ("heart_model", run.info.run_id)
    assert model.model_uri == info.model_uri
    stored = mlflow.get_run(run.info.run_id)
    assert [o.model_id for o in stored.outputs.model_outputs] == [info.model_id]
    found = mlflow.search_logged_models(filter_string="name = 'heart_model'", output_format="list")
    assert [m.model_id for m in found] == [info.model_id]
    assert list(mlflow.search_logged_models()["model_id"]) == [info.model_id]
    assert mlflow.models.Model.load(info.model_uri).model_id == info.model_id
    assert mlflow.register_model(info.model_uri, "from-id").version == 1
    with mlflow.start_run() as evaluation:
        mlflow.log_input(model=model)
    used = mlflow.get_run(evaluation.info.run_id).inputs.model_inputs
    assert [m.model_id for m in used] == [info.model_id]
    with pytest.raises(ResourceNotFoundError):
        mlflow.get_logged_model("m-" + "0" * 32)


def test_model_load_reads_runs_uris(toy, toy_model):
    with mlflow.start_run() as run:
        toy.log_model(toy_model, name="model")
    mlmodel = mlflow.models.Model.load(f"runs:/{run.info.run_id}/model")
    assert mlmodel.run_id == run.info.run_id and "toy" in mlmodel.flavors


def test_a_run_holds_any_number_of_logged_models(toy, toy_model):
    with mlflow.start_run() as run:
        ids = {toy.log_model(toy_model, name=f"checkpoint_{i}").model_id for i in range(60)}
    assert {o.model_id for o in mlflow.get_run(run.info.run_id).outputs.model_outputs} == ids
