"""Tracking through a tracking server (``http://``) beside tracking straight into SQLite,
and beside MLflow's tracking server with MLflow's client and with fittrace's (when mlflow is
installed).

Each server (``fittrace server`` / ``mlflow server`` over a SQLite file of its own, artifacts
proxied to a local folder) runs in its own process; each measurement runs in a fresh
interpreter. Usage::

    python benchmarks/bench_rest.py             # 20,000 metrics, 5 autologged fits per side
    python benchmarks/bench_rest.py --metrics 100000 --fits 10 --no-mlflow

Reported: buffered ``log_metric`` throughput including the final flush (MLflow: its
asynchronous logging and ``flush_async_logging``), and the wall time of one
``LogisticRegression().fit`` under ``<library>.sklearn.autolog()`` (run, params, metrics,
artifacts and model logged), median of the fits after a first, warm-up one. With mlflow
installed, also MLflow's own client logging ``--batch-metrics`` metrics (``log_batch`` of 1,000)
into ``fittrace server`` and into ``mlflow server``, both over SQLite (MLflow's REST API).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator

from _env import child_env

HERE = os.path.abspath(__file__)


def worker_metrics(n: int) -> dict:
    import fittrace

    fittrace.start_run()
    fittrace.log_metric("warmup", 0.0)  # opens the store and starts the writer outside the timing
    fittrace.flush()
    log_metric = fittrace.log_metric
    start = time.perf_counter()
    for i in range(n):
        log_metric("loss", 1.0 / (i + 1), step=i)
    accepted = time.perf_counter() - start
    fittrace.flush()
    total = time.perf_counter() - start
    run_id = fittrace.active_run().info.run_id
    fittrace.end_run()
    assert len(fittrace.MlflowClient().get_metric_history(run_id, "loss")) == n
    return {"accepted_per_s": n / accepted, "persisted_per_s": n / total, "total_s": total}


def worker_mlflow_metrics(n: int) -> dict:
    import logging

    logging.disable(logging.WARNING)
    import mlflow

    mlflow.start_run()
    mlflow.log_metric("warmup", 0.0)
    start = time.perf_counter()
    for i in range(n):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=False)
    accepted = time.perf_counter() - start
    mlflow.flush_async_logging()
    total = time.perf_counter() - start
    run_id = mlflow.active_run().info.run_id
    mlflow.end_run()
    assert len(mlflow.MlflowClient().get_metric_history(run_id, "loss")) == n
    return {"accepted_per_s": n / accepted, "persisted_per_s": n / total, "total_s": total}


def worker_fits(n: int, library: str = "fittrace") -> dict:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    if library == "mlflow":
        import logging

        logging.disable(logging.WARNING)
        import mlflow as tracker
    else:
        import fittrace as tracker
    import importlib

    importlib.import_module(f"{tracker.__name__}.sklearn").autolog()
    X, y = make_classification(n_samples=1000, n_features=20, random_state=0)
    times = []
    for _ in range(n + 1):
        start = time.perf_counter()
        LogisticRegression(max_iter=300).fit(X, y)
        times.append(time.perf_counter() - start)
    tracker.sklearn.autolog(disable=True)
    plain = []
    for _ in range(n):
        start = time.perf_counter()
        LogisticRegression(max_iter=300).fit(X, y)
        plain.append(time.perf_counter() - start)
    return {"fit_s": statistics.median(times[1:]), "plain_fit_s": statistics.median(plain)}


def worker_mlflow_batches(n: int) -> dict:
    """MLflow's client, ``log_batch`` of 1,000 metrics at a time, into MLFLOW_TRACKING_URI."""
    import logging

    logging.disable(logging.WARNING)
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient()
    run_id = client.create_run("0").info.run_id
    start = time.perf_counter()
    for first in range(0, n, 1000):
        metrics = [Metric("loss", 1.0 / (i + 1), 0, i) for i in range(first, min(n, first + 1000))]
        client.log_batch(run_id, metrics=metrics)
    total = time.perf_counter() - start
    client.set_terminated(run_id)
    assert len(client.get_metric_history(run_id, "loss")) == n
    return {"persisted_per_s": n / total, "total_s": total}


WORKERS = {
    "metrics": worker_metrics,
    "fits": worker_fits,
    "mlflow-metrics": worker_mlflow_metrics,
    "mlflow-fits": lambda n: worker_fits(n, "mlflow"),
    "mlflow-batches": worker_mlflow_batches,
}


