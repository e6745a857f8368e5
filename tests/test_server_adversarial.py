"""The tracking server and store under hostile or careless input: a standing adversarial suite.

- SSRF: a loopback HTTP listener stands in for an internal service; no client-chosen or stored
  location outside the server's artifact root ever makes the server send it a request.
- Lost replies: a loopback proxy drops the server's first ``write_batch`` answer; the client's
  retry is applied once.
- Param conflicts, unknown runs, oversized filters and counts, deep JSON: documented errors
  (400/404/409 over HTTP), never a 500, never a server path in an error body.
- Property tests (hypothesis) over the filter parser: only ``InvalidFilterError``, locally and
  through the server.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import fittrace
from fittrace.cli import main
from fittrace.exceptions import (
    InvalidFilterError,
    InvalidParameterError,
    ParamConflictError,
    ResourceNotFoundError,
    StoreError,
)
from fittrace.store import wire
from fittrace.testing import reset_tracking, tracking_server
from fittrace.tracking import stores
from fittrace.tracking.client import Client

API = wire.API_PREFIX


class _Listener(BaseHTTPRequestHandler):
    """Answers 200 to anything and remembers the request: an internal service a server must never reach."""

    def _answer(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def background(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def internal() -> Iterator[ThreadingHTTPServer]:
    """The internal service; ``internal.seen`` lists the requests it got."""
    listener = ThreadingHTTPServer(("127.0.0.1", 0), _Listener)
    listener.seen = []  # type: ignore[attr-defined]
    with background(listener):
        yield listener


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def call(url: str, method: str, body: bytes | dict) -> tuple[int, dict]:
    """POST a store call exactly as given; (status, answer)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("POST", f"{API}/store/{method}", data, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def get(url: str, path: str, method: str = "GET", body: bytes = b"") -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request(method, path, body or None, {"Content-Length": str(len(body))})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# ------------------------------------------------------------------------------------- SSRF


def test_client_chosen_artifact_locations_outside_the_root_are_refused(
    server, internal, tmp_path, tracking_uri
):
    client = Client()
    elsewhere = tmp_path / "elsewhere"
    for i, location in enumerate((f"{url_of(internal)}/b", str(elsewhere), f"file://{elsewhere}")):
        with pytest.raises(InvalidParameterError, match="artifact root"):
            client.create_experiment(f"exp-{i}", location)
    status, answer = call(server, "create_experiment", {"name": "x", "artifact_location": "/etc"})
    assert status == 400 and answer["error"]["type"] == "InvalidParameterError"
    # A location under the server's own root is the server's business, and accepted.
    root = stores.recorder_for(tracking_uri).store.artifact_root
    exp_id = client.create_experiment("inside", f"{root}/team-a")
    run = client.create_run(exp_id)
    client.log_text(run.info.run_id, "hello", "note.txt")
    assert (
        Path(root) / "team-a" / run.info.run_id / "artifacts" / "note.txt"
    ).read_text() == "hello"
    assert internal.seen == [] and not elsewhere.exists()


@pytest.mark.parametrize("writable", [True, False], ids=["server", "ui"])
def test_runs_stored_outside_the_root_are_never_touched(
    tracking_uri, internal, tmp_path, monkeypatch, writable
):
    """Experiments in the store that point elsewhere (written by a client with database access):
    the server neither fetches their URL nor reads or writes their folder."""
    monkeypatch.setenv("FITTRACE_HTTP_RETRIES", "0")
    local = Client(tracking_uri)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("s3cret")
    run_ids = [
        local.create_run(local.create_experiment(name, location)).info.run_id
        for name, location in (("url", f"{url_of(internal)}/a"), ("path", str(secret)))
    ]
    reset_tracking()
    with tracking_server(tracking_uri, writable=writable) as url:
        remote = Client(url)
        for run_id in run_ids:
            with pytest.raises(ResourceNotFoundError, match="outside this server's artifact root"):
                remote.list_artifacts(run_id)
            if writable:
                with pytest.raises(ResourceNotFoundError):
                    remote.log_text(run_id, "planted", "key.txt")
            status, page = get(url, f"/runs/{run_id}")
            assert status == 200 and b"outside this server&#x27;s artifact root" in page
            assert get(url, f"/runs/{run_id}/artifacts/key.txt")[0] == 404
            assert get(url, f"{API}/artifacts/{run_id}/key.txt")[0] == 404
    assert internal.seen == []
    assert [p.name for p in secret.iterdir()] == ["key.txt"]
    assert (secret / "key.txt").read_text() == "s3cret"


# --------------------------------------------------------------------------------- lost reply


class _LosingProxy(BaseHTTPRequestHandler):
    """Forwards to the server; swallows the server's first answer to a write_batch."""

    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        proxy = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = urlsplit(proxy.target)  # type: ignore[attr-defined]
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        conn.request(self.command, self.path, body, headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        if self.path.endswith("/store/write_batch") and not proxy.dropped:  # type: ignore[attr-defined]
            proxy.dropped += 1  # type: ignore[attr-defined]
            self.close_connection = True  # committed on the server; the client hears nothing
            return
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("connection", "transfer-encoding"):
                self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _forward

    def log_message(self, *args: object) -> None:
        pass


def test_a_batch_whose_reply_was_lost_is_stored_once(tracking_uri, monkeypatch):
    monkeypatch.setenv("FITTRACE_HTTP_RETRIES", "2")
    with tracking_server(tracking_uri, writable=True) as url:
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), _LosingProxy)
        proxy.target, proxy.dropped = url, 0  # type: ignore[attr-defined]
        with background(proxy):
            fittrace.set_tracking_uri(url_of(proxy))
            with fittrace.start_run() as run:
                fittrace.log_param("lr", "0.1")
                for step in range(1000):
                    fittrace.log_metric("loss", 1.0 / (step + 1), step=step)
                fittrace.flush()  # the lost reply is retried, not raised
        assert proxy.dropped == 1  # type: ignore[attr-defined]
    history = Client(tracking_uri).get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(1000))
    assert Client(tracking_uri).get_run(run.info.run_id).data.params == {"lr": "0.1"}


