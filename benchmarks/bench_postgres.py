"""fittrace's PostgreSQL store beside MLflow's, on one throwaway PostgreSQL server.

Run: python benchmarks/bench_postgres.py [--runs N] [--no-mlflow]
(needs ``fittrace[postgres]``, mlflow, and PostgreSQL's server programs; ``FITTRACE_TEST_POSTGRES_URI``
names an existing server instead of starting one)

Each library gets a new database of its own and runs in its own interpreter:

1. open a new store (creating its tables) and create an experiment;
2. ``log_metric`` synchronous (``FITTRACE_SYNC=1``; MLflow's default), per second;
3. ``log_metric`` buffered, end to end including the flush (MLflow: its asynchronous logging), per second;
4. ``search_runs`` over N runs, each with a param and a metric, with a two-clause filter (median).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _env import child_env

FILTER = "metrics.rmse < 0.5 and params.alpha = '0.1'"


def _fittrace(uri: str, artifacts: str, n_sync: int, n_buffered: int, runs: int) -> dict:
    os.environ["FITTRACE_ARTIFACT_ROOT"] = artifacts
    import fittrace
    from fittrace.entities import Metric, Param
    from fittrace.testing import reset_tracking

    start = time.perf_counter()
    fittrace.set_tracking_uri(uri)
    experiment = fittrace.create_experiment("bench")
    opened = time.perf_counter() - start

    def metrics(n: int, sync: bool) -> float:
        reset_tracking()  # the writer's mode is read when the store is opened
        os.environ["FITTRACE_SYNC"] = "1" if sync else "0"
        client = fittrace.MlflowClient(uri)
        run = client.create_run(experiment)
        start = time.perf_counter()
        for i in range(n):
            client.log_metric(run.info.run_id, "loss", i * 0.001, step=i)
        client.flush()
        elapsed = time.perf_counter() - start
        assert len(client.get_metric_history(run.info.run_id, "loss")) == n
        return n / elapsed

    sync, buffered = metrics(n_sync, True), metrics(n_buffered, False)
    search = _search(fittrace.MlflowClient(uri), experiment, runs, Metric, Param)
    return {"open": opened, "sync": sync, "buffered": buffered, "search": search}


def _mlflow(uri: str, artifacts: str, n_sync: int, n_buffered: int, runs: int) -> dict:
    import logging

    logging.disable(logging.WARNING)
    import mlflow
    from mlflow.entities import Metric, Param

    start = time.perf_counter()
    mlflow.set_tracking_uri(uri.replace("postgresql://", "postgresql+psycopg://"))
    experiment = mlflow.create_experiment("bench", artifact_location=artifacts)
    opened = time.perf_counter() - start
    client = mlflow.MlflowClient()

    def metrics(n: int, synchronous: bool) -> float:
        run = client.create_run(experiment)
        start = time.perf_counter()
        for i in range(n):
            client.log_metric(run.info.run_id, "loss", i * 0.001, step=i, synchronous=synchronous)
        mlflow.flush_async_logging()
        elapsed = time.perf_counter() - start
        assert len(client.get_metric_history(run.info.run_id, "loss")) == n
        return n / elapsed

    sync, buffered = metrics(n_sync, True), metrics(n_buffered, False)
    search = _search(client, experiment, runs, Metric, Param)
    return {"open": opened, "sync": sync, "buffered": buffered, "search": search}


def _search(client, experiment: str, runs: int, metric: type, param: type) -> dict:
    """Log ``runs`` runs (one param, one metric each) with either library's client; time searching them."""
    now = int(time.time() * 1000)
    for i in range(runs):
        run_id = client.create_run(experiment).info.run_id
        client.log_batch(
            run_id,
            metrics=[metric("rmse", (i % 100) / 100, now, 0)],
            params=[param("alpha", str((i % 10) / 10))],
        )
    times, found = [], 0
    for _ in range(7):
        start = time.perf_counter()
        found = len(client.search_runs([experiment], FILTER, max_results=50_000))
        times.append(time.perf_counter() - start)
    return {"ms": statistics.median(times) * 1000, "found": found}


WORKERS = {"fittrace": _fittrace, "mlflow": _mlflow}


def _run_worker(library: str, server: str, args: argparse.Namespace) -> dict:
    from fittrace.testing import new_postgres_database

    uri = new_postgres_database(server)
    with tempfile.TemporaryDirectory() as artifacts:
        command = [
            sys.executable,
            __file__,
            "--worker",
            library,
            "--uri",
            uri,
            "--artifacts",
            artifacts,
        ]
        command += [
            "--runs",
            str(args.runs),
            "--sync",
            str(args.sync),
            "--buffered",
            str(args.buffered),
        ]
        done = subprocess.run(command, capture_output=True, text=True, env=child_env())
    if done.returncode != 0:
        raise SystemExit(f"{library} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs to search over")
    parser.add_argument("--sync", type=int, default=1000, help="synchronous log_metric calls")
    parser.add_argument("--buffered", type=int, default=20_000, help="buffered log_metric calls")
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--artifacts", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = WORKERS[args.worker](args.uri, args.artifacts, args.sync, args.buffered, args.runs)
        print(json.dumps(result))
        return

    from fittrace.testing import postgres_server

    libraries = ["fittrace"] if args.no_mlflow else ["fittrace", "mlflow"]
    with postgres_server() as server:
        results = {library: _run_worker(library, server, args) for library in libraries}
    ours, theirs = results["fittrace"], results.get("mlflow")
    assert theirs is None or ours["search"]["found"] == theirs["search"]["found"]
    rows = [
        ("open a new store + create an experiment (ms)", "open", lambda r: r["open"] * 1000, "{:,.0f}"),
        (f"log_metric synchronous (/s, n={args.sync:,})", "sync", lambda r: r["sync"], "{:,.0f}"),
        (f"log_metric buffered/async incl. flush (/s, n={args.buffered:,})", "buffered", lambda r: r["buffered"], "{:,.0f}"),
        (f"search_runs, {args.runs:,} runs, two-clause filter (ms)", "search", lambda r: r["search"]["ms"], "{:,.1f}"),
    ]  # fmt: skip
    print(f"{'measurement':<62}  {'fittrace':>10}  {'mlflow':>10}  ratio")
    for name, _, value, fmt in rows:
        mine = value(ours)
        other = value(theirs) if theirs else None
        faster = "" if other is None else f"{max(mine, other) / min(mine, other):.1f}x"
        better = other is None or (mine > other if name.startswith("log_metric") else mine < other)
        verdict = "" if other is None else ("fittrace faster" if better else "mlflow faster")
        shown = fmt.format(other) if other is not None else "-"
        print(f"{name:<62}  {fmt.format(mine):>10}  {shown:>10}  {faster} {verdict}")
    print(f"(search found {ours['search']['found']} runs)")


if __name__ == "__main__":
    main()
