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
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

import fittrace
from fittrace.cli import main
from fittrace.entities import DatasetInput, Metric, MetricHistory, Param
from fittrace.ui.series import Series, series

XSS = "<script>alert('x')</script>"
MODEL_XSS = "m<img src=x onerror=alert(1)>"  # registered model names may not contain '/'


class Page:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.text = body.decode("utf-8", "replace")


@pytest.fixture
def ui(ui_server) -> str:
    """The read-only UI over the test's store (FITTRACE_TRACKING_URI): its base URL."""
    return ui_server()


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
        assert not found or "page=" in path  # the next page resumes after this one's last run
    assert pages == 3 and len(seen) == 250 and len(set(seen)) == 250
    newest_first = client.search_runs([experiment_id], max_results=1000)
    assert seen == [r.info.run_id for r in newest_first]
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
    values = [float(i % 97) for i in range(20_000)]
    values[5_432], values[17_777] = 1e6, -1e6  # spikes must survive
    history = MetricHistory.of("m", [Metric("m", v, 0, i) for i, v in enumerate(values)])
    line = series("m", history, "step", None)
    assert 1_000 <= len(line.x) <= 2_002 and len(line.y) == len(line.x)
    kept = list(zip(line.x, line.y, strict=True))
    assert kept[0] == (0, 0.0) and kept[-1] == (19_999, 19_999 % 97)
    assert (5_432, 1e6) in kept and (17_777, -1e6) in kept
    assert line.x == sorted(line.x)
    assert all(values[x] == y for x, y in kept)
    special = MetricHistory.of("m", [Metric("m", v, 0, 0) for v in (math.nan, math.inf, 1.0)])
    assert series("m", special, "step", None) == Series("m", [0], [1.0])


def test_time_axes_put_points_in_time_order():
    history = MetricHistory.of(
        "m", [Metric("m", 1.0, 5_000, 0), Metric("m", 2.0, 3_000, 1), Metric("m", 3.0, 4_000, 2)]
    )
    assert series("m", history, "wall", None) == Series("m", [3.0, 4.0, 5.0], [2.0, 3.0, 1.0])
    assert series("m", history, "relative", 1_000) == Series("m", [2.0, 3.0, 4.0], [2.0, 3.0, 1.0])


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


# ---------------------------------------------------------------------- runs table and compare


def test_columns_are_chosen_in_the_url_and_headers_sort_server_side(ui, runs):
    base = f"/experiments/{runs['demo']}"
    page = fetch(ui, base + "?" + urlencode({"col": ["params.alpha", "tags.model"]}, doseq=True))
    headers = re.findall(r"<th(?: [^>]*)?>(?:<a [^>]+>)?([^<]*)", page.text)
    assert headers[3:] == ["params.alpha", "tags.model"]
    assert 'value="params.alpha" checked' in page.text  # the chooser shows what is chosen
    sort = re.search(r'<a href="([^"]+)">params.alpha</a>', page.text).group(1)
    assert "col=params.alpha" in sort and "order_by=params.%60alpha%60+DESC" in sort
    page = fetch(ui, sort.replace("&amp;", "&"))
    assert row_names(page)[:2] == ["bad", "good"]  # alpha 0.2, then 0.1
    assert ">params.alpha ▼</a>" in page.text
    assert fetch(ui, base + "?col=bogus.x").status == 400


def test_an_offset_past_the_end_goes_to_the_last_page(ui, runs):
    page = fetch(ui, f"/experiments/{runs['demo']}?offset=500")
    assert page.status == 200 and "Runs 1–3 of 3" in page.text and "Previous" not in page.text


def test_long_values_are_cut_in_cells_with_the_whole_value_on_hover(ui):
    value = "y" * 6000
    with fittrace.start_run() as run:
        fittrace.log_param("blob", value)
    page = fetch(ui, f"/experiments/{run.info.experiment_id}?col=params.blob")
    cell = re.search(r'<td title="(y+)">(y+)…</td>', page.text)
    assert cell and cell.group(1) == value[:5000] and len(cell.group(2)) == 120


