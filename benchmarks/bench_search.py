"""search_runs over 10,000 runs x (5 params, 5 metrics): fittrace beside MLflow in the same process.

    python benchmarks/bench_search.py [--runs 10000] [--repeat 15] [--skip-mlflow]

Both stores are SQLite files in a temp dir, filled through each library's public client
(create_run + log_batch). Timings are the median of ``--repeat`` calls, in milliseconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable

TARGET_MS = 50.0
CASES = [  # (label, filter_string, order_by)
    ("two-clause filter", "metrics.m1 < 0.5 AND params.p2 = '3'", None),
    (
        "two-clause filter, order by metric",
        "metrics.m1 < 0.5 AND params.p2 = '3'",
        ["metrics.m0 DESC"],
    ),
    ("selective filter", "metrics.m1 < 0.01 AND params.p2 = '3'", None),
    ("no filter", "", None),
]


def rows(n_runs: int, seed: int = 0) -> list[tuple[str, dict[str, float], dict[str, str]]]:
    rng = random.Random(seed)
    return [
        (
            f"run-{i}",
            {f"m{k}": rng.random() for k in range(5)},
            {f"p{k}": str((i + k) % 5) for k in range(5)},
        )
        for i in range(n_runs)
    ]


def median_ms(fn: Callable[[], object], repeat: int) -> tuple[float, int]:
    fn()  # warm caches and connections
    times, count = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = len(fn())  # type: ignore[arg-type]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), count


def bench_fittrace(tmp: str, data: list, repeat: int) -> tuple[float, dict[str, tuple[float, int]]]:
    from fittrace.entities import Metric, Param
    from fittrace.tracking import Client

    client = Client(f"sqlite:///{tmp}/fittrace/fittrace.db")
    experiment_id = client.create_experiment("bench")
    start = time.perf_counter()
    for name, metrics, params in data:
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
        )
        client.set_terminated(run_id)
    client.flush()
    populate_s = time.perf_counter() - start
    return populate_s, time_cases(client, experiment_id, repeat)


def time_cases(client, experiment_id: str, repeat: int) -> dict[str, tuple[float, int]]:
    """Median time of every search case, with either library's client (same search_runs signature)."""
    return {
        label: median_ms(
            lambda f=flt, o=order: client.search_runs(
                [experiment_id], f, max_results=1000, order_by=o
            ),
            repeat,
        )
        for label, flt, order in CASES
    }


def bench_mlflow(tmp: str, data: list, repeat: int) -> tuple[float, dict[str, tuple[float, int]]]:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    os.makedirs(f"{tmp}/mlflow")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp}/mlflow/mlflow.db")
    experiment_id = client.create_experiment(
        "bench", artifact_location=f"file://{tmp}/mlflow/artifacts"
    )
    start = time.perf_counter()
    for name, metrics, params in data:
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
        )
        client.set_terminated(run_id)
    populate_s = time.perf_counter() - start
    return populate_s, time_cases(client, experiment_id, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()

    try:
        import mlflow  # noqa: F401
    except ImportError:
        mlflow_available = False
    else:
        mlflow_available = not args.skip_mlflow
        logging.getLogger("mlflow").setLevel(logging.ERROR)
        logging.getLogger("alembic").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore")

    data = rows(args.runs)
    with tempfile.TemporaryDirectory(prefix="fittrace-bench-") as tmp:
        ft_populate, ft = bench_fittrace(tmp, data, args.repeat)
        ml_populate, ml = bench_mlflow(tmp, data, args.repeat) if mlflow_available else (None, {})

    print(f"search_runs over {args.runs} runs x (5 params, 5 metrics), median of {args.repeat}")
    header = (
        f"{'case':38} {'hits':>5} {'fittrace ms':>12} {'mlflow ms':>10} {'mlflow/fittrace':>16}"
    )
    print(header)
    print("-" * len(header))
    for label, _, _ in CASES:
        ft_ms, hits = ft[label]
        if label in ml:
            ml_ms, ml_hits = ml[label]
            assert ml_hits == hits, f"{label}: fittrace found {hits} runs, MLflow {ml_hits}"
            print(f"{label:38} {hits:>5} {ft_ms:>12.1f} {ml_ms:>10.1f} {ml_ms / ft_ms:>15.1f}x")
        else:
            print(f"{label:38} {hits:>5} {ft_ms:>12.1f} {'-':>10} {'-':>16}")
    populate = f"populate: fittrace {ft_populate:.1f} s"
    if ml_populate is not None:
        populate += f", mlflow {ml_populate:.1f} s ({ml_populate / ft_populate:.1f}x)"
    print(populate)
    two_clause = ft[CASES[0][0]][0]
    verdict = "meets" if two_clause <= TARGET_MS else "MISSES"
    print(f"two-clause filter: {two_clause:.1f} ms {verdict} the {TARGET_MS:.0f} ms target")


if __name__ == "__main__":
    main()