def _child(kind: str, n: int, uri: str) -> dict:
    env = {**child_env(), "FITTRACE_TRACKING_URI": uri, "MLFLOW_TRACKING_URI": uri}
    done = subprocess.run(
        [sys.executable, HERE, "--worker", kind, str(n)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def _mlflow_server(tmp: str) -> Iterator[str]:
    """``mlflow server`` over a SQLite file, proxying artifacts to a folder; its URL once healthy."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "mlflow", "server", "--port", str(port)]
    command += ["--backend-store-uri", f"sqlite:///{tmp}/mlflow.db"]
    command += ["--artifacts-destination", f"{tmp}/mlartifacts", "--workers", "1"]
    server = subprocess.Popen(
        command, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("mlflow server did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--metrics", type=int, default=20_000)
    parser.add_argument("--fits", type=int, default=5)
    parser.add_argument("--batch-metrics", type=int, default=100_000)
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow's server")
    parser.add_argument("--worker", nargs=2)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker[0]](int(args.worker[1]))))
        return

    with_mlflow = not args.no_mlflow and importlib.util.find_spec("mlflow") is not None
    batches = {}
    with tempfile.TemporaryDirectory() as tmp:
        local_uri = f"sqlite:///{tmp}/local/fittrace.db"
        served = f"sqlite:///{tmp}/served/fittrace.db"
        env = {**child_env(), "FITTRACE_TRACKING_URI": served}
        subprocess.run(
            [sys.executable, "-c", "import fittrace; fittrace.search_runs(output_format='list')"],
            env=env,
            check=True,
        )  # creates the served store
        server = subprocess.Popen(
            [sys.executable, "-m", "fittrace.cli", "server", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            url = server.stdout.readline().split()[3]
            rows = []
            for name, uri in (("sqlite (direct)", local_uri), ("http (server)", url)):
                metrics = _child("metrics", args.metrics, uri)
                fits = _child("fits", args.fits, uri)
                rows.append((name, metrics, fits))
            if with_mlflow:
                batches["fittrace server"] = _child("mlflow-batches", args.batch_metrics, url)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
        if with_mlflow:
            with _mlflow_server(tmp) as ml_url:
                metrics = _child("mlflow-metrics", args.metrics, ml_url)
                fits = _child("mlflow-fits", args.fits, ml_url)
                rows.append(("mlflow http", metrics, fits))
                metrics = _child("metrics", args.metrics, ml_url)
                fits = _child("fits", args.fits, ml_url)
                rows.append(("fittrace→mlflow", metrics, fits))
                batches["mlflow server"] = _child("mlflow-batches", args.batch_metrics, ml_url)
    print(f"{args.metrics:,} buffered log_metric calls + flush; autologged LogisticRegression fit")
    print(f"{'store':18} {'accepted/s':>12} {'persisted/s':>12} {'total s':>8} {'fit ms':>8}")
    for name, metrics, fits in rows:
        print(
            f"{name:18} {metrics['accepted_per_s']:>12,.0f} {metrics['persisted_per_s']:>12,.0f}"
            f" {metrics['total_s']:>8.3f} {fits['fit_s'] * 1000:>8.1f}"
        )
    print(f"plain fit (no autolog): {rows[0][2]['plain_fit_s'] * 1000:.1f} ms")
    if len(rows) == 4:
        _, (_, ours, our_fit), (_, theirs, their_fit), (_, into, into_fit) = rows
        for what, mine, fit in (
            ("fittrace server", ours, our_fit),
            ("mlflow server", into, into_fit),
        ):
            print(
                f"fittrace into {what} vs MLflow into mlflow server: "
                f"{mine['persisted_per_s'] / theirs['persisted_per_s']:.0f}x the metric throughput,"
                f" 1/{their_fit['fit_s'] / fit['fit_s']:.0f} of the fit time"
            )
    if batches:
        print(f"MLflow's client, {args.batch_metrics:,} metrics in log_batch calls of 1,000:")
        for name, result in batches.items():
            print(
                f"  into {name:16} {result['persisted_per_s']:>10,.0f}/s {result['total_s']:>7.2f} s"
            )
        ours, theirs = batches["fittrace server"], batches["mlflow server"]
        print(f"  fittrace server: {ours['persisted_per_s'] / theirs['persisted_per_s']:.1f}x")


if __name__ == "__main__":
    main()
