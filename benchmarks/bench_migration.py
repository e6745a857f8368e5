"""Migration throughput: ``fittrace import --from-mlflow`` and ``fittrace export --to-mlflow``.

An MLflow SQLite store is written with MLflow's own client (``--runs`` runs in one experiment,
each with 10 params, 2 tags and ``--points`` points of one metric, logged with ``log_batch``),
imported into a new fittrace store and exported again into a new MLflow store. Usage::

    python benchmarks/bench_migration.py                    # 200 runs x 1,000 points
    python benchmarks/bench_migration.py --runs 50 --points 10000

Reported: runs/s and metric points/s of each direction, and of a second import (nothing new:
the resumable check alone). Needs ``pip install 'fittrace[mlflow]'``.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time

from _env import child_env


def _mlflow_store(uri: str, runs: int, points: int) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(uri)
    experiment_id = client.create_experiment("bench")
    for r in range(runs):
        run_id = client.create_run(experiment_id, tags={"mlflow.runName": f"run-{r}"}).info.run_id
        client.log_batch(
            run_id,
            params=[Param(f"p{i}", str(i * r)) for i in range(10)],
            tags=[RunTag("team", "a"), RunTag("fold", str(r % 5))],
        )
        for start in range(0, points, 1000):
            client.log_batch(
                run_id,
                metrics=[
                    Metric("loss", 1.0 / (s + 1), 1_700_000_000_000 + s, s)
                    for s in range(start, min(start + 1000, points))
                ],
            )
        client.set_terminated(run_id)


def _timed(what: str, copy) -> None:
    start = time.perf_counter()
    counts = copy()
    seconds = time.perf_counter() - start
    print(
        f"{what:28} {seconds:8.2f} s {(counts.runs_copied + counts.runs_skipped) / seconds:9,.0f} runs/s "
        f"{counts.metric_points / seconds:11,.0f} points/s "
        f"(copied {counts.runs_copied}, skipped {counts.runs_skipped})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--points", type=int, default=1000)
    args = parser.parse_args()
    os.environ.clear()
    os.environ.update(child_env())
    logging.disable(logging.WARNING)
    from fittrace import migration

    with tempfile.TemporaryDirectory() as tmp:
        source = f"sqlite:///{tmp}/mlflow.db"
        start = time.perf_counter()
        _mlflow_store(source, args.runs, args.points)
        print(
            f"MLflow store: {args.runs} runs x {args.points:,} points "
            f"(written by MLflow's client in {time.perf_counter() - start:.1f} s)"
        )
        ours = f"sqlite:///{tmp}/fittrace/fittrace.db"
        target = f"sqlite:///{tmp}/exported.db"
        _timed(
            "import --from-mlflow",
            lambda: migration.import_from_mlflow(source, tracking_uri=ours),
        )
        _timed(
            "import again (nothing new)",
            lambda: migration.import_from_mlflow(source, tracking_uri=ours),
        )
        _timed(
            "export --to-mlflow",
            lambda: migration.export_to_mlflow(target, tracking_uri=ours),
        )


if __name__ == "__main__":
    main()
