"""The web UI at 100,000 runs: `fittrace ui` beside `mlflow ui` over the same store content.

    python benchmarks/bench_ui.py [--runs 100000] [--mlflow-runs N] [--points 100000]
        [--repeat 3] [--skip-mlflow] [--runs-page]

Stores come from ``scale_data.py`` (one experiment of ``--runs`` runs x 20 params x 10 metrics,
written straight into the tables and cached in the temp dir; MLflow's with ``--mlflow-runs``
runs, by default as many).

1. Server time of fittrace's runs page (the handler in-process, without the socket): the first
   page, a deep page (reached through the Next link, which carries the page token), filtered,
   sorted by a metric, and both; deep pages from a typed ``?offset=`` URL; and the compare page
   of 10 runs x ``--points`` points each (``--runs-page``: the runs page alone). A filtered
   page's count is remembered until the store changes: its time counting again follows.
2. In headless Chromium (Selenium, Debian's chromium-driver): from navigation until the newest
   run's name is on screen, for each UI started as its own command; and until the compare
   chart is drawn (the points that reach the browser are downsampled per pixel column).
Times are medians of ``--repeat``, in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import scale_data
from bench_scale import median_ms

FILTER = "metrics.m1 < 0.5 AND params.p2 = '1'"
ORDER = "metrics.m0 DESC"
COMPARED = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(command: list[str], port: int) -> Iterator[None]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FITTRACE_", "MLFLOW_"))}
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # mlflow ui starts worker processes: stop them all at the end
    )
    try:
        deadline = time.monotonic() + 600
        while not _listening(port):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{command[2:4]} did not start")
            time.sleep(0.2)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 1):
            return True
    except OSError:
        return False


def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(arg)
    if os.path.exists("/usr/bin/chromium"):
        options.binary_location = "/usr/bin/chromium"
    driver = shutil.which("chromedriver")  # else Selenium looks for one on the network
    service = webdriver.ChromeService(executable_path=driver) if driver else None
    return webdriver.Chrome(options=options, service=service)


def visible_ms(
    driver, url: str, css: str | None, text: str | None, repeat: int
) -> tuple[float, float]:
    """Medians of ms from navigation, and from the response's last byte, until an element
    (``css``, or one whose text is ``text``) is displayed; a fresh page load each time after
    one that warms the server's caches."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    how = (By.CSS_SELECTOR, css) if css else (By.XPATH, f"//*[normalize-space(text())='{text}']")
    totals, in_browser = [], []
    for i in range(repeat + 1):
        driver.get("about:blank")
        start = time.perf_counter()
        driver.get(url)
        WebDriverWait(driver, 300, 0.01).until(
            lambda d: any(e.is_displayed() for e in d.find_elements(*how))
        )
        if i:
            totals.append((time.perf_counter() - start) * 1000)
            in_browser.append(
                driver.execute_script(
                    "const t = performance.getEntriesByType('navigation')[0];"
                    "return performance.now() - t.responseEnd;"
                )
            )
    return statistics.median(totals), statistics.median(in_browser)


def next_page(client, experiment_id: str, query: dict, offset: int) -> dict:
    """``query`` at ``offset`` as the Next link of the page before it names it."""
    from fittrace.store import search
    from fittrace.tracking.client import page_token_at

    order_by = [query["order_by"]] if "order_by" in query else None
    (before,) = client.search_runs(
        [experiment_id],
        query.get("filter", ""),
        max_results=1,
        order_by=order_by,
        page_token=page_token_at(offset - 1),
    )
    token = page_token_at(offset, search.page_key(before, order_by), order_by)
    return {**query, "offset": offset, "page": token}


def compared_runs(uri: str, points: int) -> list[str]:
    """``COMPARED`` runs of one ``loss`` metric of ``points`` steps each, in the store at ``uri``,
    logged as a training loop logs them (``log_batch`` of 1,000, written in the background)."""
    from fittrace.entities import Metric
    from fittrace.tracking.client import Client

    client = Client(uri)
    experiment_id = client.create_experiment("compare")
    run_ids = []
    for i in range(COMPARED):
        run_id = client.create_run(experiment_id, run_name=f"curve-{i}").info.run_id
        for first in range(0, points, 1000):
            steps = range(first, min(first + 1000, points))
            metrics = [
                Metric("loss", 1 / (1 + s) + i / 100, 1_700_000_000_000 + s, s) for s in steps
            ]
            client.log_batch(run_id, metrics=metrics)
        run_ids.append(run_id)
    client.get_metric_history_columns(run_ids[-1], "loss")  # waits for the writes
    return run_ids


