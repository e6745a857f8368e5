"""The web UI: `fittrace ui` beside `mlflow ui` over the same runs, in headless Chromium.

    python benchmarks/bench_ui.py [--runs 500] [--big 100000] [--repeat 5] [--skip-mlflow]

1. First rows visible: both stores get the same ``--runs`` runs (5 params, 5 metrics each, through
   each library's public client); each UI is started as its own command, and Chromium (Selenium,
   Debian's chromium-driver) opens the experiment's runs page; the time is from navigation until a
   run name is on screen, median of ``--repeat`` loads.
2. Server time at scale (fittrace only): ``--big`` runs in one experiment; the runs page rendered
   in-process (the handler's work without the socket) for the first page, a deep page, filtered
   and sorted, median of ``--repeat``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

ROW_NAME = "run-{}"


def _data(n: int, seed: int = 0) -> list[tuple[str, dict[str, float], dict[str, str]]]:
    rng = random.Random(seed)
    return [
        (
            ROW_NAME.format(i),
            {f"m{k}": rng.random() for k in range(5)},
            {f"p{k}": str((i + k) % 7) for k in range(5)},
        )
        for i in range(n)
    ]


def fill(client, entities, data: list) -> str:
    """``data`` as runs of a new experiment, through ``client`` (fittrace's or MLflow's) and its
    ``entities`` module; the experiment's id."""
    experiment_id = client.create_experiment("bench")
    for i, (name, metrics, params) in enumerate(data):
        run = client.create_run(experiment_id, start_time=1_700_000_000_000 + i, run_name=name)
        client.log_batch(
            run.info.run_id,
            [entities.Metric(k, v, 0, 0) for k, v in metrics.items()],
            [entities.Param(k, v) for k, v in params.items()],
        )
        client.set_terminated(run.info.run_id)
    return experiment_id


def fill_fittrace(uri: str, data: list) -> str:
    from fittrace import entities
    from fittrace.tracking.client import Client

    client = Client(uri)
    experiment_id = fill(client, entities, data)
    client.flush()
    return experiment_id


def fill_mlflow(uri: str, data: list) -> str:
    from mlflow import entities
    from mlflow.tracking import MlflowClient

    return fill(MlflowClient(uri), entities, data)


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


def first_rows_ms(driver, url: str, name: str, repeat: int) -> float:
    """Median ms from navigation until ``name`` is visible (a fresh page load each time)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    xpath = f"//*[normalize-space(text())='{name}']"
    times = []
    for i in range(repeat + 1):
        driver.get("about:blank")
        start = time.perf_counter()
        driver.get(url)
        WebDriverWait(driver, 120, 0.01).until(
            lambda d: any(e.is_displayed() for e in d.find_elements(By.XPATH, xpath))
        )
        if i:  # the first load warms the server's caches
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def server_times(tmp: str, n: int, repeat: int) -> None:
    from fittrace.tracking.client import Client
    from fittrace.ui.app import respond

    uri = f"sqlite:///{tmp}/big/fittrace.db"
    started = time.perf_counter()
    experiment_id = fill_fittrace(uri, _data(n, seed=1))
    print(f"filled {n} runs in {time.perf_counter() - started:.0f} s")
    client = Client(uri)
    deep = (n - 100) // 100 * 100
    cases = {
        "first page": {},
        "deep page": {"offset": deep},
        "filtered": {"filter": "metrics.m1 < 0.5 AND params.p2 = '3'"},
        "filtered, deep": {"filter": "metrics.m1 < 0.5 AND params.p2 = '3'", "offset": 2000},
        "sorted by a metric": {"order_by": "metrics.m0 DESC"},
        "sorted by a metric, deep": {"order_by": "metrics.m0 DESC", "offset": deep},
    }
    print(f"\nruns page server time, {n} runs (median of {repeat}):")
    for label, query in cases.items():
        path = f"/experiments/{experiment_id}?{urlencode(query)}"

        def page(path: str = path) -> None:
            with contextlib.ExitStack() as resources:
                assert respond(client, path, resources).status == 200

        print(f"  {label:28s} {median_ms(page, repeat):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = _data(args.runs)
        newest = ROW_NAME.format(args.runs - 1)
        fittrace_uri = f"sqlite:///{tmp}/fittrace/fittrace.db"
        fittrace_exp = fill_fittrace(fittrace_uri, data)
        driver = browser()
        try:
            port = _free_port()
            command = [sys.executable, "-m", "fittrace.cli", "ui", "--port", str(port)]
            with serving([*command, "--backend-store-uri", fittrace_uri], port):
                url = f"http://127.0.0.1:{port}/experiments/{fittrace_exp}"
                ours = first_rows_ms(driver, url, newest, args.repeat)
            print(f"first rows visible, {args.runs} runs: fittrace ui {ours:.0f} ms")
            if not args.skip_mlflow:
                mlflow_uri = f"sqlite:///{tmp}/mlflow/mlflow.db"
                os.makedirs(f"{tmp}/mlflow")
                mlflow_exp = fill_mlflow(mlflow_uri, data)
                port = _free_port()
                command = [sys.executable, "-m", "mlflow", "ui", "--port", str(port)]
                with serving([*command, "--backend-store-uri", mlflow_uri], port):
                    url = f"http://127.0.0.1:{port}/#/experiments/{mlflow_exp}"
                    theirs = first_rows_ms(driver, url, newest, args.repeat)
                print(
                    f"first rows visible, {args.runs} runs: mlflow ui {theirs:.0f} ms "
                    f"({theirs / ours:.1f} x fittrace)"
                )
        finally:
            driver.quit()
        if args.big:
            server_times(tmp, args.big, args.repeat)


if __name__ == "__main__":
    main()
