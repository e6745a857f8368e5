"""A tracking server (``fittrace server``) and ``http://`` tracking URIs: the training side logs
through the server only, and sees what a local store would show.

The server's store is the test's own (``--tracking-store``); the client in the same process
is pointed at ``http://127.0.0.1:<port>`` with ``set_tracking_uri``.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import fittrace
from fittrace.cli import _server_token, build_parser
from fittrace.entities import (
    DatasetInput,
    FileInfo,
    Metric,
    ModelVersion,
    PagedList,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunInputs,
)
from fittrace.exceptions import (
    InvalidFilterError,
    InvalidParameterError,
    ParamConflictError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
    StoreError,
)
from fittrace.store import wire
from fittrace.store.rest import HttpArtifactRepository, RestStore
from fittrace.store.sql import SqlStore
from fittrace.testing import reset_tracking
from fittrace.testing import tracking_server as serving
from fittrace.tracking.client import Client
from fittrace.ui import api
from fittrace.ui.api import call_store

API = wire.API_PREFIX


@pytest.fixture
def backend(tracking_uri: str) -> str:
    """The server's store: the test's own (SQLite file or PostgreSQL database)."""
    return tracking_uri


def raw(url: str, method: str, path: str, body: bytes | None = None, headers=None):
    """A request sent exactly as written (urllib could tidy the path); (status, headers, body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        conn.close()


def error_of(body: bytes) -> dict:
    return json.loads(body)["error"]


def same_values(a: dict[str, float], b: dict[str, float]) -> bool:
    """Equal metric dicts, NaN equal to NaN."""
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a
    )


def same_runs(a: list[Run], b: list[Run]) -> bool:
    """Equal runs, NaN metrics equal to NaN."""
    return len(a) == len(b) and all(
        (x.info, x.data.params, x.data.tags, x.inputs)
        == (y.info, y.data.params, y.data.tags, y.inputs)
        and same_values(x.data.metrics, y.data.metrics)
        for x, y in zip(a, b, strict=True)
    )


# ----------------------------------------------------------------------------- the wire format