def server_times(uri: str, experiment_id: str, runs: int, repeat: int) -> None:
    from fittrace.tracking.client import Client
    from fittrace.ui.api import ServedArtifacts
    from fittrace.ui.app import respond

    client = Client(uri)
    served = ServedArtifacts(client._store)
    deep = (runs - 100) // 100 * 100
    matches = client.count_matching_runs(experiment_id, FILTER)
    deep_match = matches // 100 * 100 - 100
    cases = {
        "first page": {},
        "deep page": next_page(client, experiment_id, {}, deep),
        "filtered": {"filter": FILTER},
        "filtered, deep": next_page(client, experiment_id, {"filter": FILTER}, deep_match),
        "sorted by a metric": {"order_by": ORDER},
        "sorted by a metric, deep": next_page(client, experiment_id, {"order_by": ORDER}, deep),
        "filtered and sorted": {"filter": FILTER, "order_by": ORDER},
        "deep page by offset alone (a typed URL)": {"offset": deep},
        "sorted, deep page by offset alone": {"order_by": ORDER, "offset": deep},
        "filtered, deep page by offset alone": {"filter": FILTER, "offset": deep_match},
        "filtered and sorted, deep by offset alone": {
            "filter": FILTER,
            "order_by": ORDER,
            "offset": deep_match,
        },
    }
    paths = {
        label: f"/experiments/{experiment_id}?{urlencode(query)}" for label, query in cases.items()
    }
    print(f"\nfittrace ui server time, {runs} runs (median of {repeat}, wall / CPU):")
    for label, path in paths.items():

        def page(path: str = path) -> None:
            with contextlib.ExitStack() as resources:
                assert respond(client, path, resources, served).status == 200

        def first_view(page=page) -> None:  # the filter's count not remembered yet
            client._store._local.held.counts.clear()
            page()

        cold = f"  counting: {wall_and_cpu(first_view, repeat)}" if "filter" in label else ""
        print(f"  {label:42s} {wall_and_cpu(page, repeat)} ms{cold}")


def wall_and_cpu(fn, repeat: int) -> str:
    return f"{median_ms(fn, repeat):6.1f} / {median_ms(fn, repeat, time.process_time):5.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--mlflow-runs", type=int, default=None)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument(
        "--runs-page", action="store_true", help="only the server times of the runs page"
    )
    args = parser.parse_args()
    shape = scale_data.Shape(runs=args.runs)  # as bench_scale's: one cached store
    store = scale_data.fittrace_sqlite(shape)
    if args.runs_page:
        server_times(store.uri, store.experiment_id, args.runs, args.repeat)
        return
    with tempfile.TemporaryDirectory() as tmp:
        charts_uri = f"sqlite:///{tmp}/fittrace.db"
        started = time.perf_counter()
        run_ids = compared_runs(charts_uri, args.points)
        print(
            f"wrote {COMPARED} runs x {args.points} points in {time.perf_counter() - started:.0f} s"
        )
        compare_path = "/compare?" + urlencode([("runs", r) for r in run_ids])
        server_times(store.uri, store.experiment_id, args.runs, args.repeat)
        # the compare page is served from its own store: time it there
        from fittrace.tracking.client import Client
        from fittrace.ui.api import ServedArtifacts
        from fittrace.ui.app import respond

        client = Client(charts_uri)
        served = ServedArtifacts(client._store)

        def compare_page() -> None:
            with contextlib.ExitStack() as resources:
                assert respond(client, compare_path, resources, served).status == 200

        compare_ms = median_ms(compare_page, args.repeat)
        print(f"  compare page, {COMPARED} runs x {args.points} points {compare_ms:11.1f} ms")

        newest = f"run-{args.runs - 1}"
        driver = browser()
        try:
            port = _free_port()
            command = [sys.executable, "-m", "fittrace.cli", "ui", "--port", str(port)]
            with serving([*command, "--backend-store-uri", store.uri], port):
                url = f"http://127.0.0.1:{port}/experiments/{store.experiment_id}"
                ours, _ = visible_ms(driver, url, None, newest, args.repeat)
            print(f"\nfirst rows visible in Chromium, {args.runs} runs: fittrace ui {ours:.0f} ms")
            port = _free_port()
            with serving([*command[:-1], str(port), "--backend-store-uri", charts_uri], port):
                url = f"http://127.0.0.1:{port}{compare_path}"
                chart, drawing = visible_ms(
                    driver, url, "div.uchart[data-series] canvas", None, args.repeat
                )
                drawn = driver.find_element("css selector", "div.uchart[data-series]")
                shipped = drawn.get_attribute("data-points")
            print(
                f"compare chart drawn in Chromium, {COMPARED} runs x {args.points} points: "
                f"{chart:.0f} ms from navigation, {drawing:.0f} ms of it after the page arrived; "
                f"points per run that reach the browser: {shipped}"
            )
            if not args.skip_mlflow:
                mlflow_runs = args.mlflow_runs or args.runs
                theirs_store = scale_data.mlflow_sqlite(scale_data.Shape(runs=mlflow_runs))
                port = _free_port()
                command = [sys.executable, "-m", "mlflow", "ui", "--port", str(port)]
                with serving([*command, "--backend-store-uri", theirs_store.uri], port):
                    url = f"http://127.0.0.1:{port}/#/experiments/{theirs_store.experiment_id}/runs"
                    theirs, _ = visible_ms(driver, url, None, f"run-{mlflow_runs - 1}", args.repeat)
                print(
                    f"first rows visible in Chromium, {mlflow_runs} runs: mlflow ui {theirs:.0f} ms "
                    f"({theirs / ours:.1f} x fittrace ui's)"
                )
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