def test_a_batch_key_is_applied_once_by_the_store(tracking_uri):
    store = stores.recorder_for(tracking_uri).store
    run_id = Client().create_run("0").info.run_id
    for _ in range(2):
        store.write_batch([(run_id, "m", 1.0, 1, 0)], [], [], batch_key="k-1")
    store.write_batch([(run_id, "m", 2.0, 2, 1)], [], [], batch_key="k-2")
    assert [m.value for m in Client().get_metric_history(run_id, "m")] == [1.0, 2.0]


# ------------------------------------------------------------------------------ param conflicts


def test_param_conflicts_are_caught_by_the_store_transaction(tracking_uri):
    """As two processes would: each checked its own memory, the store sees both values."""
    store = stores.recorder_for(tracking_uri).store
    run_id = Client().create_run("0").info.run_id
    store.write_batch([], [(run_id, "lr", "0.1")], [])
    store.write_batch([], [(run_id, "lr", "0.1")], [])  # the same value again: fine
    with pytest.raises(ParamConflictError, match=r"'lr'.*'0\.1'.*'0\.2'"):
        store.write_batch([(run_id, "m", 1.0, 1, 0)], [(run_id, "lr", "0.2")], [])
    with pytest.raises(ParamConflictError):
        store.write_batch([], [(run_id, "bs", "1"), (run_id, "bs", "2")], [])
    run = Client().get_run(run_id)
    assert run.data.params == {"lr": "0.1"} and run.data.metrics == {}  # nothing of either batch
    assert fittrace.ParamConflictError is ParamConflictError


def test_param_conflicts_are_409_over_http(server, tracking_uri):
    run_id = Client().create_run("0").info.run_id
    stores.recorder_for(tracking_uri).store.write_batch([], [(run_id, "lr", "0.1")], [])
    batch = {"metrics": [], "params": [[run_id, "lr", "0.2"]], "tags": []}
    status, answer = call(server, "write_batch", batch)
    assert status == 409 and answer["error"]["type"] == "ParamConflictError", answer
    with pytest.raises(ParamConflictError):
        stores.recorder_for(server).store.write_batch([], [(run_id, "lr", "0.3")], [])
    assert Client(tracking_uri).get_run(run_id).data.params == {"lr": "0.1"}


# ------------------------------------------------------------------------ clear errors, not 500s

