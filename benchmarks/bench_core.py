"""Core benchmarks: import cost and log_metric throughput, fittrace beside MLflow.

Every measurement runs in a fresh interpreter with its own temporary directory, so the two
libraries never share a process, a cache or a database. MLflow columns appear when
``import mlflow`` works in this interpreter. Usage::

    python benchmarks/bench_core.py            # everything
    python benchmarks/bench_core.py --quick    # fewer repeats and smaller sizes
    python benchmarks/bench_core.py --only metrics --no-mlflow
    python benchmarks/bench_core.py --profile buffered   # cProfile of one fittrace case

Targets (issue #2): import <= 30 ms over a bare interpreter; buffered log_metric >= 200,000/s
accepted and all persisted at flush; FITTRACE_SYNC=1 >= 5,000/s. search_runs has its own
script, benchmarks/bench_search.py.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

from _env import child_env

HERE = os.path.abspath(__file__)
TARGET_IMPORT_MS = 30.0
TARGET_BUFFERED_PER_S = 200_000
TARGET_SYNC_PER_S = 5_000


# -- workers: each runs in its own interpreter and prints one JSON line -------------------


def _count(db: str, query: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(query).fetchone()[0]
    finally:
        conn.close()


def worker_fittrace_metrics(n: int, tmp: str) -> dict:
    """log_metric n times into one run; the mode (buffered/sync) comes from FITTRACE_SYNC."""
    db = os.path.join(tmp, "fittrace.db")
    os.environ["FITTRACE_TRACKING_URI"] = f"sqlite:///{db}"
    import fittrace

    fittrace.start_run()
    fittrace.log_metric("warmup", 0.0)  # opens the store and starts the writer outside the timing
    fittrace.flush()
    log_metric = fittrace.log_metric
    start = time.perf_counter()
    for i in range(n):
        log_metric("loss", i * 0.001, step=i)
    accepted = time.perf_counter() - start
    start = time.perf_counter()
    fittrace.flush()
    flushed = time.perf_counter() - start
    fittrace.end_run()
    from fittrace.testing import STORED_POINTS

    rows = _count(db, STORED_POINTS) - 1
    assert rows == n, f"only {rows} of {n} metrics persisted"
    return {"n": n, "accept_s": accepted, "flush_s": flushed, "rows": rows}


def worker_mlflow_metrics(n: int, tmp: str, synchronous: bool) -> dict:
    """MLflow's log_metric n times with a sqlite backend (synchronous=False is its async logging)."""
    import logging

    logging.disable(logging.WARNING)
    db = os.path.join(tmp, "mlflow.db")
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    exp = mlflow.create_experiment("bench", artifact_location=os.path.join(tmp, "mlartifacts"))
    mlflow.start_run(experiment_id=exp)
    mlflow.log_metric("warmup", 0.0)
    start = time.perf_counter()
    for i in range(n):
        mlflow.log_metric("loss", i * 0.001, step=i, synchronous=synchronous)
    accepted = time.perf_counter() - start
    start = time.perf_counter()
    mlflow.flush_async_logging() if not synchronous else None
    flushed = time.perf_counter() - start
    mlflow.end_run()
    rows = _count(db, "SELECT COUNT(*) FROM metrics") - 1
    assert rows == n, f"only {rows} of {n} metrics persisted"
    return {"n": n, "accept_s": accepted, "flush_s": flushed, "rows": rows}


WORKERS = {
    "fittrace-buffered": lambda a: worker_fittrace_metrics(a.n, a.tmp),
    "fittrace-sync": lambda a: worker_fittrace_metrics(a.n, a.tmp),
    "mlflow-sync": lambda a: worker_mlflow_metrics(a.n, a.tmp, synchronous=True),
    "mlflow-async": lambda a: worker_mlflow_metrics(a.n, a.tmp, synchronous=False),
}


