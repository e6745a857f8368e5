"""MLflow's REST API on fittrace's server, spoken raw over HTTP: shapes, errors, tokens, limits.

(The real ``mlflow`` client against ``fittrace server`` is in integration_tests/models.)
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from fittrace.testing import tracking_server
from fittrace.tracking import stores
from fittrace.tracking.client import Client

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def send(
    url: str, method: str, path: str, body: dict | bytes | None = None, token: str | None = None
) -> tuple[int, dict | bytes]:
    """One request; the answer's status and its JSON (or bytes when it is no JSON)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    headers = {"Content-Length": str(len(data or b""))}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request(method, path, data, headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw
    finally:
        conn.close()


@pytest.fixture
def server(tracking_uri):
    with tracking_server(tracking_uri, writable=True) as url:
        yield url


def test_runs_are_answered_in_mlflow_shapes_with_paged_searches(server):
    status, created = send(server, "POST", f"{API}/experiments/create", {"name": "shapes"})
    assert status == 200
    exp_id = created["experiment_id"]
    run_ids = []
    for name in ("a", "b"):
        body = {"experiment_id": exp_id, "run_name": name, "start_time": 1000, "tags": []}
        status, answer = send(server, "POST", f"{API}/runs/create", body)
        info = answer["run"]["info"]
        assert status == 200 and info["run_uuid"] == info["run_id"]
        assert info["start_time"] == "1000" and info["lifecycle_stage"] == "active"
        assert info["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/{info['run_id']}/artifacts"
        run_ids.append(info["run_id"])
    metrics = [
        {"key": "loss", "value": v, "timestamp": 5, "step": s} for s, v in enumerate([1, 0.5])
    ]
    metrics.append({"key": "loss", "value": "NaN", "timestamp": 6, "step": 2})
    batch = {"run_id": run_ids[0], "metrics": metrics, "params": [{"key": "lr", "value": "0.1"}]}
    assert send(server, "POST", f"{API}/runs/log-batch", batch) == (200, {})
    query = urlencode({"run_id": run_ids[0], "metric_key": "loss"})
    status, history = send(server, "GET", f"{API}/metrics/get-history?{query}")
    assert [(m["step"], m["value"], m["timestamp"]) for m in history["metrics"]] == [
        ("0", 1.0, "5"), ("1", 0.5, "5"), ("2", "NaN", "6"),
    ]  # fmt: skip
    query = urlencode({"run_id": run_ids[0], "metric_key": "loss", "max_results": 2})
    status, first = send(server, "GET", f"{API}/metrics/get-history?{query}")
    assert [m["step"] for m in first["metrics"]] == ["0", "1"]
    query += "&" + urlencode({"page_token": first["next_page_token"]})
    status, rest = send(server, "GET", f"{API}/metrics/get-history?{query}")
    assert [m["step"] for m in rest["metrics"]] == ["2"] and "next_page_token" not in rest

    search = {"experiment_ids": [exp_id], "max_results": 1, "order_by": ["attributes.run_name"]}
    status, first = send(server, "POST", f"{API}/runs/search", search)
    assert [r["info"]["run_name"] for r in first["runs"]] == ["a"]
    assert first["runs"][0]["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    search["page_token"] = first["next_page_token"]
    status, second = send(server, "POST", f"{API}/runs/search", search)
    assert [r["info"]["run_name"] for r in second["runs"]] == ["b"]
    assert "next_page_token" not in second

    # what the MLflow client wrote, fittrace's own client reads
    run = Client().get_run(run_ids[0])
    assert run.data.params == {"lr": "0.1"} and run.info.run_name == "a"


def test_pages_continue_after_the_last_run_seen_and_experiments_page_too(server):
    exp_id = send(server, "POST", f"{API}/experiments/create", {"name": "paged"})[1][
        "experiment_id"
    ]

    def create(name: str, start: int) -> None:
        body = {"experiment_id": exp_id, "run_name": name, "start_time": start, "tags": []}
        assert send(server, "POST", f"{API}/runs/create", body)[0] == 200

    for i in range(4):
        create(f"r{i}", 1000 + i)
    search = {"experiment_ids": [exp_id], "max_results": 2}
    status, first = send(server, "POST", f"{API}/runs/search", search)
    assert [r["info"]["run_name"] for r in first["runs"]] == ["r3", "r2"]
    create("late", 2000)  # newest first: a run created meanwhile lands on the page already read
    status, second = send(
        server, "POST", f"{API}/runs/search", {**search, "page_token": first["next_page_token"]}
    )
    assert status == 200 and [r["info"]["run_name"] for r in second["runs"]] == ["r1", "r0"]
    assert "next_page_token" not in second

    query = {"max_results": 1, "order_by": ["name ASC"], "filter": "name LIKE 'p%'"}
    send(server, "POST", f"{API}/experiments/create", {"name": "pages"})
    names, token = [], None
    while True:
        status, page = send(
            server, "POST", f"{API}/experiments/search", {**query, "page_token": token}
        )
        names += [e["name"] for e in page["experiments"]]
        token = page.get("next_page_token")
        if token is None:
            break
    assert names == ["paged", "pages"]
    status, answer = send(server, "POST", f"{API}/runs/search", {**search, "page_token": "x!"})
    assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"


def test_logged_models_are_read_with_their_runs_in_one_search(server, monkeypatch):
    exp_id = send(server, "POST", f"{API}/experiments/create", {"name": "models"})[1]
    exp_id = exp_id["experiment_id"]
    body = {"experiment_id": exp_id, "run_name": "fit", "tags": []}
    run_id = send(server, "POST", f"{API}/runs/create", body)[1]["run"]["info"]["run_id"]
    model_ids = []
    for name in ("b", "a", "c"):
        body = {"experiment_id": exp_id, "source_run_id": run_id, "name": name}
        body["tags"] = [{"key": "letter", "value": name}]
        model_ids.append(send(server, "POST", f"{API}/logged-models", body)[1]["model"]["info"])
    store = stores.recorder_for().store
    reads = []
    get_run = type(store).get_run
    monkeypatch.setattr(type(store), "get_run", lambda s, r: reads.append(r) or get_run(s, r))

    search = {"experiment_ids": [exp_id], "max_results": 2}
    search["order_by"] = [{"field_name": "name", "ascending": True}]
    first = send(server, "POST", f"{API}/logged-models/search", search)[1]
    search["page_token"] = first["next_page_token"]
    second = send(server, "POST", f"{API}/logged-models/search", search)[1]
    found = [m["info"] for m in first["models"] + second["models"]]
    assert [(m["name"], m["source_run_id"], m["tags"]) for m in found] == [
        (name, run_id, [{"key": "letter", "value": name}]) for name in ("a", "b", "c")
    ]
    assert "next_page_token" not in second
    model_id = model_ids[0]["model_id"]
    status, answer = send(server, "GET", f"{API}/logged-models/{model_id}")
    assert status == 200 and answer["model"]["info"] == model_ids[0]
    assert reads == []  # the runs the search read, not one more read per model


def test_errors_carry_mlflow_codes(server):
    missing = urlencode({"run_id": "0" * 32})
    status, answer = send(server, "GET", f"{API}/runs/get?{missing}")
    assert status == 404 and answer["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert send(server, "POST", f"{API}/experiments/create", {"name": "x"})[0] == 200
    status, answer = send(server, "POST", f"{API}/experiments/create", {"name": "x"})
    assert status == 400 and answer["error_code"] == "RESOURCE_ALREADY_EXISTS"
    status, created = send(server, "POST", f"{API}/experiments/create", {"name": "y"})
    rename = {"experiment_id": created["experiment_id"], "new_name": "x"}
    status, answer = send(server, "POST", f"{API}/experiments/update", rename)
    assert status == 400 and answer["error_code"] == "RESOURCE_ALREADY_EXISTS"
    rename["new_name"] = "z"
    assert send(server, "POST", f"{API}/experiments/update", rename) == (200, {})
    assert Client().get_experiment(created["experiment_id"]).name == "z"
    status, answer = send(server, "POST", f"{API}/experiments/create", {})
    assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"
    status, answer = send(server, "POST", f"{API}/experiments/create", b"{not json")
    assert status == 400 and answer["error_code"] == "MALFORMED_REQUEST"
    status, answer = send(server, "GET", f"{API}/no/such/endpoint")
    assert status == 404 and answer["error_code"] == "ENDPOINT_NOT_FOUND"
    # a refused update changes nothing; a malformed order_by is the caller's error, not a 500
    body = {"experiment_id": created["experiment_id"], "run_name": "kept", "tags": []}
    run_id = send(server, "POST", f"{API}/runs/create", body)[1]["run"]["info"]["run_id"]
    update = {"run_id": run_id, "run_name": "renamed", "status": "DONE-ISH"}
    status, answer = send(server, "POST", f"{API}/runs/update", update)
    assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert Client().get_run(run_id).info.run_name == "kept"
    search = {"experiment_ids": [created["experiment_id"]], "order_by": ["name"]}
    status, answer = send(server, "POST", f"{API}/logged-models/search", search)
    assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"


def test_the_read_only_ui_answers_mlflow_writes_with_405(tracking_uri):
    Client().create_experiment("seen")
    with tracking_server(tracking_uri) as url:
        status, answer = send(url, "POST", f"{API}/experiments/create", {"name": "nope"})
        assert status == 405 and answer["error_code"] == "PERMISSION_DENIED"
        assert send(url, "PUT", f"{ARTIFACTS}/0/x.txt", b"data")[0] == 405
        for prefix in (API, "/ajax-api/2.0/mlflow"):  # the reads answer, under both prefixes
            status, answer = send(url, "POST", f"{prefix}/experiments/search", {})
            assert status == 200 and "seen" in [e["name"] for e in answer["experiments"]]
    assert Client().get_experiment_by_name("nope") is None


def test_a_token_is_required_as_a_bearer_token(tracking_uri):
    with tracking_server(tracking_uri, writable=True, token="t0ken") as url:
        status, answer = send(url, "GET", f"{API}/experiments/search", token="wrong")
        assert status == 401 and answer["error_code"] == "UNAUTHENTICATED"
        assert send(url, "GET", f"{API}/experiments/search", token="t0ken")[0] == 200


def test_the_artifact_proxy_stays_inside_the_artifact_root(server, tracking_uri, tmp_path):
    root = Path(stores.recorder_for(tracking_uri).store.artifact_root)
    outside = tmp_path / "outside"
    for location in (str(outside), "http://127.0.0.1:9/x", "mlflow-artifacts:/../../x"):
        body = {"name": "elsewhere", "artifact_location": location}
        status, answer = send(server, "POST", f"{API}/experiments/create", body)
        assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"
    body = {"name": "m", "source": str(outside)}
    assert send(server, "POST", f"{API}/registered-models/create", {"name": "m"})[0] == 200
    assert send(server, "POST", f"{API}/model-versions/create", body)[0] == 400
    for path in ("../escape.txt", "a/../../escape.txt", "/etc/escape.txt"):
        status, answer = send(server, "PUT", f"{ARTIFACTS}/{path}", b"x")
        assert status in (400, 404) and not (root.parent / "escape.txt").exists()
    assert send(server, "GET", f"{ARTIFACTS}?path=../..")[0] == 400
    assert not outside.exists()

    assert send(server, "PUT", f"{ARTIFACTS}/team/notes/a.txt", b"hello") == (200, {})
    assert (root / "team" / "notes" / "a.txt").read_text() == "hello"
    status, listing = send(server, "GET", f"{ARTIFACTS}?path=team")
    assert listing["files"] == [{"path": "notes", "is_dir": True}]
    status, listing = send(server, "GET", f"{ARTIFACTS}?path=team/notes")
    assert listing["files"] == [{"path": "a.txt", "is_dir": False, "file_size": "5"}]
    assert send(server, "GET", f"{ARTIFACTS}/team/notes/a.txt") == (200, b"hello")
    assert send(server, "GET", f"{ARTIFACTS}/team/notes/b.txt")[0] == 404