def test_entities_and_special_floats_round_trip():
    info = RunInfo("r1", "1", "name", "me", "RUNNING", 5, None, "s3://b/1/r1/artifacts")
    run = Run(
        info,
        RunData({"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "x": 1.5}, {"p": "1"}),
        RunInputs([DatasetInput("d", "abc", context="train")]),
    )
    version = ModelVersion("m", "1", 1, 2, "runs:/r1/model", "r1", tags={"$t": "x"}, aliases=["a"])
    values = [
        run,
        [Metric("m", math.nan, 1, 2), Metric("m", -math.inf, 1, 3)],
        RegisteredModel("m", 1, 2, tags={"$f": "NaN", "k": "v"}, latest_versions=[version]),
        FileInfo("a/b", False, 3),
        PagedList([info], "tok"),
        {"$map": 1, 2: "two"},
        (1, "a", None, True, 2.5),
    ]
    data = wire.dumps(values)
    assert b"NaN," not in data and b"Infinity," not in data  # spelled out, never bare literals
    back = wire.loads(data)
    assert back[0].info == run.info and back[0].inputs == run.inputs
    assert back[0].data.params == run.data.params
    assert same_values(back[0].data.metrics, run.data.metrics)
    assert math.isnan(back[0].data.metrics["nan"]) and back[0].data.metrics["ninf"] == -math.inf
    assert back[1] == values[1] and back[2] == values[2] and back[3] == values[3]
    assert isinstance(back[4], PagedList) and back[4].token == "tok" and back[4] == [info]
    assert back[5] == {"$map": 1, 2: "two"}
    assert back[6] == [1, "a", None, True, 2.5]


def test_only_listed_entities_are_built_from_a_message():
    with pytest.raises(ValueError, match="unknown type"):
        wire.loads('{"$t": "Popen", "args": "ls"}')
    with pytest.raises(ValueError):
        wire.loads('{"$f": "1e999"}')


def test_unknown_errors_become_store_errors():
    assert type(wire.exception_from({"type": "ParamConflictError", "message": "m"})) is (
        ParamConflictError
    )
    for name in ("KeyError", "SystemExit", "os", "__class__", None):
        error = wire.exception_from({"type": name, "message": "boom"})
        assert type(error) is StoreError and str(error) == "boom"


def test_every_listed_method_is_a_public_store_method():
    for name in wire.METHODS:
        assert not name.startswith("_") and callable(getattr(SqlStore, name))
    assert "close" not in wire.METHODS and not wire.READ_METHODS & wire.WRITE_METHODS


# --------------------------------------------------------------------------------- end to end


def test_fluent_api_over_http_matches_the_servers_store(server, backend, tmp_path: Path):
    local_file = tmp_path / "notes.md"
    local_file.write_bytes(b"# notes\n\x00\xff binary too")
    fittrace.set_experiment("remote")
    with fittrace.start_run(run_name="over-http") as run:
        fittrace.log_param("alpha", 0.5)
        fittrace.log_params({"layers": 3, "act": "relu"})
        for step, value in enumerate([1.0, math.nan, math.inf, -math.inf, 0.25]):
            fittrace.log_metric("loss", value, step=step)
        fittrace.log_metrics({"acc": 0.9, "f1": math.nan}, step=7)
        fittrace.set_tag("team", "vision")
        fittrace.log_artifact(str(local_file), "docs")
        fittrace.log_text("hello", "text/hello.txt")
        fittrace.log_dict({"a": [1, 2]}, "config.json")
        fittrace.log_input(DatasetInput("train", "d1g35t", source="s3://data/train"))
    run_id = run.info.run_id

    remote, direct = Client(), Client(backend)
    assert isinstance(remote._store, RestStore) and not isinstance(direct._store, RestStore)
    over_http, stored = remote.get_run(run_id), direct.get_run(run_id)
    assert over_http.info == stored.info and stored.info.status == "FINISHED"
    assert (
        over_http.data.params
        == stored.data.params
        == {
            "alpha": "0.5",
            "layers": "3",
            "act": "relu",
        }
    )
    assert over_http.data.tags == stored.data.tags and stored.data.tags["team"] == "vision"
    assert stored.data.tags["fittrace.runName"] == "over-http"
    assert over_http.data.metrics.keys() == {"loss", "acc", "f1"}
    assert same_values(over_http.data.metrics, stored.data.metrics)
    assert math.isnan(over_http.data.metrics["f1"]) and over_http.data.metrics["loss"] == 0.25
    assert over_http.inputs == stored.inputs and stored.inputs.dataset_inputs[0].name == "train"
    history = direct.get_metric_history(run_id, "loss")
    assert remote.get_metric_history(run_id, "loss") == history
    assert [m.step for m in history] == [0, 1, 2, 3, 4]
    values = [m.value for m in history]
    assert values[0] == 1.0 and math.isnan(values[1]) and values[2:] == [math.inf, -math.inf, 0.25]

    expected = {
        "docs/notes.md": local_file.read_bytes(),
        "text/hello.txt": b"hello",
        "config.json": json.dumps({"a": [1, 2]}, indent=2).encode(),
    }
    for path, data in expected.items():  # in the server's artifact store, read both ways
        assert Path(direct.download_artifacts(run_id, path)).read_bytes() == data
        assert Path(remote.download_artifacts(run_id, path)).read_bytes() == data
    assert remote.list_artifacts(run_id) == direct.list_artifacts(run_id)
    assert remote.list_artifacts(run_id, "text") == [FileInfo("text/hello.txt", False, 5)]
    everything = Path(remote.download_artifacts(run_id, "", str(tmp_path / "all")))
    assert {str(p.relative_to(everything)) for p in everything.rglob("*") if p.is_file()} == set(
        expected
    )
    folder = Path(remote.download_artifacts(run_id, "docs", str(tmp_path / "one")))
    assert (folder / "notes.md").read_bytes() == expected["docs/notes.md"]
    assert isinstance(remote.artifact_repository(run_id), HttpArtifactRepository)


def test_artifacts_go_to_the_servers_root_not_the_clients(server, backend, tmp_path, monkeypatch):
    client_root = tmp_path / "client-root"
    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", str(client_root))  # ignored for http stores
    with fittrace.start_run() as run:
        fittrace.log_text("x", "x.txt")
    uri = Client(server).get_run(run.info.run_id).info.artifact_uri
    assert not client_root.exists()
    assert Path(uri, "x.txt").read_text() == "x"  # the server's own root, on its disk here


def test_a_remote_artifact_root_is_proxied_both_ways(backend, monkeypatch, tmp_path):
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    if memory.exists("/fittrace-rest-test"):
        memory.rm("/fittrace-rest-test", recursive=True)
    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", "memory://fittrace-rest-test/runs")
    monkeypatch.setenv("FITTRACE_HTTP_RETRIES", "0")
    with serving(backend, writable=True) as url:  # opens the store with that artifact root
        fittrace.set_tracking_uri(url)
        fittrace.set_experiment("on-memory")
        folder = tmp_path / "data"
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "b.bin").write_bytes(bytes(range(256)))
        with fittrace.start_run() as run:
            fittrace.log_artifacts(str(folder), "data")
            fittrace.log_text("t", "t.txt")
        run_id = run.info.run_id
        assert Client().get_run(run_id).info.artifact_uri.startswith("memory://fittrace-rest-test")
        key = f"/fittrace-rest-test/runs/{run.info.experiment_id}/{run_id}/artifacts/data/sub/b.bin"
        assert memory.cat_file(key) == bytes(range(256))
        local = Path(Client().download_artifacts(run_id, "data", str(tmp_path / "dl")))
        assert (local / "sub" / "b.bin").read_bytes() == bytes(range(256))
        assert [f.path for f in Client().list_artifacts(run_id)] == ["data", "t.txt"]


def test_client_methods_and_registry_over_http(server, backend):
    client = Client()
    experiment_id = client.create_experiment("e", tags={"k": "v"})
    with pytest.raises(ResourceAlreadyExistsError):
        client.create_experiment("e")
    assert client.get_experiment_by_name("e").tags == {"k": "v"}
    assert client.get_experiment_by_name("missing") is None
    run = client.create_run(experiment_id, run_name="r")
    client.log_batch(run.info.run_id, metrics=[Metric("m", 1.0, 10, 1)])
    client.set_tag(run.info.run_id, "gone", "soon")
    client.delete_tag(run.info.run_id, "gone")
    client.set_terminated(run.info.run_id)
    assert client.count_runs() == {experiment_id: 1}
    client.delete_run(run.info.run_id)
    assert client.search_runs([experiment_id]) == []
    client.restore_run(run.info.run_id)

    client.create_registered_model("model", tags={"owner": "me"})
    version = client.create_model_version("model", "runs:/x/model", run_id=run.info.run_id)
    client.set_registered_model_alias("model", "champion", version.version)
    assert client.get_model_version_by_alias("model", "champion") == version.__class__(
        **{**version.__dict__, "aliases": ["champion"]}
    )
    assert client.get_registered_model("model") == Client(backend).get_registered_model("model")
    assert client.search_model_versions("name = 'model'") == Client(backend).search_model_versions(
        "name = 'model'"
    )
    with pytest.raises(ResourceNotFoundError, match="no version 9"):
        client.get_model_version("model", 9)


def test_store_runs_created_over_http_belong_to_no_process_here(server, backend):
    with fittrace.start_run() as run:
        pass
    direct = Client(backend)._store
    with direct._read() as conn:
        owner = conn.execute(
            "SELECT owner_host, owner_pid FROM runs WHERE run_uuid = ?", (run.info.run_id,)
        ).fetchone()
    assert tuple(owner) == (None, None)  # a restarted server must not mark them KILLED


def test_errors_arrive_as_the_same_exception_classes(server):
    with fittrace.start_run() as run:
        fittrace.log_param("lr", 0.1)
        fittrace.flush()
    client = Client()
    client._recorder.forget(run.info.run_id)  # the check must ask the server for known params
    with pytest.raises(ParamConflictError, match="lr"):
        client.log_param(run.info.run_id, "lr", 0.2)
    with pytest.raises(ResourceNotFoundError, match="nope"):
        client.get_run("nope")
    with pytest.raises(InvalidFilterError):
        client.search_runs(["0"], "metrics.loss <<< 1")
    with pytest.raises(InvalidParameterError):
        client.search_runs(["0"], order_by=["nonsense DESC x"])


def test_search_runs_over_http_equals_the_local_result(server, backend):
    for i in range(7):
        with fittrace.start_run(run_name=f"r{i}"):
            fittrace.log_param("group", "a" if i % 2 else "b")
            fittrace.log_metric("score", float(i))
            fittrace.log_metric("other", math.nan if i == 3 else i * 2.0)
    remote, direct = Client(), Client(backend)
    for query in (
        {},
        {"filter_string": "params.group = 'a'"},
        {"filter_string": "metrics.score >= 2", "order_by": ["metrics.score DESC"]},
        {"order_by": ["metrics.other ASC", "attributes.run_name"]},
    ):
        token = None
        while True:
            page = remote.search_runs(["0"], max_results=2, page_token=token, **query)
            expected = direct.search_runs(["0"], max_results=2, page_token=token, **query)
            assert [r.info.run_id for r in page] == [r.info.run_id for r in expected]
            assert same_runs(page, expected) and page.token == expected.token
            token = page.token
            if token is None:
                break
    frame = fittrace.search_runs(filter_string="metrics.score < 3", output_format="list")
    assert sorted(r.info.run_name for r in frame) == ["r0", "r1", "r2"]


def test_sklearn_autolog_logs_and_loads_models_over_http(server, backend, monkeypatch):
    pytest.importorskip("sklearn")
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    import fittrace.pyfunc
    import fittrace.sklearn
    from fittrace import autologging

    monkeypatch.setenv("FITTRACE_TESTING", "1")  # autologging errors fail the test
    X, y = make_classification(n_samples=120, n_features=5, random_state=0)
    fittrace.sklearn.autolog()
    try:
        model = LogisticRegression(max_iter=200).fit(X, y)
    finally:
        autologging.unpatch()
    run = fittrace.last_active_run()
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert run.data.params["max_iter"] == "200"
    assert "training_accuracy_score" in run.data.metrics
    assert Client(backend).get_run(run_id).data == run.data
    names = {f.path for f in Client(backend).list_artifacts(run_id)}
    assert {"model", "estimator.html"} <= names

    with pytest.warns(UserWarning, match="not on this machine"):  # it came from the server
        loaded = fittrace.pyfunc.load_model(f"runs:/{run_id}/model")
    assert (loaded.predict(X) == model.predict(X)).all()
    version = fittrace.register_model(f"runs:/{run_id}/model", "clf")
    assert version.version == 1 and version.run_id == run_id
    assert Client(backend).get_model_version("clf", 1).source == version.source
    from_registry = fittrace.pyfunc.load_model("models:/clf/1", suppress_warnings=True)
    assert (from_registry.predict(X) == model.predict(X)).all()
    with pytest.warns(UserWarning, match="not on this machine"):
        by_sklearn = fittrace.sklearn.load_model("models:/clf/latest")
    assert (by_sklearn.predict(X) == model.predict(X)).all()


# ---------------------------------------------------------------------------- access control


def test_a_token_is_required_when_the_server_has_one(backend, monkeypatch):
    monkeypatch.setenv("FITTRACE_HTTP_RETRIES", "0")
    with serving(backend, writable=True, token="s3cret") as url:
        monkeypatch.delenv("FITTRACE_TRACKING_TOKEN", raising=False)
        with pytest.raises(StoreError, match="FITTRACE_TRACKING_TOKEN") as refused:
            Client(url).search_experiments()
        assert "401" in str(refused.value)
        monkeypatch.setenv("FITTRACE_TRACKING_TOKEN", "wrong")
        with pytest.raises(StoreError, match="not the server's"):
            Client(url).get_experiment("0")
        status, headers, _ = raw(url, "GET", "/")  # the UI's pages too, with a browser prompt
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
        status, _, body = raw(url, "GET", f"{API}/artifacts/x", headers={"Authorization": "x"})
        assert status == 401 and error_of(body)["type"] == "StoreError"

        monkeypatch.setenv("FITTRACE_TRACKING_TOKEN", "s3cret")
        fittrace.set_tracking_uri(url)
        with fittrace.start_run() as run:
            fittrace.log_metric("m", 1.0)
            fittrace.log_text("t", "t.txt")
        assert Client().get_run(run.info.run_id).data.metrics == {"m": 1.0}
        assert Client().list_artifacts(run.info.run_id) == [FileInfo("t.txt", False, 1)]
        basic = "Basic " + __import__("base64").b64encode(b"anyone:s3cret").decode()
        assert raw(url, "GET", "/", headers={"Authorization": basic})[0] == 200


def test_cli_token_comes_from_the_named_variable(monkeypatch):
    parser = build_parser()
    monkeypatch.delenv("FITTRACE_SERVER_TOKEN", raising=False)
    assert _server_token(parser.parse_args(["server"])) is None
    monkeypatch.setenv("FITTRACE_SERVER_TOKEN", "abc")
    assert _server_token(parser.parse_args(["server"])) == "abc"
    monkeypatch.setenv("MY_TOKEN", "xyz")
    assert _server_token(parser.parse_args(["server", "--token-env", "MY_TOKEN"])) == "xyz"
    with pytest.raises(Exception, match="NOPE_TOKEN"):
        _server_token(parser.parse_args(["server", "--token-env", "NOPE_TOKEN"]))


def test_a_read_only_ui_refuses_writes_but_answers_reads(backend, monkeypatch):
    with fittrace.start_run() as run:  # straight into the store
        fittrace.log_text("x", "x.txt")
    with serving(backend) as url:  # as `fittrace ui`
        status, headers, body = raw(url, "POST", f"{API}/store/create_experiment", b'{"name": "e"}')
        assert status == 405 and error_of(body)["type"] == "StoreError"
        status, _, body = raw(url, "PUT", f"{API}/artifacts/{run.info.run_id}/y.txt", b"y")
        assert status == 405
        client = Client(url)
        with pytest.raises(StoreError, match="read-only"):
            client.create_experiment("e")
        assert client.get_run(run.info.run_id).info.status == "FINISHED"
        assert Path(client.download_artifacts(run.info.run_id, "x.txt")).read_text() == "x"
    assert Client(backend).get_experiment_by_name("e") is None


def test_only_listed_store_methods_can_be_called(server):
    for name in ("close", "_write", "_conn", "connections", "location", "__init__", "_migrate"):
        status, _, body = raw(server, "POST", f"{API}/store/{name}", b"{}")
        assert status == 404 and error_of(body)["type"] == "ResourceNotFoundError", name
    status, _, body = raw(server, "POST", f"{API}/store/get_run", b'{"nope": 1}')
    assert status == 400 and error_of(body)["type"] == "InvalidParameterError"
    status, _, body = raw(server, "POST", f"{API}/store/get_run", b"[1")
    assert status == 400
    status, _, body = raw(server, "GET", f"{API}/store/get_run")
    assert status == 405
    status, _, body = raw(
        server,
        "POST",
        f"{API}/store/write_batch",
        json.dumps({"metrics": [["r", "bad key!", 1.0, 0, 0]], "params": [], "tags": []}).encode(),
    )
    assert status == 400 and "bad key!" in error_of(body)["message"]
    assert b"Traceback" not in body


def test_artifact_paths_cannot_leave_the_run(server, tmp_path: Path):
    with fittrace.start_run() as run:
        fittrace.log_text("inside", "a/inside.txt")
    run_id = run.info.run_id
    secret = tmp_path / "fitruns" / "secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("TOP-SECRET-CONTENT")
    base = f"{API}/artifacts/{run_id}"
    for path in (
        "../../../secret.txt",
        "a/../../x",
        "%2e%2e/%2e%2e/x",
        "..%2f..%2fx",
        "/etc/passwd",
    ):
        status, _, body = raw(server, "PUT", f"{base}/{path}", b"evil")
        assert status in (400, 404), (path, status)
        status, _, body = raw(server, "GET", f"{base}/{path}")
        assert status in (400, 404) and b"TOP-SECRET" not in body, (path, status)
    status, _, body = raw(server, "GET", f"{base}?path=../..")
    assert status == 400 and error_of(body)["type"] == "InvalidParameterError"
    assert not list(tmp_path.rglob("x")) and secret.read_text() == "TOP-SECRET-CONTENT"
    repo = Client().artifact_repository(run_id)
    with pytest.raises(InvalidParameterError, match=r"\.\."):
        repo.write_bytes("../escape.txt", b"no")
    with pytest.raises(InvalidParameterError):
        Client().download_artifacts(run_id, "../../secret.txt")
    assert raw(server, "GET", f"{base}/a/inside.txt")[2] == b"inside"


def test_uploads_over_the_limit_and_to_unknown_runs_are_refused(backend, monkeypatch, tmp_path):
    monkeypatch.setenv("FITTRACE_HTTP_RETRIES", "0")
    with serving(backend, writable=True, max_upload=10) as url:
        fittrace.set_tracking_uri(url)
        with fittrace.start_run() as run:
            fittrace.log_text("small", "ok.txt")
            with pytest.raises(StoreError, match="limit"):
                fittrace.log_text("far too large", "big.txt")
            big = tmp_path / "big.bin"
            big.write_bytes(b"x" * (8 << 20))  # too large to be read and dropped by the server
            with pytest.raises(StoreError, match="limit"):
                fittrace.log_artifact(str(big))
        assert [f.path for f in Client().list_artifacts(run.info.run_id)] == ["ok.txt"]
        with pytest.raises(ResourceNotFoundError, match="nope"):
            Client().artifact_repository("nope").write_bytes("x.txt", b"x")
        with pytest.raises(ResourceNotFoundError):
            Client().download_artifacts(run.info.run_id, "missing.txt")
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:  # no Content-Length
            conn.putrequest("PUT", f"{API}/artifacts/{run.info.run_id}/x")
            conn.endheaders()
            assert conn.getresponse().status == 411
        finally:
            conn.close()


def test_a_server_that_is_not_running_is_a_clear_store_error(monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("FITTRACE_HTTP_RETRIES", "1")
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(StoreError, match=f"Cannot reach .*{url}.*2 attempts"):
        Client(url).get_experiment("0")
    fittrace.set_tracking_uri(url)
    with pytest.raises(StoreError, match=url):
        fittrace.start_run()


def test_a_server_that_is_not_fittrace_is_named(monkeypatch):
    monkeypatch.setenv("FITTRACE_HTTP_RETRIES", "0")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer() -> None:  # every request, the first-use probes' included
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\nnot here!")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with pytest.raises(StoreError, match="is .* a fittrace tracking server"):
            Client(url).get_experiment("0")
    finally:
        listener.close()
        thread.join(10)


def test_cli_lists_runs_of_a_tracking_server(server, capsys):
    from fittrace.cli import main

    with fittrace.start_run(run_name="listed-over-http"):
        fittrace.log_metric("m", 1.0)
    assert main(["--tracking-uri", server, "runs", "--json"]) == 0
    assert "listed-over-http" in capsys.readouterr().out


def test_server_command_prints_both_urls_and_takes_writes(backend, tmp_path, monkeypatch):
    import os
    import signal
    import subprocess
    import sys

    # No store yet (on SQLite): 'fittrace server' creates it, as a new deployment needs.
    env = {**os.environ, "FITTRACE_SERVER_TOKEN": "tok"}
    process = subprocess.Popen(
        [sys.executable, "-m", "fittrace.cli", "server", "--backend-store-uri", backend]
        + ["--artifacts-destination", str(tmp_path / "served"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        ui_line, api_line = process.stdout.readline(), process.stdout.readline()
        assert ui_line.startswith("fittrace UI at http://127.0.0.1:")
        url = ui_line.split()[3]
        assert f"tracking API at {url}{API}" in api_line
        assert f"FITTRACE_TRACKING_URI={url}" in api_line and "FITTRACE_TRACKING_TOKEN" in api_line
        monkeypatch.setenv("FITTRACE_TRACKING_TOKEN", "tok")
        fittrace.set_tracking_uri(url)
        fittrace.set_experiment("new")  # a new experiment: under the server's artifact root
        with fittrace.start_run() as run:
            fittrace.log_param("p", "v")
            fittrace.log_text("t", "t.txt")
        reset_tracking()
        stored = Client(backend).get_run(run.info.run_id)
        assert stored.data.params == {"p": "v"}
        assert stored.info.artifact_uri.startswith(str(tmp_path / "served"))
        assert (Path(stored.info.artifact_uri) / "t.txt").read_text() == "t"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        process.kill()
        process.communicate()


def test_concurrent_clients_lose_nothing(server, backend):
    client = Client()
    runs = [client.create_run("0", run_name=f"t{i}").info.run_id for i in range(4)]

    def train(run_id: str) -> None:
        for step in range(300):
            client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
            if step % 100 == 0:
                client.log_text(run_id, str(step), f"checkpoints/{step}.txt")
        client.set_terminated(run_id)

    threads = [threading.Thread(target=train, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    direct = Client(backend)
    for run_id in runs:
        assert [m.step for m in direct.get_metric_history(run_id, "loss")] == list(range(300))
        assert direct.get_run(run_id).info.status == "FINISHED"
        assert len(direct.list_artifacts(run_id, "checkpoints")) == 3


WRITER = """
import fittrace
with fittrace.start_run() as run:
    for step in range({n}):
        fittrace.log_metric("loss", step / 7, step=step)
        fittrace.log_metric("nan", float("nan"), step=step)
print(run.info.run_id)
"""


def test_eight_writer_processes_through_a_server_lose_nothing(server, backend):
    n = 3000
    env = {**os.environ, "FITTRACE_TRACKING_URI": server}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER.format(n=n)], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    run_ids = [w.communicate(timeout=120)[0].strip() for w in writers]
    assert all(w.returncode == 0 for w in writers)
    direct = Client(backend)
    for run_id in run_ids:
        loss = direct.get_metric_history(run_id, "loss")
        assert [(m.step, m.value) for m in loss] == [(s, s / 7) for s in range(n)]
        nan = direct.get_metric_history(run_id, "nan")
        assert len(nan) == n and all(math.isnan(m.value) for m in nan)
        assert direct.get_run(run_id).data.metrics["loss"] == (n - 1) / 7


def test_a_server_without_metric_columns_gets_rows(server, backend, monkeypatch):
    refused = []

    def older_server(store, name, arguments):  # as a server from before metric_columns
        if name == "write_batch" and "metric_columns" in arguments:
            refused.append(arguments)
            raise InvalidParameterError(
                "write_batch: got an unexpected keyword argument 'metric_columns'"
            )
        return call_store(store, name, arguments)

    monkeypatch.setattr(api, "call_store", older_server)
    with fittrace.start_run() as run:
        for step in range(500):
            fittrace.log_metric("loss", step / 3, step=step)
            if step % 100 == 0:
                fittrace.flush()
    history = Client(backend).get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, s / 3) for s in range(500)]
    assert len(refused) == 1  # the client remembers


def test_a_server_without_keyset_paging_gets_pages_by_offset(server, backend, monkeypatch):
    refused = []

    def older_server(store, name, arguments):  # as a server from before keyset page tokens
        if name == "search_runs" and "after" in arguments:
            refused.append(arguments)
            raise InvalidParameterError("search_runs: got an unexpected keyword argument 'after'")
        return call_store(store, name, arguments)

    for i in range(5):
        with fittrace.start_run(run_name=f"r{i}"):
            pass
    monkeypatch.setattr(api, "call_store", older_server)
    remote, seen, token = Client(), [], None
    while True:
        page = remote.search_runs(["0"], max_results=2, page_token=token)
        seen += [r.info.run_id for r in page]
        token = page.token
        if token is None:
            break
    assert seen == [r.info.run_id for r in Client(backend).search_runs(["0"])]
    assert len(refused) == 1  # the client remembers