def run_worker(case: str, n: int, profile: bool = False) -> dict:
    """Run one case in a fresh interpreter and temp dir; return its JSON result."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{case}-") as tmp:
        env = child_env(FITTRACE_SYNC="1") if case == "fittrace-sync" else child_env()
        cmd = [sys.executable]
        if profile:
            cmd += ["-m", "cProfile", "-s", "tottime"]
        cmd += [HERE, "--worker", case, "--n", str(n), "--tmp", tmp]
        result = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{case} failed:\n{result.stderr[-3000:]}")
        if profile:
            print(result.stdout[:6000])
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        return json.loads(lines[0])


# -- import cost ---------------------------------------------------------------------------


def import_time_ms(statement: str, repeats: int) -> float:
    """Median wall time of a fresh interpreter running ``statement``, in milliseconds."""
    env = child_env()
    subprocess.run([sys.executable, "-c", statement], check=True, env=env, capture_output=True)
    times = []
    for _ in range(repeats):  # after one launch that byte-compiles
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True, env=env, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


# -- report --------------------------------------------------------------------------------

ROWS: list[tuple[str, str, str, str, str]] = []


def row(name: str, fittrace: str, mlflow: str = "-", ratio: str = "-", target: str = "-") -> None:
    ROWS.append((name, fittrace, mlflow, ratio, target))
    print(
        f"  {name}: fittrace {fittrace} | mlflow {mlflow} | {ratio} | {target}",
        file=sys.stderr,
        flush=True,
    )


def verdict(ok: bool, text: str) -> str:
    return f"{text} {'OK' if ok else 'MISSED'}"


def bench_import(repeats: int, with_mlflow: bool) -> None:
    bare = import_time_ms("pass", repeats)
    fit = import_time_ms("import fittrace", repeats) - bare
    row("python -c pass (baseline, ms)", f"{bare:.1f}")
    ml = import_time_ms("import mlflow", repeats) - bare if with_mlflow else None
    row(
        "import cost over bare interpreter (ms)",
        f"{fit:.1f}",
        f"{ml:.0f}" if ml is not None else "-",
        f"{ml / max(fit, 0.1):.0f}x faster" if ml is not None else "-",
        verdict(fit <= TARGET_IMPORT_MS, f"<= {TARGET_IMPORT_MS:.0f}"),
    )


def _median_result(case: str, n: int, repeats: int) -> dict:
    results = [run_worker(case, n) for _ in range(repeats)]
    return sorted(results, key=lambda r: r["accept_s"])[len(results) // 2]


def bench_metrics(
    n_buffered: int, n_sync: int, n_mlflow: int, repeats: int, with_mlflow: bool
) -> None:
    buf = _median_result("fittrace-buffered", n_buffered, repeats)
    sync = _median_result("fittrace-sync", n_sync, repeats)
    buf_rate = buf["n"] / buf["accept_s"]
    sync_rate = sync["n"] / sync["accept_s"]
    ml_sync = run_worker("mlflow-sync", n_mlflow) if with_mlflow else None
    ml_async = run_worker("mlflow-async", n_mlflow) if with_mlflow else None
    ml_sync_rate = ml_sync["n"] / ml_sync["accept_s"] if ml_sync else None
    ml_async_rate = (
        ml_async["n"] / (ml_async["accept_s"] + ml_async["flush_s"]) if ml_async else None
    )

    def cmp(ours: float, theirs: float | None) -> str:
        return f"{ours / theirs:.0f}x" if theirs else "-"

    row(
        f"log_metric buffered, accepted/s (n={buf['n']:,})",
        f"{buf_rate:,.0f}",
        f"{ml_async['n'] / ml_async['accept_s']:,.0f} (async)" if ml_async else "-",
        cmp(buf_rate, ml_async["n"] / ml_async["accept_s"] if ml_async else None),
        verdict(buf_rate >= TARGET_BUFFERED_PER_S, f">= {TARGET_BUFFERED_PER_S:,}"),
    )
    row(
        "  then flush to SQLite (s), all rows counted",
        f"{buf['flush_s']:.3f} ({buf['rows']:,} rows)",
        f"{ml_async['flush_s']:.3f} ({ml_async['rows']:,} rows)" if ml_async else "-",
    )
    end_to_end = buf["n"] / (buf["accept_s"] + buf["flush_s"])
    row(
        "log_metric buffered, end to end incl. flush (/s)",
        f"{end_to_end:,.0f}",
        f"{ml_async_rate:,.0f} (async)" if ml_async_rate else "-",
        cmp(end_to_end, ml_async_rate),
    )
    row(
        f"log_metric FITTRACE_SYNC=1 (/s, n={sync['n']:,})",
        f"{sync_rate:,.0f}",
        f"{ml_sync_rate:,.0f} (n={ml_sync['n']:,})" if ml_sync_rate else "-",
        cmp(sync_rate, ml_sync_rate),
        verdict(sync_rate >= TARGET_SYNC_PER_S, f">= {TARGET_SYNC_PER_S:,}"),
    )


def print_table() -> None:
    headers = ("benchmark", "fittrace", "mlflow", "ratio", "target")
    widths = [max(len(r[i]) for r in [headers, *ROWS]) for i in range(5)]
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for r in ROWS:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller sizes")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the MLflow columns")
    parser.add_argument("--only", default="import,metrics", help="comma list of: import, metrics")
    parser.add_argument(
        "--profile", choices=sorted(WORKERS), help="print a cProfile of one case and exit"
    )
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return
    sizes = {"fittrace-buffered": 200_000, "fittrace-sync": 5_000}
    if args.profile:
        run_worker(args.profile, sizes.get(args.profile, 500), profile=True)
        return

    with_mlflow = not args.no_mlflow and importlib.util.find_spec("mlflow") is not None
    only = set(args.only.split(","))
    quick = args.quick
    print(
        f"python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} cpus", file=sys.stderr
    )
    if with_mlflow:
        print(f"mlflow {importlib.metadata.version('mlflow')}", file=sys.stderr)
    if "import" in only:
        bench_import(5 if quick else 15, with_mlflow)
    if "metrics" in only:
        bench_metrics(
            n_buffered=50_000 if quick else 200_000,
            n_sync=2_000 if quick else 5_000,
            n_mlflow=200 if quick else 1_000,
            repeats=1 if quick else 3,
            with_mlflow=with_mlflow,
        )
    print_table()


if __name__ == "__main__":
    main()