DEEP_PARENS = "(" * 500 + "metrics.m > 0" + ")" * 500
MANY_ANDS = " AND ".join(["metrics.m > 0"] * 2000)


def test_oversized_filters_and_counts_are_invalid_not_crashes(tracking_uri):
    client = Client()
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "m", 1.0)
    for bad in (DEEP_PARENS, MANY_ANDS):
        with pytest.raises(InvalidFilterError, match="more than"):
            client.search_runs("0", bad)
    with pytest.raises(InvalidParameterError, match="max_results"):
        client.search_runs("0", max_results=2**70)
    with pytest.raises(InvalidParameterError, match="max_results"):
        client.search_registered_models(max_results=2**70)
    # Well inside the limits, long filters still work.
    nested = "(" * 50 + "metrics.m > 0" + ")" * 50
    assert len(client.search_runs("0", nested)) == 1
    assert len(client.search_runs("0", " AND ".join(["metrics.m > 0"] * 25))) == 1


def test_hostile_calls_get_4xx_from_the_server(server):
    for arguments in (
        {"experiment_ids": ["0"], "filter_string": DEEP_PARENS},
        {"experiment_ids": ["0"], "filter_string": MANY_ANDS},
        {"experiment_ids": ["0"], "max_results": 2**70},
        {"experiment_ids": ["0"], "filter_string": "experiment_id = 1e999999"},
    ):
        status, answer = call(server, "search_runs", arguments)
        assert status == 400, answer
        assert answer["error"]["type"] in ("InvalidFilterError", "InvalidParameterError")
    status, answer = call(server, "search_runs", b"[" * 100_000 + b"]" * 100_000)
    assert status == 400 and "nested too deeply" in answer["error"]["message"]
    batch = {"metrics": [["no-such-run", "m", 1.0, 1, 0]], "params": [], "tags": []}
    status, answer = call(server, "write_batch", batch)
    assert status == 404 and answer["error"]["type"] == "ResourceNotFoundError"


def test_malformed_metric_columns_are_refused_whole(server, tracking_uri):
    run_id = Client().create_run("0").info.run_id
    good = {"runs": [run_id], "run": [0, 0], "keys": ["m"], "key": [0, 0]}
    good |= {"value": [1.0, 2.0], "timestamp": [1, 2], "step": [0, 1]}

    def batch(columns: dict) -> dict:
        return {"metrics": [], "params": [], "tags": [], "metric_columns": columns}

    for change in (
        {"run": [0, 1]},  # an index past the run ids
        {"key": [0, -1]},  # a negative index
        {"step": [0]},  # columns of different lengths
        {"value": "1,2"},  # not a list
        {"keys": ["../m"]},  # a key the recorder refuses
        {"value": [1.0, "x"]},  # not a number
        {"step": [0, 2**63]},  # outside int64
        {"runs": [7]},  # not a run id
    ):
        status, answer = call(server, "write_batch", batch(good | change))
        assert status == 400 and answer["error"]["type"] == "InvalidParameterError", (
            change,
            answer,
        )
    rows = {"metrics": [[run_id, "m", 1.0, 1, 2**63]], "params": [], "tags": []}
    status, answer = call(server, "write_batch", rows)  # the same check as rows
    assert status == 400 and "64-bit" in answer["error"]["message"], answer
    status, answer = call(server, "write_batch", batch(good | {"runs": ["nope"]}))
    assert status == 404 and answer["error"]["type"] == "ResourceNotFoundError"
    assert Client(tracking_uri).get_metric_history(run_id, "m") == []
    status, answer = call(server, "write_batch", batch(good))
    assert status == 200, answer
    history = Client(tracking_uri).get_metric_history(run_id, "m")
    assert [(m.value, m.timestamp, m.step) for m in history] == [(1.0, 1, 0), (2.0, 2, 1)]


def test_error_bodies_name_no_server_path(server, tracking_uri, tmp_path):
    run = Client().create_run("0")
    store = stores.recorder_for(tracking_uri).store
    folder = Path(store.get_run_info(run.info.run_id).artifact_uri)
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("a file where the run's artifact folder belongs")
    status, body = get(server, f"{API}/artifacts/{run.info.run_id}/sub/a.txt", "PUT", b"data")
    assert status == 500 and b"<artifact root>" in body
    assert str(tmp_path).encode() not in body


