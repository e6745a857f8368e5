"""Many writers through one tracking server: client processes logging buffered metrics as fast
as they can into one ``fittrace server`` (SQLite, or PostgreSQL with ``--postgres``), and the same
against ``mlflow server`` with MLflow's client and ``log_batch``. Usage::

    python benchmarks/bench_writers.py                       # 8 clients x 30 s, then MLflow 10 s
    python benchmarks/bench_writers.py --duration 10 --no-mlflow
    python benchmarks/bench_writers.py --postgres            # a throwaway PostgreSQL behind the server

Each client process starts a run, logs ``log_metric`` in a loop for ``--duration`` seconds, then
``end_run`` (which waits until everything is stored). Reported: the aggregate stored rate (rows
counted in the server's database, over the time from the common start until the last client's
``end_run`` returned), the client-side latency of each ``write_batch`` request (p50/p99), the drain
time at ``end_run``, the peak RSS of each client, and whether every logged row was stored.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from _env import child_env
from bench_rest import _mlflow_server

HERE = os.path.abspath(__file__)
TARGET_PER_S = 100_000


# -- clients: each runs in its own interpreter and prints one JSON line -------------------------


def _wait_for(start_at: float) -> None:
    time.sleep(max(0.0, start_at - time.time()))


def client_fittrace(start_at: float, duration: float) -> dict:
    import fittrace
    from fittrace.tracking import fluent

    fittrace.start_run()
    fittrace.log_metric("warmup", 0.0)  # opens the store and starts the writer before the start
    fittrace.flush()
    store = fluent._active_run_id()[0]._recorder.store
    latencies: list[float] = []
    write_batch = store.write_batch

    def timed(*args: object, **kwargs: object) -> None:
        begin = time.perf_counter()
        write_batch(*args, **kwargs)
        latencies.append(time.perf_counter() - begin)

    store.write_batch = timed
    log_metric = fittrace.log_metric
    _wait_for(start_at)
    end = time.perf_counter() + duration
    n = 0
    while time.perf_counter() < end:
        for _ in range(1000):
            log_metric("loss", n * 1e-6, step=n)
            n += 1
    ending = time.perf_counter()
    fittrace.end_run()
    done = time.time()
    return {
        "logged": n,
        "drain_s": time.perf_counter() - ending,
        "done_at": done,
        "latencies": latencies,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def client_mlflow(start_at: float, duration: float) -> dict:
    import logging

    logging.disable(logging.WARNING)
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    run_id = client.create_run("0").info.run_id
    latencies: list[float] = []
    _wait_for(start_at)
    end = time.perf_counter() + duration
    n = 0
    while time.perf_counter() < end:
        now = int(time.time() * 1000)
        batch = [Metric("loss", (n + i) * 1e-6, now, n + i) for i in range(1000)]
        begin = time.perf_counter()
        client.log_batch(run_id, metrics=batch)
        latencies.append(time.perf_counter() - begin)
        n += len(batch)
    client.set_terminated(run_id)
    return {
        "logged": n,
        "drain_s": 0.0,
        "done_at": time.time(),
        "latencies": latencies,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


CLIENTS = {"fittrace": client_fittrace, "mlflow": client_mlflow}


# -- the harness ----------------------------------------------------------------------------------


def _clients(kind: str, uri: str, clients: int, duration: float) -> tuple[list[dict], float]:
    """Start ``clients`` processes together; their results and the common start time."""
    env = {**child_env(), "FITTRACE_TRACKING_URI": uri, "MLFLOW_TRACKING_URI": uri}
    start_at = time.time() + 8.0 + clients  # imports and store opening happen before it
    procs = [
        subprocess.Popen(
            [sys.executable, HERE, "--client", kind, str(start_at), str(duration)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(clients)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=duration + 600)
        if proc.returncode != 0:
            raise RuntimeError(f"a {kind} client failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results, start_at


@contextlib.contextmanager
def _fittrace_server(backend: str, tmp: str) -> Iterator[str]:
    env = child_env()
    command = [sys.executable, "-m", "fittrace.cli", "server", "--port", "0"]
    command += ["--backend-store-uri", backend, "--artifacts-destination", f"{tmp}/artifacts"]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        yield server.stdout.readline().split()[3]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def _stored(uri: str, query: str | None = None) -> int:
    """Points of ``loss`` in the server's database (SQLite file or PostgreSQL); ``query``: MLflow's."""
    if query is None:
        from fittrace.testing import STORED_POINTS

        query = STORED_POINTS + " WHERE key = 'loss'"
    if uri.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(uri.removeprefix("sqlite:///"))
        try:
            return conn.execute(query).fetchone()[0]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(uri) as conn:
        return conn.execute(query).fetchone()[0]


def _report(name: str, results: list[dict], start_at: float, stored: int) -> dict:
    logged = sum(r["logged"] for r in results)
    elapsed = max(r["done_at"] for r in results) - start_at
    latencies = sorted(x for r in results for x in r["latencies"])
    p = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    row = {
        "server": name,
        "clients": len(results),
        "logged": logged,
        "stored": stored,
        "stored_per_s": stored / elapsed,
        "elapsed_s": elapsed,
        "batches": len(latencies),
        "p50_ms": p[49] * 1000,
        "p99_ms": p[98] * 1000,
        "drain_max_s": max(r["drain_s"] for r in results),
        "peak_rss_mb_max": max(r["peak_rss_mb"] for r in results),
    }
    print(
        f"{name}: {row['stored_per_s']:,.0f} stored/s ({stored:,} of {logged:,} logged"
        f"{', ALL STORED' if stored == logged else ', LOST ' + format(logged - stored, ',')}), "
        f"{len(latencies):,} batches p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms, "
        f"drain at end_run <= {row['drain_max_s']:.2f} s, peak RSS per client "
        f"<= {row['peak_rss_mb_max']:.0f} MB",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of logging")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL behind the server")
    parser.add_argument("--no-mlflow", action="store_true", help="skip mlflow server")
    parser.add_argument(
        "--mlflow-duration", type=float, default=10.0, help="seconds of logging against MLflow"
    )
    parser.add_argument("--client", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        kind, start_at, duration = args.client
        print(json.dumps(CLIENTS[kind](float(start_at), float(duration))))
        return

    print(f"{args.clients} clients, {os.cpu_count()} cpus", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if args.postgres:
            from fittrace.testing import postgres_server

            backend = stack.enter_context(postgres_server())
        else:
            backend = f"sqlite:///{tmp}/fittrace.db"
        with _fittrace_server(backend, tmp) as url:
            results, start_at = _clients("fittrace", url, args.clients, args.duration)
        name = f"fittrace server ({'PostgreSQL' if args.postgres else 'SQLite'})"
        rows.append(_report(name, results, start_at, _stored(backend)))
        if not args.no_mlflow and importlib.util.find_spec("mlflow") is not None:
            with _mlflow_server(tmp) as url:
                results, start_at = _clients("mlflow", url, args.clients, args.mlflow_duration)
            rows.append(
                _report(
                    "mlflow server (SQLite)",
                    results,
                    start_at,
                    _stored(
                        f"sqlite:///{tmp}/mlflow.db",
                        "SELECT COUNT(*) FROM metrics WHERE key = 'loss'",
                    ),
                )
            )
    if len(rows) == 2:
        print(
            f"fittrace / MLflow stored rate: {rows[0]['stored_per_s'] / rows[1]['stored_per_s']:.0f}x"
        )
    ok = rows[0]["stored_per_s"] >= TARGET_PER_S and rows[0]["stored"] == rows[0]["logged"]
    print(f"target >= {TARGET_PER_S:,}/s stored, nothing lost: {'OK' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