def test_compare_shows_params_side_by_side_and_overlaid_downsampled_charts(ui):
    ids = []
    for i, count in enumerate((5, 5_000)):
        with fittrace.start_run(run_name=f"r{i}") as run:
            fittrace.log_params({"lr": str(i), "same": "x"})
            metrics = [Metric("loss", 1 / (s + 1), 0, s) for s in range(count)]
            fittrace.MlflowClient().log_batch(run.info.run_id, metrics)
        ids.append(run.info.run_id)
    query = urlencode({"runs": ids}, doseq=True)
    page = fetch(ui, f"/compare?{query}")
    assert page.status == 200 and "Comparing 2 runs" in page.text
    assert '<tr class="diff"><td>lr</td><td>0</td><td>1</td></tr>' in page.text
    assert "<tr><td>same</td>" in page.text
    assert "<tr><td>same</td>" not in fetch(ui, f"/compare?{query}&diff=1").text
    (short, long) = chart_specs(page.text)["loss"]["series"]
    assert short["label"] == "r0" and len(short["x"]) == 5
    assert 1000 < len(long["x"]) <= 2002 and long["x"][-1] == 4_999  # 2 per pixel column

    csv_page = fetch(ui, f"/compare.csv?{query}&key=loss")
    rows = csv_page.text.splitlines()
    assert csv_page.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        rows[0] == "run,step,loss" and rows[1] == "r0,0,1.0" and len(rows) == 1 + 5 + len(long["x"])
    )
    assert fetch(ui, f"/compare?runs={ids[0]}").status == 400


def test_compare_says_so_when_the_runs_have_no_params_or_metrics(ui):
    ids = []
    for name in ("a", "b"):
        with fittrace.start_run(run_name=name) as run:
            pass
        ids.append(run.info.run_id)
    page = fetch(ui, "/compare?" + urlencode({"runs": ids}, doseq=True))
    assert page.status == 200 and "No parameters." in page.text and "No metrics." in page.text
    assert "params differ" not in page.text and "<th>Param</th>" not in page.text


def test_static_files_are_the_apps_own(ui):
    js = fetch(ui, "/static/uPlot.iife.min.js")
    assert js.status == 200 and js.headers["Content-Type"].startswith("text/javascript")
    assert "MIT" in fetch(ui, "/static/uPlot.LICENSE").text
    assert fetch(ui, "/favicon.ico").headers["Content-Type"] == "image/svg+xml"
    for path in ("/static/../app.py", "/static/%2e%2e%2fapp.py", "/static/nope.js"):
        assert raw_get(ui, path).status == 404, path


# --------------------------------------------------------------------------- run page bits


def test_previews_of_csv_html_and_evaluation_data(ui, tmp_path):
    with fittrace.start_run() as run:
        fittrace.log_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(1200)), "t.csv")
        fittrace.log_text("<p>report</p>", "estimator.html")
        fittrace.log_dict(
            {"labels": [0, 1], "matrix": [[5, 1], [2, 7]], "rows": "t", "columns": "p"},
            "training_confusion_matrix.json",
        )
        fittrace.log_dict({"f0": 3.0, "f1": 1.5}, "feature_importance_weight.json")
    base = f"/runs/{run.info.run_id}"
    text = fetch(ui, f"{base}?preview=t.csv").text
    table = text[text.index('<table class="csv">') :]
    assert table.count("<tr><td>") == 1000 and "(the first 1000)" in text
    frame = re.search(r"<iframe [^>]+>", fetch(ui, f"{base}?preview=estimator.html").text).group(0)
    assert 'sandbox=""' in frame and f'src="{base}/artifacts/estimator.html"' in frame
    html = fetch(ui, f"{base}/artifacts/estimator.html")
    assert html.headers["Content-Security-Policy"].startswith("sandbox")
    page = fetch(ui, base).text
    evaluation = page[page.index("<h2>Evaluation</h2>") : page.index("<h2>Tags</h2>")]
    assert "<th>true \\ predicted</th><th>0</th><th>1</th>" in evaluation
    assert "<title>f0: 3</title>" in evaluation  # the importance bars
    assert fetch(ui, f"{base}?preview=nope.txt").status == 404


