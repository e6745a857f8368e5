"""Artifacts and models on a real S3-compatible server (moto's), through s3fs, set up as a user would.

The endpoint and dummy credentials come from the standard AWS environment variables
(``AWS_ENDPOINT_URL``; ``AWS_ENDPOINT_URL_S3`` and ``FSSPEC_S3_ENDPOINT_URL`` are checked in a
fresh interpreter, as fsspec reads its variables at import).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import fittrace
import fittrace.pyfunc
import fittrace.sklearn
from fittrace.entities import RunStatus
from fittrace.exceptions import StoreError
from fittrace.tracking.client import Client

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")  # a dependency of moto
fsspec_config = pytest.importorskip("fsspec.config")  # a dependency of s3fs

_ENDPOINT_VARS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "FSSPEC_S3_ENDPOINT_URL")
_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class Bucket:
    endpoint: str
    name: str
    client: Any  # an independent boto3 client, to see what really reached the server

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under ``prefix`` (made relative to it), sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        return sorted(o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()


def _use_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> None:
    """Point s3fs at ``endpoint`` with dummy credentials, ignoring the user's ~/.aws and any cached filesystem."""
    for name in (*_ENDPOINT_VARS, "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", _CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", _CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.delitem(fsspec_config.conf, "s3", raising=False)  # FSSPEC_S3_* read at import
    s3fs.S3FileSystem.clear_instance_cache()  # instances are cached by arguments, not by environment


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free local port, for this module's tests."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Bucket]:
    """A new, empty bucket, with s3fs pointed at the server through the environment."""
    _use_endpoint(monkeypatch, tmp_path, s3_endpoint)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **_CREDENTIALS)
    name = f"fittrace-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    yield Bucket(s3_endpoint, name, client)
    s3fs.S3FileSystem.clear_instance_cache()


def _artifact_prefix(bucket: Bucket, run: Any) -> str:
    """The key prefix of a run's artifacts in ``bucket``."""
    uri = run.info.artifact_uri
    assert uri.startswith(f"s3://{bucket.name}/"), uri
    return uri[len(f"s3://{bucket.name}/") :] + "/"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _tiny_model() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    return LogisticRegression(max_iter=200).fit(X, y), X


def test_artifact_root_on_s3_holds_every_logged_file(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", f"s3://{bucket.name}/team/runs")
    weights = tmp_path / "weights.bin"
    weights.write_bytes(bytes(range(256)) * 40)
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "sub" / "b.txt").write_text("beta ✓", encoding="utf-8")

    with fittrace.start_run() as run:
        fittrace.log_artifact(str(weights))
        fittrace.log_artifacts(str(data), artifact_path="data")
        fittrace.log_text("hello ✓", "notes/readme.md")
        fittrace.log_dict({"lr": 0.1, "layers": [8, 4]}, "config.json")

    prefix = _artifact_prefix(bucket, run)
    assert prefix.startswith("team/runs/")
    expected = {
        "weights.bin": weights.read_bytes(),
        "data/a.csv": b"x,y\n1,2\n",
        "data/sub/b.txt": "beta ✓".encode(),
        "notes/readme.md": "hello ✓".encode(),
    }
    assert bucket.keys(prefix) == sorted([*expected, "config.json"])
    assert bucket.read(prefix + "weights.bin") == expected["weights.bin"]

    client = Client()
    top = client.list_artifacts(run.info.run_id)
    assert [(f.path, f.is_dir) for f in top] == [
        ("config.json", False),
        ("data", True),
        ("notes", True),
        ("weights.bin", False),
    ]
    assert {f.path: f.file_size for f in top}["weights.bin"] == 256 * 40
    assert [f.path for f in client.list_artifacts(run.info.run_id, "data")] == [
        "data/a.csv",
        "data/sub",
    ]
    assert [f.path for f in client.list_artifacts(run.info.run_id, "data/sub")] == [
        "data/sub/b.txt"
    ]

    everything = fittrace.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="", dst_path=str(tmp_path / "all")
    )
    downloaded = _files(Path(everything))
    assert json.loads(downloaded.pop("config.json")) == {"lr": 0.1, "layers": [8, 4]}
    assert downloaded == expected
    one = fittrace.artifacts.download_artifacts(
        f"runs:/{run.info.run_id}/data/sub/b.txt", dst_path=str(tmp_path / "one")
    )
    assert Path(one).read_text(encoding="utf-8") == "beta ✓"


def test_experiment_artifact_location_on_s3(bucket: Bucket, tmp_path: Path) -> None:
    exp_id = fittrace.create_experiment("remote", artifact_location=f"s3://{bucket.name}/exp")
    with fittrace.start_run(experiment_id=exp_id) as remote_run:
        fittrace.log_text("remote", "where.txt")
    with fittrace.start_run() as local_run:  # the default experiment stays beside the database
        fittrace.log_text("local", "where.txt")

    run_id = remote_run.info.run_id
    assert remote_run.info.artifact_uri == f"s3://{bucket.name}/exp/{run_id}/artifacts"
    assert bucket.keys() == [f"exp/{run_id}/artifacts/where.txt"]
    assert bucket.read(f"exp/{run_id}/artifacts/where.txt") == b"remote"
    local = Client().download_artifacts(run_id, "where.txt", str(tmp_path / "dl"))
    assert Path(local).read_text() == "remote"
    assert "://" not in local_run.info.artifact_uri
    assert Path(local_run.info.artifact_uri, "where.txt").read_text() == "local"


