"""The read-only web UI (``fittrace ui`` / ``fittrace server``), served on a free port and read
with urllib as a browser would."""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

import fittrace
from fittrace.cli import main
from fittrace.entities import DatasetInput, Metric, Param
from fittrace.ui import make_server
from fittrace.ui.series import downsample, points

XSS = "<script>alert('x')</script>"
MODEL_XSS = "m<img src=x onerror=alert(1)>"  # registered model names may not contain '/'


class Page:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.text = body.decode("utf-8", "replace")


@pytest.fixture
def ui() -> Iterator[str]:
    """The UI on a free port over the test's store (FITTRACE_TRACKING_URI); yields its base URL."""
    server = make_server(None, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.url
    server.shutdown()
    server.server_close()
    thread.join(10)


def fetch(base: str, path: str, method: str = "GET") -> Page:
    request = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Page(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as e:
        return Page(e.code, dict(e.headers), e.read())


def raw_get(base: str, path: str) -> Page:
    """GET a path exactly as written (urllib could tidy it)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return Page(response.status, dict(response.headers), response.read())
    finally:
        conn.close()


def run_links(page: Page) -> list[str]:
    return re.findall(r'<input type="checkbox" name="runs" value="([0-9a-f]+)"', page.text)


def row_names(page: Page) -> list[str]:
    """The run names of a runs table, top to bottom."""
    return re.findall(r'<td title="([^"]*)">(?:<button.*?</button> )?<a href="/runs/', page.text)


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, str]:
    """Experiment "demo": run "good" (history, tags, dataset, nested artifacts, a child run) and
    run "bad"; experiment "other" with one run; a deleted experiment."""
    (tmp_path / "weights.bin").write_bytes(os.urandom(5000) + bytes(range(256)))
    fittrace.set_experiment("demo")
    with fittrace.start_run(run_name="good", description="the baseline") as good:
        fittrace.log_params({"alpha": "0.1", "depth": 3})
        for step, value in enumerate([0.9, 0.5, math.nan, 0.3]):
            fittrace.log_metric("rmse", value, step=step)
        fittrace.log_metric("acc", 0.95)
        fittrace.set_tag("model", "xgboost")
        fittrace.log_input(DatasetInput("iris", "d1g3st"), context="training")
        fittrace.log_text("MLmodel body", "model/MLmodel")
        fittrace.log_artifact(str(tmp_path / "weights.bin"), "model/data")
        fittrace.log_dict({"a": 1}, "report.json")
        with fittrace.start_run(run_name="child", nested=True) as child:
            fittrace.log_metric("acc", 0.7)
    time.sleep(0.002)
    with fittrace.start_run(run_name="bad"):
        fittrace.log_param("alpha", "0.2")
        fittrace.log_metric("acc", 0.2)
    fittrace.set_experiment("other")
    with fittrace.start_run(run_name="solo"):
        fittrace.log_metric("loss", 1.5)
    gone = fittrace.create_experiment("gone")
    fittrace.MlflowClient().delete_experiment(gone)
    fittrace.flush()
    demo = fittrace.get_experiment_by_name("demo").experiment_id
    return {"good": good.info.run_id, "child": child.info.run_id, "demo": demo}


def test_home_lists_active_experiments_with_run_counts(ui, runs):
    page = fetch(ui, "/")
    assert page.status == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    rows = re.findall(
        r'<tr><td>(\d+)</td><td><a href="/experiments/\d+">([^<]+)</a></td><td>(\d+)</td>',
        page.text,
    )
    assert {name: count for _, name, count in rows} == {"Default": "0", "demo": "3", "other": "1"}


def test_runs_table_newest_first_with_param_and_metric_columns(ui, runs):
    page = fetch(ui, f"/experiments/{runs['demo']}")
    assert page.status == 200
    # the child is listed under its parent
    assert row_names(page) == ["bad", "good", "child"]
    headers = re.findall(r"<th(?: [^>]*)?>(?:<a [^>]+>)?([^<]*)", page.text)
    assert headers[:5] == ["", "Run name", "Parent run", "Created", "Duration"]
    # metrics first, then the params that differ between the runs shown (depth: only "good")
    assert headers[6:] == ["metrics.acc", "metrics.rmse", "params.alpha", "params.depth"]
    assert ">0.95</td>" in page.text and ">0.3</td>" in page.text
    assert " UTC</time></td>" in page.text and "Runs 1–3 of 3" in page.text


def test_filter_shows_only_matching_runs(ui, runs):
    page = fetch(ui, f"/experiments/{runs['demo']}?" + urlencode({"filter": "metrics.acc > 0.5"}))
    assert page.status == 200
    assert sorted(row_names(page)) == ["child", "good"]
    assert 'value="metrics.acc &gt; 0.5"' in page.text  # the filter stays in the box
    assert "Runs 1–2 of 2" in page.text

    query = urlencode({"filter": "metrics.acc > 0", "order_by": "metrics.acc ASC"})
    page = fetch(ui, f"/experiments/{runs['demo']}?{query}")
    assert row_names(page) == ["bad", "good", "child"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"filter": "metrics.acc >> 0.5"}, "unexpected token &#x27;&gt;&gt;&#x27; at position 12"),
        ({"order_by": "metrics.acc SIDEWAYS"}, "SIDEWAYS"),
    ],
)
def test_malformed_filter_is_a_400_page_with_the_error(ui, runs, query, message):
    page = fetch(ui, f"/experiments/{runs['demo']}?{urlencode(query)}")
    assert page.status == 400
    assert "Invalid" in page.text and message in page.text
    assert '<form method="get">' in page.text  # the user can correct it in place


def test_pagination_shows_every_run_once(ui):
    client = fittrace.MlflowClient()
    experiment_id = client.create_experiment("many")
    for i in range(250):
        run = client.create_run(experiment_id, start_time=1_700_000_000_000 + i, run_name=f"r{i}")
        client.log_batch(run.info.run_id, params=[Param("i", str(i))])
    seen: list[str] = []
    path = f"/experiments/{experiment_id}"
    pages = 0
    while path:
        page = fetch(ui, path)
        assert page.status == 200
        seen += run_links(page)
        pages += 1
        assert ("Previous" in page.text) == (pages > 1)
        found = re.search(r'<a href="([^"]+)">Next →</a>', page.text)
        path = found.group(1).replace("&amp;", "&") if found else ""
    assert pages == 3 and len(seen) == 250 and len(set(seen)) == 250
    assert "Runs 201–250 of 250" in page.text
    assert fetch(ui, f"/experiments/{experiment_id}?offset=-1").status == 400


def test_a_page_of_ten_thousand_runs_renders(ui):
    client = fittrace.MlflowClient()
    experiment_id = client.create_experiment("huge")
    for i in range(10_000):
        run = client.create_run(experiment_id, start_time=1_700_000_000_000 + i, run_name=f"r{i}")
        client.log_batch(run.info.run_id, [Metric("acc", i / 10_000, 0, 0)], [Param("i", str(i))])
    page = fetch(ui, f"/experiments/{experiment_id}")
    assert page.status == 200 and "Runs 1–100 of 10000" in page.text
    assert len(run_links(page)) == 100 and ">r9999<" in page.text
    last = fetch(ui, f"/experiments/{experiment_id}?offset=9900")
    assert len(run_links(last)) == 100 and ">r0<" in last.text and "Next" not in last.text


def test_run_page_shows_info_params_metrics_tags_datasets(ui, runs):
    page = fetch(ui, f"/runs/{runs['good']}")
    assert page.status == 200
    text = page.text
    assert "<h1>Run good</h1>" in text and runs["good"] in text
    assert f'<a href="/experiments/{runs["demo"]}">demo</a>' in text
    assert "<tr><td>alpha</td><td>0.1</td></tr>" in text
    assert "<tr><td>depth</td><td>3</td></tr>" in text
    assert "<tr><td>model</td><td>xgboost</td></tr>" in text
    assert "the baseline" in text
    assert f'<a href="/runs/{runs["child"]}">child</a>' in text  # its children are listed
    # system tags are tucked into a collapsed section after the user's tags
    system = text[text.index("<summary>System tags") :]
    assert "mlflow.runName" in system and "mlflow.user" in system
    tags = text[text.index("<h2>Tags</h2>") :]
    assert "mlflow.runName" not in tags[: tags.index("<summary>")]
    assert "<td>iris</td><td>d1g3st</td><td>training</td>" in text
    assert "Edit" not in text and "<textarea" not in text  # the read-only UI offers no editing


def chart_specs(text: str) -> dict[str, dict]:
    """The chart data a page embeds for its script, by chart title."""
    blocks = re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', text)
    return {spec["title"]: spec for spec in map(json.loads, blocks)}


def test_metric_history_is_charted_skipping_nan(ui, runs):
    text = fetch(ui, f"/runs/{runs['good']}").text
    rmse = text[text.index("<td>rmse</td>") :].split("</tr>")[0]
    assert "<td>0.3</td><td>0.3</td><td>0.9</td><td>4</td>" in rmse  # latest, min, max, points
    (line,) = chart_specs(text)["rmse"]["series"]
    assert line["x"] == [0, 1, 3] and line["y"] == [0.9, 0.5, 0.3]  # NaN at step 2 is skipped
    assert "acc" not in chart_specs(text)  # one point: no chart

    wall = chart_specs(fetch(ui, f"/runs/{runs['good']}?x=relative").text)["rmse"]
    assert wall["xlabel"] == "Relative time (s)" and all(x >= 0 for x in wall["series"][0]["x"])


def test_child_run_links_to_its_parent(ui, runs):
    text = fetch(ui, f"/runs/{runs['child']}").text
    assert f'<td>Parent run</td><td><a href="/runs/{runs["good"]}">good</a>' in text


def test_user_strings_are_escaped_everywhere(ui, tmp_path):
    fittrace.set_experiment(f"exp {XSS}")
    with fittrace.start_run(run_name=XSS) as run:
        fittrace.log_param("p", XSS)
        fittrace.set_tag("t", XSS)
        fittrace.log_text("x", f"{XSS}.txt")
    client = fittrace.MlflowClient()
    client.create_registered_model(MODEL_XSS, description=XSS)
    client.create_model_version(
        MODEL_XSS, f"runs:/{run.info.run_id}/m", run.info.run_id, {"k": XSS}
    )
    experiment_id = run.info.experiment_id
    paths = [
        "/",
        f"/experiments/{experiment_id}",
        f"/experiments/{experiment_id}?" + urlencode({"filter": f"params.p = '{XSS}'"}),
        f"/experiments/{experiment_id}?" + urlencode({"filter": XSS}),  # reflected in the error
        f"/runs/{run.info.run_id}",
        "/models",
        f"/models/{quote(MODEL_XSS, safe='')}",
        "/runs/" + quote(XSS, safe=""),  # reflected in the 404 message
    ]
    for path in paths:
        page = fetch(ui, path)
        assert "<script>" not in page.text and "<img" not in page.text, path
        assert "&lt;script&gt;" in page.text or "&lt;img" in page.text, path
        policy = page.headers["Content-Security-Policy"]
        assert (
            "script-src 'self';" in policy and "unsafe-inline" not in policy.split("style-src")[0]
        )


def test_artifacts_are_browsable_and_download_byte_for_byte(ui, runs, tmp_path):
    text = fetch(ui, f"/runs/{runs['good']}").text
    assert f'href="/runs/{runs["good"]}?path=model#artifacts">model/</a>' in text
    assert f'href="/runs/{runs["good"]}?preview=report.json#preview">report.json</a>' in text
    assert f'href="/runs/{runs["good"]}/artifacts/report.json">download</a>' in text

    folder = fetch(ui, f"/runs/{runs['good']}?path=model/data").text
    assert f'href="/runs/{runs["good"]}/artifacts/model/data/weights.bin">download</a>' in folder
    assert "5.1 KiB" in folder

    page = fetch(ui, f"/runs/{runs['good']}/artifacts/model/data/weights.bin")
    assert page.status == 200
    assert page.body == (tmp_path / "weights.bin").read_bytes()
    assert page.headers["Content-Type"] == "application/octet-stream"
    assert page.headers["Content-Disposition"].startswith('attachment; filename="weights.bin"')
    assert page.headers["Content-Length"] == str(len(page.body))

    report = fetch(ui, f"/runs/{runs['good']}/artifacts/report.json")
    assert report.headers["Content-Type"] == "application/json; charset=utf-8"
    assert report.headers["Content-Disposition"].startswith("inline;")
    assert report.headers["Content-Security-Policy"].startswith("sandbox")

    folder_link = fetch(ui, f"/runs/{runs['good']}/artifacts/model")  # a folder: its listing
    assert "MLmodel</a>" in folder_link.text
    assert fetch(ui, f"/runs/{runs['good']}/artifacts/model/nope.bin").status == 404


@pytest.fixture
def remote_root(monkeypatch: pytest.MonkeyPatch) -> str:
    """New experiments put artifacts on memory:// (standing in for s3://); set before ``ui``."""
    fsspec = pytest.importorskip("fsspec")
    root = "memory://fittrace-ui-test/runs"
    if fsspec.filesystem("memory").exists("/fittrace-ui-test"):
        fsspec.filesystem("memory").rm("/fittrace-ui-test", recursive=True)
    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", root)
    return root


def test_remote_artifacts_are_proxied_by_the_server(remote_root, ui, tmp_path):
    payload = os.urandom(3000)
    (tmp_path / "blob.bin").write_bytes(payload)
    fittrace.set_experiment("remote")
    with fittrace.start_run() as run:
        fittrace.log_artifact(str(tmp_path / "blob.bin"), "deep/er")
    assert run.info.artifact_uri.startswith(remote_root)
    listing = fetch(ui, f"/runs/{run.info.run_id}?path=deep/er").text
    assert "blob.bin</a>" in listing
    page = fetch(ui, f"/runs/{run.info.run_id}/artifacts/deep/er/blob.bin")
    assert page.status == 200 and page.body == payload


def test_paths_leaving_the_run_are_refused(ui, runs, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    run_id = runs["good"]
    for path in (
        f"/runs/{run_id}/artifacts/../../../secret.txt",
        f"/runs/{run_id}/artifacts/model/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        f"/runs/{run_id}/artifacts/%2Fetc%2Fpasswd",
        f"/runs/{run_id}?path=..",
    ):
        page = raw_get(ui, path)
        assert page.status in (400, 404), path
        assert b"top secret" not in page.body and b"root:" not in page.body


def test_a_symlink_out_of_the_artifacts_is_refused(ui, runs, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    artifact_dir = fittrace.get_run(runs["good"]).info.artifact_uri
    os.symlink(secret, os.path.join(artifact_dir, "link.txt"))
    page = fetch(ui, f"/runs/{runs['good']}/artifacts/link.txt")
    assert page.status == 400 and b"top secret" not in page.body


def test_registry_pages_list_models_and_versions(ui, runs):
    client = fittrace.MlflowClient()
    client.create_registered_model("fraud", description="catches fraud")
    client.create_model_version("fraud", f"runs:/{runs['good']}/model", runs["good"])
    client.create_model_version(
        "fraud", f"runs:/{runs['good']}/model", runs["good"], {"stage": "qa"}
    )
    client.set_registered_model_alias("fraud", "champion", 1)

    models = fetch(ui, "/models").text
    assert '<a href="/models/fraud">fraud</a></td><td>2</td>' in models
    assert "@champion → v1" in models and "catches fraud" in models

    page = fetch(ui, "/models/fraud")
    assert page.status == 200
    versions = re.findall(
        r'<tr><td><a href="/models/fraud/versions/\d+">(\d+)</a></td><td>READY', page.text
    )
    assert versions == ["2", "1"]
    assert f'<a href="/runs/{runs["good"]}">good</a>' in page.text  # the run by name
    assert "@champion" in page.text and "stage=qa" in page.text


@pytest.mark.parametrize(
    "path",
    ["/runs/0123456789abcdef", "/experiments/999", "/experiments/abc", "/models/nope", "/nowhere"],
)
def test_unknown_things_are_404_pages(ui, runs, path):
    page = fetch(ui, path)
    assert page.status == 404 and "<h1>Error 404</h1>" in page.text


def test_the_ui_is_read_only(ui, runs):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        page = fetch(ui, "/", method)
        assert page.status == 405 and page.headers["Allow"] == "GET, HEAD"
    head = fetch(ui, f"/runs/{runs['good']}", "HEAD")
    assert head.status == 200 and head.body == b""


def test_an_unexpected_error_is_a_500_page_and_the_server_goes_on(ui, runs, monkeypatch, caplog):
    from fittrace.tracking.client import Client

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Client, "search_experiments", broken)
    page = fetch(ui, "/")
    assert page.status == 500 and "Internal error" in page.text
    assert "disk on fire" in caplog.text
    assert fetch(ui, f"/runs/{runs['good']}").status == 200


def test_many_requests_use_a_bounded_number_of_store_connections(ui, runs):
    from concurrent.futures import ThreadPoolExecutor

    from fittrace.tracking import stores
    from fittrace.ui.app import WORKERS

    store = stores.recorder_for().store
    before = len(store._connections)
    with ThreadPoolExecutor(8) as browsers:
        pages = list(browsers.map(lambda _: fetch(ui, f"/runs/{runs['good']}"), range(60)))
    assert all(page.status == 200 for page in pages)
    assert len(store._connections) - before <= WORKERS


def test_long_series_are_downsampled_keeping_each_columns_extremes():
    history = [Metric("m", float(i % 97), 0, i) for i in range(100_000)]
    history[54_321] = Metric("m", 1e6, 0, 54_321)  # a spike must survive
    history[77_777] = Metric("m", -1e6, 0, 77_777)
    kept = downsample(points(history, "step"), columns=500)
    assert len(kept) <= 1002
    assert kept[0] == (0, 0.0) and kept[-1] == (99_999, 99_999 % 97)
    assert (54_321, 1e6) in kept and (77_777, -1e6) in kept
    assert [x for x, _ in kept] == sorted(x for x, _ in kept)
    assert points([Metric("m", v, 0, 0) for v in (math.nan, math.inf, 1.0)], "step") == [(0, 1.0)]


# --------------------------------------------------------------------------------------- CLI


def test_ui_on_a_missing_sqlite_store_exits_2(capsys, tmp_path):
    missing = tmp_path / "nowhere" / "mlflow.db"
    code = main(["ui", "--backend-store-uri", f"sqlite:///{missing}"])
    _, err = capsys.readouterr()
    assert code == 2 and "No tracking store at" in err and str(missing) in err
    assert not missing.exists() and not missing.parent.exists()


def test_ui_on_a_busy_port_exits_2(capsys):
    fittrace.MlflowClient().search_experiments()  # the store exists
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["ui", "--port", str(port)])
    _, err = capsys.readouterr()
    assert code == 2 and f"Cannot serve on 127.0.0.1:{port}" in err and "in use" in err


def test_server_command_serves_until_sigterm(runs, tracking_uri, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "fittrace.cli", "server", "--backend-store-uri", tracking_uri]
        + ["--artifacts-destination", str(tmp_path / "artifacts"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("fittrace UI at http://127.0.0.1:") and "(store: " in line
        base = line.split()[3]
        assert "demo" in fetch(base, "/").text
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        process.kill()
        process.communicate()