def test_an_unopenable_store_names_the_database(tmp_path, capsys):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database, " * 100)
    with pytest.raises(StoreError, match="garbage.db"):
        Client(f"sqlite:///{garbage}").search_experiments()
    assert main(["--tracking-uri", f"sqlite:///{garbage}", "experiments"]) == 2
    err = capsys.readouterr().err
    assert "garbage.db" in err and "Traceback" not in err


def test_the_cli_exits_2_on_any_bad_filter(tracking_uri, capsys):
    Client().create_run("0")
    for bad in (DEEP_PARENS, MANY_ANDS, "metrics.m >", "experiment_id = 'a'", "tags.x = 'a\x00'"):
        assert main(["runs", "--filter", bad]) == 2
        assert main(["models", "--filter", bad]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("fittrace: error: Invalid filter") == 10


# ----------------------------------------------------------------------------- property tests

_ENTITIES = [
    "metrics.m", "params.p", "tags.t", "tags.`a b`", 'metrics."x y"', "attributes.status",
    "run_name", "run_id", "experiment_id", "start_time", "datasets.name", "datasets.size", "name",
    "version", "source", "unknown.k", "tags.mlflow.runName", "`Run name`",
]  # fmt: skip
_OPERATORS = [
    "=", "==", "!=", "<>", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL",
    "IS NOT NULL", "is not null", "!",
]  # fmt: skip
_SCALARS = st.one_of(
    st.sampled_from(["'x'", "'%a_'", "'it''s'", '"q"', "1e999", "-2.5", ".5", "1"]),
    st.sampled_from([str(2**63), str(-(2**63) - 1), "1" + "0" * 30]),  # beyond 64 bits
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=5).map(lambda t: "'" + t.replace("'", "''") + "'"),
)
_TUPLES = st.lists(_SCALARS, min_size=1, max_size=3).map(lambda items: f"({', '.join(items)})")


def _comparison(entity: str, op: str, scalar: str, values: str) -> str:
    """Mostly well formed: IS NULL takes no value, IN a list, the others one value."""
    value = "" if op.upper().startswith("IS") else values if op.upper().endswith("IN") else scalar
    return f"{entity} {op} {value}"


_COMPARISONS = st.builds(
    _comparison,
    st.sampled_from(_ENTITIES),
    st.sampled_from(_OPERATORS),
    _SCALARS,
    _TUPLES,
)
_NOISE = st.one_of(
    st.sampled_from(["(", ")", ",", "AND", "OR", "NOT", "'", "`", '"', "ASC", "DESC"]),
    st.text(max_size=4),
)
FILTERS = st.one_of(
    st.recursive(
        _COMPARISONS,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from([" AND ", " OR ", " and "]), inner).map("".join),
            inner.map(lambda x: f"({x})"),
        ),
        max_leaves=6,
    ),
    st.lists(st.one_of(_COMPARISONS, _NOISE), max_size=8).map(" ".join),  # malformed mostly
)
_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_SETTINGS
@given(
    filter_string=FILTERS,
    order_by=st.lists(
        st.tuples(st.sampled_from(_ENTITIES), st.sampled_from(["", "ASC", "desc", "x"])).map(
            " ".join
        ),
        max_size=2,
    ),
)
def test_any_filter_is_a_result_or_an_invalid_filter(tracking_uri, filter_string, order_by):
    client = Client(tracking_uri)
    try:
        client.search_runs("0", filter_string, order_by=order_by)
    except InvalidFilterError:
        pass
    try:
        client.search_model_versions(filter_string)
    except InvalidFilterError:
        pass


@settings(_SETTINGS, max_examples=150)
@given(filter_string=FILTERS)
@example(filter_string=f"metrics.m = {2**63}")
@example(filter_string="experiment_id IN (1, 1.5)")
@example(filter_string="tags.t = 'a\x00'")
def test_no_filter_makes_the_server_fail(server, filter_string):
    status, answer = call(
        server, "search_runs", {"experiment_ids": ["0"], "filter_string": filter_string}
    )
    assert status == 200 or (status == 400 and answer["error"]["type"] == "InvalidFilterError")
    status, answer = call(server, "search_registered_models", {"filter_string": filter_string})
    assert status == 200 or (status == 400 and answer["error"]["type"] == "InvalidFilterError")