def test_sklearn_model_round_trip_through_s3(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", f"s3://{bucket.name}/models")
    model, X = _tiny_model()
    with fittrace.start_run() as run:
        info = fittrace.sklearn.log_model(
            model, artifact_path="model", registered_model_name="s3-classifier"
        )

    model_uri = f"runs:/{run.info.run_id}/model"
    assert info.model_uri == f"models:/{info.model_id}" and info.artifact_path == "model"
    assert "model/MLmodel" in bucket.keys(_artifact_prefix(bucket, run))
    with pytest.warns(UserWarning, match=rf"s3://{bucket.name}/.*not on this machine"):
        pyfunc_model = fittrace.pyfunc.load_model(model_uri)
    with pytest.warns(UserWarning, match="not on this machine"):
        sk_model = fittrace.sklearn.load_model(model_uri)
    with pytest.warns(UserWarning, match="not on this machine"):
        registered = fittrace.sklearn.load_model("models:/s3-classifier/1")
    expected = model.predict(X)
    assert list(pyfunc_model.predict(X)) == list(expected)
    assert list(sk_model.predict(X)) == list(expected)
    assert list(registered.predict(X)) == list(expected)


def test_autologged_fit_puts_its_model_on_s3(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch, runs: Any
) -> None:
    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", f"s3://{bucket.name}/auto")
    fittrace.sklearn.autolog()
    model, X = _tiny_model()

    [run] = runs()
    assert run.info.status == "FINISHED"
    keys = bucket.keys(_artifact_prefix(bucket, run))
    assert {"model/MLmodel", "model/requirements.txt"} <= set(keys)
    assert "model" in [f.path for f in Client().list_artifacts(run.info.run_id)]
    with pytest.warns(UserWarning, match="not on this machine"):
        loaded = fittrace.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    assert list(loaded.predict(X)) == list(model.predict(X))


def _log(kind: str, tmp_path: Path) -> None:
    """One artifact-logging call of the given kind, from a local file or folder under tmp_path."""
    if kind == "log_artifact":
        fittrace.log_artifact(str(tmp_path / "local" / "keep.txt"))
    elif kind == "log_artifacts":
        fittrace.log_artifacts(str(tmp_path / "local"), artifact_path="inputs")
    elif kind == "log_text":
        fittrace.log_text("text", "notes/a.txt")
    else:
        fittrace.sklearn.log_model(_tiny_model()[0], artifact_path="model")


def _assert_nothing_lost(run_id: str, tmp_path: Path) -> None:
    """The run is recorded as FAILED with its params, and the local input is untouched."""
    recorded = Client().get_run(run_id)
    assert recorded.info.status == RunStatus.FAILED
    assert recorded.data.params == {"lr": "0.1"}
    assert (tmp_path / "local" / "keep.txt").read_text() == "keep me"


_KINDS = ["log_artifact", "log_artifacts", "log_text", "log_model"]


@pytest.mark.parametrize("kind", _KINDS)
def test_missing_bucket_fails_clearly_and_creates_nothing(
    bucket: Bucket, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = f"{bucket.name}-typo"
    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", f"s3://{missing}/runs")
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "keep.txt").write_text("keep me")

    with pytest.raises(StoreError, match=f"s3://{missing}/runs.*bucket does not exist"):
        with fittrace.start_run() as run:
            fittrace.log_param("lr", 0.1)
            _log(kind, tmp_path)

    _assert_nothing_lost(run.info.run_id, tmp_path)
    buckets = [b["Name"] for b in bucket.client.list_buckets()["Buckets"]]
    assert missing not in buckets  # a typo in the root must not create a bucket


@pytest.mark.parametrize("kind", _KINDS)
def test_unreachable_server_fails_clearly(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as bound_not_listening:  # connections to it are refused at once
        bound_not_listening.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{bound_not_listening.getsockname()[1]}"
        _use_endpoint(monkeypatch, tmp_path, endpoint)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's default retries take ~20 s
        monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", "s3://bucket/runs")
        (tmp_path / "local").mkdir()
        (tmp_path / "local" / "keep.txt").write_text("keep me")
        try:
            with pytest.raises(StoreError, match=f"s3://bucket/runs.*{re.escape(endpoint)}"):
                with fittrace.start_run() as run:
                    fittrace.log_param("lr", 0.1)
                    _log(kind, tmp_path)
        finally:
            s3fs.S3FileSystem.clear_instance_cache()

    _assert_nothing_lost(run.info.run_id, tmp_path)


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_S3", "FSSPEC_S3_ENDPOINT_URL"])
def test_a_script_reaches_the_server_through_either_endpoint_variable(
    bucket: Bucket, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", f"s3://{bucket.name}/scripts")
    env = {k: v for k, v in os.environ.items() if k not in _ENDPOINT_VARS}
    env[variable] = bucket.endpoint
    env["AWS_MAX_ATTEMPTS"] = "1"  # were the variable ignored, fail fast instead of retrying AWS
    script = textwrap.dedent(
        """
        import fittrace
        with fittrace.start_run() as run:
            fittrace.log_text("from a script", "hello.txt")
        print(run.info.run_id)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr

    run_id = done.stdout.strip().splitlines()[-1]
    run = Client().get_run(run_id)
    assert bucket.read(_artifact_prefix(bucket, run) + "hello.txt") == b"from a script"


def test_an_unchanged_script_autologs_to_the_team_store(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The team setup as an engineer meets it: runs in the tracking store (PostgreSQL in
    ``nox -s stores``), artifacts on S3, and a training script that never mentions fittrace."""
    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", f"s3://{bucket.name}/team")
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import json
            from sklearn.datasets import make_classification
            from sklearn.linear_model import LogisticRegression

            X, y = make_classification(n_samples=200, n_features=5, random_state=1)
            model = LogisticRegression(C=0.5, max_iter=300).fit(X, y)
            print(json.dumps(model.predict_proba(X[:10]).tolist()))
            """
        )
    )
    launch = "import sys; from fittrace.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", launch, "run", sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FITTRACE_TESTING": "1"},
    )
    assert done.returncode == 0, done.stderr
    expected = json.loads(done.stdout.strip().splitlines()[-1])

    (run,) = Client().search_runs(["0"])
    assert run.data.tags["fittrace.autologging"] == "sklearn"
    assert run.data.params["C"] == "0.5" and "training_accuracy_score" in run.data.metrics
    assert "model/MLmodel" in bucket.keys(_artifact_prefix(bucket, run))
    from sklearn.datasets import make_classification

    X, _ = make_classification(n_samples=200, n_features=5, random_state=1)
    loaded = fittrace.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    reloaded = fittrace.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    assert reloaded.predict_proba(X[:10]).tolist() == expected
    assert loaded.predict(X[:10]).tolist() == reloaded.predict(X[:10]).tolist()


def test_a_training_machine_without_credentials_logs_through_the_tracking_server(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fittrace server`` with artifacts on S3; the training script knows only its URL: no
    database, no AWS credentials, an endpoint that leads nowhere were it to try S3 itself."""
    import threading

    from fittrace.testing import reset_tracking
    from fittrace.ui import make_server

    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", f"s3://{bucket.name}/served")
    server = make_server(None, "127.0.0.1", 0, writable=True, token="team-token")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import json
            import fittrace, fittrace.pyfunc, fittrace.sklearn
            from sklearn.datasets import make_classification
            from sklearn.linear_model import LogisticRegression

            X, y = make_classification(n_samples=200, n_features=5, random_state=1)
            fittrace.set_experiment("remote-training")
            fittrace.sklearn.autolog(registered_model_name="served-model")
            with fittrace.start_run() as run:
                model = LogisticRegression(max_iter=300).fit(X, y)
                fittrace.log_text("from the training machine", "notes/hello.txt")
            by_run = fittrace.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
            by_name = fittrace.pyfunc.load_model("models:/served-model/1")
            assert (by_run.predict(X) == model.predict(X)).all()
            assert (by_name.predict(X) == model.predict(X)).all()
            print(json.dumps([run.info.run_id, model.predict(X[:5]).tolist()]))
            """
        )
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "FITTRACE_", "MLFLOW_", "FSSPEC_"))
    }
    env.update(
        FITTRACE_TRACKING_URI=server.url,
        FITTRACE_TRACKING_TOKEN="team-token",
        FITTRACE_TESTING="1",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # nothing there
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_MAX_ATTEMPTS="1",
    )
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
    finally:
        reset_tracking()
        server.shutdown()
        server.server_close()
        thread.join(10)
    run_id, predictions = json.loads(done.stdout.strip().splitlines()[-1])
    run = Client().get_run(run_id)
    assert run.info.status == "FINISHED" and "training_accuracy_score" in run.data.metrics
    prefix = _artifact_prefix(bucket, run)
    assert prefix.startswith("served/")
    assert bucket.read(prefix + "notes/hello.txt") == b"from the training machine"
    assert "model/MLmodel" in bucket.keys(prefix)
    assert Client().get_model_version("served-model", 1).run_id == run_id
    from sklearn.datasets import make_classification

    X, _ = make_classification(n_samples=200, n_features=5, random_state=1)
    with pytest.warns(UserWarning, match="not on this machine"):
        reloaded = fittrace.sklearn.load_model(f"runs:/{run_id}/model")
    assert reloaded.predict(X[:5]).tolist() == predictions
