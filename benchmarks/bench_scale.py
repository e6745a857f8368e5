"""Store scale: 100,000 runs x 20 params x 10 metrics in one experiment, fittrace beside MLflow.

    python benchmarks/bench_scale.py [--runs 100000] [--history 1000000] [--repeat 5]
        [--postgres] [--skip-mlflow]

The stores come from ``scale_data.py`` (cached in the temp dir; ``--postgres`` fills a throwaway
PostgreSQL server too). Rows: ``search_runs`` with a two-clause filter ordered by a metric (a
page of 100 and MLflow's default 1,000), a deep page through ``page_token`` (near the end of
the experiment, newest first and ordered by a metric, then the same filtered), the whole
history of a metric of ``--history`` points (fittrace also as columns, without a ``Metric`` per
point), and bytes on disk per metric point (fittrace's metric blocks, MLflow's metrics table,
with their indexes). Times are the median of ``--repeat`` calls (one call for the history
through MLflow), in milliseconds.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
from collections.abc import Callable

import scale_data

from fittrace.testing import STORED_POINTS

FILTER = "metrics.m1 < 0.5 AND params.p2 = '1'"  # an eighth of the runs
ORDER = ["metrics.m0 DESC"]


def median_ms(
    fn: Callable[[], object], repeat: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Median ms of ``repeat`` calls after a first one, by ``clock`` (wall time unless
    ``time.process_time``: this process's CPU time, steadier on a shared machine)."""
    fn()  # warm caches and connections
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append((clock() - start) * 1000)
    return statistics.median(times)


def cases(client, experiment_id: str, depth: int, token_at: Callable) -> dict[str, Callable]:
    """The timed calls, through ``client`` (fittrace's or MLflow's: the same signatures);
    ``token_at(order_by, filter, offset)`` gives the page token of a deep page."""

    def search(filter_string: str, order_by, max_results: int, token=None) -> Callable:
        return lambda: client.search_runs(
            [experiment_id],
            filter_string,
            max_results=max_results,
            order_by=order_by,
            page_token=token,
        )

    matches = depth // 10  # an eighth of the runs match the filter: a page near their end
    return {
        "two-clause filter, order by metric, 100 runs": search(FILTER, ORDER, 100),
        "two-clause filter, order by metric, 1000 runs": search(FILTER, ORDER, 1000),
        f"deep page (run {depth}), newest first": search("", None, 100, token_at(None, "", depth)),
        f"deep page (run {depth}), order by metric": search(
            "", ORDER, 100, token_at(ORDER, "", depth)
        ),
        f"deep page (match {matches}), filtered, by metric": search(
            FILTER, ORDER, 100, token_at(ORDER, FILTER, matches)
        ),
        "metric history": lambda: client.get_metric_history(
            scale_data.HISTORY_RUN, scale_data.HISTORY_KEY
        ),
    }


def fittrace_cases(uri: str, experiment_id: str, depth: int) -> dict[str, Callable]:
    from fittrace.store import search
    from fittrace.tracking.client import Client, page_token_at

    client = Client(uri)

    def token_at(order_by, filter_string: str, offset: int) -> str:
        """A page token as the page before it hands out (the run before ``offset`` in it)."""
        before = client.search_runs(
            [experiment_id],
            filter_string,
            max_results=1,
            order_by=order_by,
            page_token=page_token_at(offset - 1),
        )[0]
        return page_token_at(offset, search.page_key(before, order_by), order_by)

    return {
        **cases(client, experiment_id, depth, token_at),
        "metric history, columns": lambda: client.get_metric_history_columns(
            scale_data.HISTORY_RUN, scale_data.HISTORY_KEY
        ),
    }


def mlflow_cases(uri: str, experiment_id: str, depth: int) -> dict[str, Callable]:
    from mlflow.tracking import MlflowClient
    from mlflow.utils.search_utils import SearchUtils

    def token_at(order_by, filter_string: str, offset: int) -> str:
        return SearchUtils.create_page_token(offset)

    return cases(MlflowClient(uri), experiment_id, depth, token_at)


def measure(calls: dict[str, Callable], repeat: int, history_repeat: int) -> dict[str, float]:
    return {
        label: median_ms(fn, history_repeat if label == "metric history" else repeat)
        for label, fn in calls.items()
    }


def postgres_bytes_per_point(uri: str) -> float:
    import psycopg

    with psycopg.connect(uri) as conn:
        size = conn.execute("SELECT pg_total_relation_size('metric_blocks')").fetchone()[0]
        return size / conn.execute(STORED_POINTS).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    shape = scale_data.Shape(runs=args.runs, history=args.history)
    depth = args.runs - 100
    columns: dict[str, dict[str, float]] = {}
    sizes: dict[str, float] = {}
    store = scale_data.fittrace_sqlite(shape)
    columns["fittrace sqlite"] = measure(
        fittrace_cases(store.uri, store.experiment_id, depth), args.repeat, args.repeat
    )
    sizes["fittrace sqlite"] = scale_data.sqlite_bytes_per_point(
        store.path, "metric_blocks", STORED_POINTS
    )
    if args.postgres:
        from fittrace.testing import postgres_server

        with postgres_server() as uri:
            started = time.perf_counter()
            store = scale_data.fill_postgres(uri, shape)
            print(f"filled PostgreSQL in {time.perf_counter() - started:.0f} s")
            columns["fittrace postgresql"] = measure(
                fittrace_cases(uri, store.experiment_id, depth), args.repeat, args.repeat
            )
            sizes["fittrace postgresql"] = postgres_bytes_per_point(uri)
    if not args.skip_mlflow:
        store = scale_data.mlflow_sqlite(shape)
        columns["mlflow sqlite"] = measure(
            mlflow_cases(store.uri, store.experiment_id, depth), args.repeat, 1
        )
        sizes["mlflow sqlite"] = scale_data.sqlite_bytes_per_point(
            store.path, "metrics", "SELECT COUNT(*) FROM metrics"
        )

    print(f"\n{shape.runs} runs x {shape.params} params x {shape.metrics} metrics, one experiment;")
    print(f"history of {shape.history} points; median of {args.repeat} (ms)")
    names = list(columns)
    header = f"{'case':52}" + "".join(f"{name:>22}" for name in names)
    print(header)
    print("-" * len(header))
    for label in columns[names[0]]:
        times = (columns[n].get(label) for n in names)  # MLflow has no columns read
        print(f"{label:52}" + "".join(f"{'-' if t is None else f'{t:.1f}':>22}" for t in times))
    print(f"{'bytes on disk per metric point':52}" + "".join(f"{sizes[n]:>22.0f}" for n in names))


if __name__ == "__main__":
    main()