def test_small_things_ms_durations_refresh_while_running_experiment_search(ui):
    client = fittrace.MlflowClient()
    experiment_id = client.create_experiment("findme")
    run = client.create_run(experiment_id, start_time=1_700_000_000_000)
    page = fetch(ui, f"/runs/{run.info.run_id}").text
    assert '<meta http-equiv="refresh" content="10">' in page  # RUNNING: reloads itself
    assert '<time datetime="2023-11-14T22:13:20Z" title="2023-11-14 22:13:20 UTC">' in page
    client.set_terminated(run.info.run_id, end_time=1_700_000_000_250)
    page = fetch(ui, f"/runs/{run.info.run_id}").text
    assert "http-equiv" not in page and "<td>250 ms</td>" in page
    found = fetch(ui, "/?q=FIND").text
    assert ">findme</a>" in found and ">Default</a>" not in found


# ----------------------------------------------------------------------------- editing


@pytest.fixture
def token_server(ui_server) -> str:
    return ui_server(writable=True, token="tok")


def post_form(base: str, path: str, fields: dict, **headers: str) -> Page:
    request = urllib.request.Request(
        base + path, urlencode(fields).encode(), method="POST", headers=headers
    )
    opener = urllib.request.build_opener(urllib.request.HTTPErrorProcessor())
    opener.handle_error = {}  # keep redirects as answers
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Page(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as e:
        return Page(e.code, dict(e.headers), e.read())


def test_a_token_server_edits_runs_and_aliases_from_its_pages(token_server, ui, runs):
    auth = {"Authorization": "Bearer tok"}
    run_id = runs["good"]
    edit = f"/runs/{run_id}/edit"
    assert (
        post_form(token_server, edit, {"action": "rename", "name": "better"}, **auth).status == 200
    )
    post_form(token_server, edit, {"action": "describe", "description": "new words"}, **auth)
    post_form(token_server, edit, {"action": "tag", "key": "k", "value": "v"}, **auth)
    run = fittrace.get_run(run_id)
    assert run.info.run_name == "better" and run.data.tags["k"] == "v"
    assert run.data.tags["fittrace.note.content"] == "new words"
    post_form(token_server, edit, {"action": "delete"}, **auth)
    assert fittrace.get_run(run_id).info.lifecycle_stage == "deleted"
    post_form(token_server, edit, {"action": "restore"}, **auth)
    assert fittrace.get_run(run_id).info.lifecycle_stage == "active"

    client = fittrace.MlflowClient()
    client.create_registered_model("m")
    for _ in range(2):
        client.create_model_version("m", f"runs:/{run_id}/model", run_id)
    client.set_registered_model_alias("m", "prod", 2)
    post_form(
        token_server, "/models/m/versions/1/edit", {"action": "alias", "alias": "prod"}, **auth
    )
    assert client.get_model_version_by_alias("m", "prod").version == 1  # rolled back
    post_form(token_server, "/models/m/edit", {"action": "describe", "description": "d"}, **auth)
    assert client.get_registered_model("m").description == "d"

    # refused: no token, another site's form, the read-only UI
    assert post_form(token_server, edit, {"action": "delete"}).status == 401
    other = post_form(
        token_server, edit, {"action": "delete"}, Origin="http://evil.example", **auth
    )
    assert other.status == 405
    assert post_form(ui, edit, {"action": "delete"}, **auth).status == 405
    assert fittrace.get_run(run_id).info.lifecycle_stage == "active"
    assert "<textarea" in fetch_with(token_server, f"/runs/{run_id}", auth).text


def fetch_with(base: str, path: str, headers: dict[str, str]) -> Page:
    request = urllib.request.Request(base + path, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return Page(response.status, dict(response.headers), response.read())
