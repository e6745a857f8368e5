"""log_model, pyfunc.load_model and every model URI form, with a framework-free flavor."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fittrace
from fittrace import models, pyfunc
from fittrace.exceptions import (
    InvalidParameterError,
    InvalidUriError,
    ResourceNotFoundError,
    SignatureEnforcementError,
)
from fittrace.models import infer_signature
from fittrace.models.uri import parse_models_uri, parse_runs_uri


@pytest.fixture
def logged(toy, toy_model, frame):
    with fittrace.start_run() as run:
        info = toy.log_model(
            toy_model,
            "model",
            signature=infer_signature(frame, toy_model.predict(frame)),
            registered_model_name="toy-model",
        )
    return run, info


def test_log_model_records_run_and_path(logged, toy_model, frame):
    run, info = logged
    assert info.model_uri == f"models:/{info.model_id}" and info.model_id.startswith("m-")
    assert info.run_id == run.info.run_id and info.artifact_path == "model"
    assert info.registered_model_version == 1
    client = fittrace.MlflowClient()
    names = {f.path for f in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/MLmodel", "model/coef.json", "model/requirements.txt"} <= names
    mlmodel = models.Model.load(client.download_artifacts(run.info.run_id, "model"))
    assert mlmodel.run_id == run.info.run_id and mlmodel.artifact_path == "model"
    assert mlmodel.model_uuid == info.model_uuid


def test_every_uri_form_gives_the_same_predictions(logged, toy, toy_model, frame, tmp_path):
    run, info = logged
    client = fittrace.MlflowClient()
    client.set_registered_model_alias("toy-model", "champion", 1)
    local = client.download_artifacts(run.info.run_id, "model", str(tmp_path / "dl"))
    expected = toy_model.predict(frame)
    uris = [
        info.model_uri,
        f"runs:/{run.info.run_id}/model",
        f"runs://{run.info.run_id}/model",
        "models:/toy-model/1",
        "models:/toy-model/latest",
        "models:/toy-model@champion",
        local,
        "file://" + local,
    ]
    for uri in uris:
        np.testing.assert_allclose(pyfunc.load_model(uri).predict(frame), expected, err_msg=uri)
        assert toy.load_model(uri).coef == toy_model.coef
    loaded = pyfunc.load_model(info.model_uri, dst_path=tmp_path / "dst")
    assert str(loaded.model_dir).startswith(str(tmp_path / "dst"))
    assert loaded.metadata.run_id == run.info.run_id


def test_pyfunc_enforces_signature(logged, frame):
    model = pyfunc.load_model(logged[1].model_uri)
    with pytest.raises(SignatureEnforcementError, match="'oldpeak'"):
        model.predict(frame.drop(columns=["oldpeak"]))
    with pytest.warns(UserWarning, match="'extra'"):
        model.predict(frame.assign(extra=1))
    with pytest.raises(SignatureEnforcementError, match="'age'.*double"):
        model.predict(frame.assign(age=[1.0, np.nan, 2.0]))
    np.testing.assert_allclose(model.predict(frame.astype({"age": "int32"})), model.predict(frame))
    assert "flavor: _toy_flavor" in repr(model)


def test_log_model_without_active_run_starts_one(toy, toy_model):
    info = toy.log_model(toy_model, "m")
    active = fittrace.active_run()
    assert active is not None and active.info.run_id == info.run_id
    fittrace.end_run()


def test_log_model_to_explicit_run_and_mlflow3_name(toy, toy_model):
    client = fittrace.MlflowClient()
    run = client.create_run("0")
    info = toy.log_model(toy_model, name="named", run_id=run.info.run_id)
    assert info.name == "named" and info.model_uri == f"models:/{info.model_id}"
    assert fittrace.active_run() is None


@pytest.mark.parametrize("bad", ["../escape", "/abs/path", "a/../../b", ""])
def test_artifact_path_is_confined(toy, toy_model, bad):
    with fittrace.start_run():
        with pytest.raises(InvalidParameterError):
            toy.log_model(toy_model, bad)


@pytest.mark.parametrize(
    "uri, error, match",
    [
        ("runs:/", InvalidUriError, "runs:/<run_id>"),
        ("models:/", InvalidUriError, "models:/<name>/<version>"),
        ("models:/toy-model", InvalidUriError, "models:/<name>/<version>"),
        ("models:/toy-model/Production", InvalidUriError, "stages are not supported"),
        ("models:/toy-model/7", ResourceNotFoundError, "no version 7 \\(versions: 1\\)"),
        ("models:/toy-model@nobody", ResourceNotFoundError, "no alias 'nobody'"),
        ("models:/unknown/1", ResourceNotFoundError, "No registered model named 'unknown'"),
        ("runs:/0123456789abcdef/model", ResourceNotFoundError, "0123456789abcdef"),
        ("mlflow-artifacts:/x/y", InvalidUriError, "Unsupported model URI"),
        ("file://otherhost/x", InvalidUriError, "only local files"),
        ("no/such/dir", ResourceNotFoundError, "does not exist"),
        ("", InvalidUriError, "non-empty"),
    ],
)
def test_bad_uris_and_missing_versions_are_clear(logged, uri, error, match):
    with pytest.raises(error, match=match):
        pyfunc.load_model(uri)


def test_runs_uri_with_missing_artifact(logged):
    run_id = logged[0].info.run_id
    with pytest.raises(ResourceNotFoundError, match="has no artifact 'nope'"):
        pyfunc.load_model(f"runs:/{run_id}/nope")


def test_uri_parsing():
    assert parse_runs_uri("runs:/abc/path/to/model") == ("abc", "path/to/model")
    assert parse_runs_uri("runs://abc/model/") == ("abc", "model")
    with pytest.raises(InvalidParameterError):
        parse_runs_uri("runs:/abc/../other")
    assert parse_models_uri("models:/name/3") == ("name", "3", None)
    assert parse_models_uri("models:/name@champion") == ("name", None, "champion")
    assert parse_models_uri("models:/name/latest") == ("name", "latest", None)


def test_non_local_origin_warns_before_unpickling(toy, toy_model, tmp_path):
    from fittrace.models.loading import loading_from, warn_if_untrusted

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_untrusted("cloudpickle")  # outside a load: silent
        with loading_from("/local/model", True):
            warn_if_untrusted("cloudpickle")
    with (
        loading_from("s3://bucket/model", False),
        pytest.warns(UserWarning, match="s3://bucket/model"),
    ):
        warn_if_untrusted("cloudpickle")


def test_register_local_path_stores_absolute_source(toy, toy_model, tmp_path):
    toy.save_model(toy_model, tmp_path / "saved")
    version = models.register_model("saved", "from-disk")
    assert version.version == 1 and version.source == str((tmp_path / "saved").resolve())
    assert toy.load_model("models:/from-disk/1").coef == toy_model.coef


def _upload(local_dir, url):
    fsspec = pytest.importorskip("fsspec")
    fs, root = fsspec.core.url_to_fs(url)
    for path in local_dir.rglob("*"):
        if path.is_file():
            fs.pipe_file(f"{root}/{path.relative_to(local_dir).as_posix()}", path.read_bytes())


def test_artifact_store_url_is_downloaded(toy, toy_model, frame, tmp_path):
    toy.save_model(toy_model, tmp_path / "saved", input_example=frame)
    _upload(tmp_path / "saved", "memory://bucket/models/toy")
    model = pyfunc.load_model("memory://bucket/models/toy", dst_path=tmp_path / "dl")
    np.testing.assert_allclose(model.predict(frame), toy_model.predict(frame))
    assert (tmp_path / "dl" / "toy" / "MLmodel").is_file()
    info = models.get_model_info("memory://bucket/models/toy")
    assert info.model_uri == "memory://bucket/models/toy" and "toy" in info.flavors
    assert str(info.signature.inputs) == "['age': long, 'oldpeak': double]"
