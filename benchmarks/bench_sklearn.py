"""scikit-learn autologging cost: bare vs ``fittrace.sklearn.autolog()`` vs ``mlflow.sklearn.autolog()``.

Scenarios (issue 5's targets):

- ``enable``: ``autolog()`` in a fresh interpreter right after ``import sklearn`` (the import of
  the autolog package included); target <= 20 ms. Also counts the scikit-learn modules it imports.
- ``fit``: LogisticRegression(max_iter=200) on make_classification(20,000 x 20): steady-state
  per-fit overhead, median(autologged fit) - median(bare fit), with the default settings
  (model, signature, training metrics, evaluation data; target <= 25 ms) and with
  ``log_models=False`` (target <= 10 ms). Bare and autologged fits alternate
  (``autolog(disable=True)`` between them) so machine load drifts hit both alike; the
  difference of the fastest runs and of the main thread's CPU time are shown too (both less
  sensitive to other jobs on a shared machine).
- ``search``: GridSearchCV over 20 values of C x 3 folds on the same data; target total
  <= 1.10 x the bare search.
- ``memory``: one fit on a 200 MB X (1,250,000 x 20 float64); peak resident memory of the
  process (``ru_maxrss``) and tracemalloc's peak, each against a bare process; target <= 1.05 x.

Every (mode, scenario) runs in its own subprocess, so two autologgers never patch one
process and every ratio compares numbers from the same process (memory: from a bare
process beside it). Each recorder writes to a SQLite file in its own temporary directory.
MLflow is measured only when it is importable.

    python benchmarks/bench_sklearn.py [--repeats 9] [--scenario enable fit search memory] [--no-mlflow]
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

SCENARIOS = ("enable", "fit", "search", "memory")
TARGETS = {"enable": 20.0, "fit": 25.0, "fit_no_models": 10.0, "search": 1.10, "memory": 1.05}


def _data(rows: int = 20_000, features: int = 20):
    from sklearn.datasets import make_classification

    return make_classification(n_samples=rows, n_features=features, random_state=0)


def _enable(mode: str, folder: str, **options) -> None:
    if mode == "fittrace":
        os.environ["FITTRACE_TRACKING_URI"] = f"sqlite:///{folder}/fittrace.db"
        import fittrace.sklearn

        fittrace.sklearn.autolog(**options)
    else:
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
        mlflow.sklearn.autolog(**options)


def _worker_enable(mode: str) -> dict:
    import sklearn  # noqa: F401

    before = {m for m in sys.modules if m.startswith("sklearn")}
    start = time.perf_counter()
    if mode == "fittrace":
        import fittrace.sklearn

        fittrace.sklearn.autolog()
    else:
        import mlflow.sklearn

        mlflow.sklearn.autolog()
    elapsed = time.perf_counter() - start
    return {
        "ms": elapsed * 1e3,
        "modules": len({m for m in sys.modules if m.startswith("sklearn")} - before),
    }


def _timed_fit(X, y) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    wall, cpu = time.perf_counter(), time.thread_time()
    LogisticRegression(max_iter=200).fit(X, y)
    return time.perf_counter() - wall, time.thread_time() - cpu


def _worker_fit(mode: str, folder: str, repeats: int, options: dict) -> dict:
    X, y = _data()
    _enable(mode, folder, **options)
    for _ in range(2):  # warm-up: first run, first model, first artifact directory
        _timed_fit(X, y)
    bare, logged = [], []
    for _ in range(repeats):
        _enable(mode, folder, disable=True)
        bare.append(_timed_fit(X, y))
        _enable(mode, folder, **options)
        logged.append(_timed_fit(X, y))
    return {"bare": bare, "logged": logged}


def _timed_search(X, y) -> tuple[float, float]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    wall, cpu = time.perf_counter(), time.thread_time()
    GridSearchCV(LogisticRegression(max_iter=200), {"C": np.logspace(-3, 3, 20)}, cv=3).fit(X, y)
    return time.perf_counter() - wall, time.thread_time() - cpu


def _worker_search(mode: str, folder: str, repeats: int) -> dict:
    X, y = _data()
    _enable(mode, folder)
    _timed_search(X, y)
    bare, logged = [], []
    for _ in range(max(1, repeats // 2)):
        _enable(mode, folder, disable=True)
        bare.append(_timed_search(X, y))
        _enable(mode, folder)
        logged.append(_timed_search(X, y))
    return {"bare": bare, "logged": logged}


def _worker_memory(mode: str, folder: str) -> dict:
    import resource
    import tracemalloc

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    if mode != "bare":
        _enable(mode, folder)
    tracemalloc.start()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1_250_000, 20))  # 200 MB of float64, made without temporaries
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    LogisticRegression(max_iter=30).fit(X, y)
    _, traced = tracemalloc.get_traced_memory()
    return {
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "traced_mb": traced / 2**20,
    }


def _run(mode: str, scenario: str, repeats: int, options: dict | None = None) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="bench-sklearn-") as folder:
        args = [
            sys.executable,
            __file__,
            "--worker",
            mode,
            "--scenario",
            scenario,
            "--repeats",
            str(repeats),
        ]
        args += ["--folder", folder, "--options", json.dumps(options or {})]
        proc = subprocess.run(args, capture_output=True, text=True, cwd=folder, env=child_env())
    if proc.returncode != 0:
        print(f"  {mode}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _verdict(value: float, target: float) -> str:
    return "OK" if value <= target else "MISSED"


def _report_enable(modes: list[str], repeats: int) -> None:
    print("\nenable: autolog() right after `import sklearn` (fresh interpreter, median)")
    results = {}
    for mode in modes:
        _run(mode, "enable", 1)  # warm-up: compiles the .pyc files
        runs = [_run(mode, "enable", 1) for _ in range(max(3, repeats // 2))]
        runs = [r for r in runs if r]
        if runs:
            results[mode] = statistics.median(r["ms"] for r in runs)
            note = f"(+{runs[0]['modules']} sklearn modules imported)"
            extra = (
                f"  target <= {TARGETS['enable']:.0f} ms {_verdict(results[mode], TARGETS['enable'])}"
                if mode == "fittrace"
                else ""
            )
            print(f"  {mode:9s} {results[mode]:9.1f} ms {note}{extra}")
    if len(results) == 2:
        print(f"  mlflow / fittrace: {results['mlflow'] / results['fittrace']:.0f}x")


def _report_fit(modes: list[str], repeats: int) -> None:
    print(
        "\nfit: LogisticRegression(max_iter=200) on 20,000 x 20, per-fit overhead (median of alternating fits)"
    )
    for label, options, target in (
        ("defaults", {}, TARGETS["fit"]),
        ("log_models=False", {"log_models": False}, TARGETS["fit_no_models"]),
    ):
        overheads = {}
        for mode in modes:
            result = _run(mode, "fit", repeats, options)
            if result is None:
                continue
            bare = statistics.median(w for w, _ in result["bare"])
            logged = statistics.median(w for w, _ in result["logged"])
            cpu = statistics.median(c for _, c in result["logged"]) - statistics.median(
                c for _, c in result["bare"]
            )
            fastest = min(w for w, _ in result["logged"]) - min(w for w, _ in result["bare"])
            overheads[mode] = (logged - bare) * 1e3
            extra = (
                f"  target <= {target:.0f} ms {_verdict(overheads[mode], target)}"
                if mode == "fittrace"
                else ""
            )
            print(
                f"  {label:17s} {mode:9s} bare {bare * 1e3:8.1f} ms  autolog {logged * 1e3:8.1f} ms  "
                f"overhead {overheads[mode]:8.1f} ms (fastest runs {fastest * 1e3:.1f} ms, "
                f"main-thread CPU {cpu * 1e3:.1f} ms){extra}"
            )
        if len(overheads) == 2 and overheads["fittrace"] > 0:
            print(
                f"  {label:17s} mlflow overhead / fittrace overhead: {overheads['mlflow'] / overheads['fittrace']:.0f}x"
            )


def _report_search(modes: list[str], repeats: int) -> None:
    print(
        "\nsearch: GridSearchCV(LogisticRegression, 20 values of C, cv=3) on 20,000 x 20 (median)"
    )
    ratios = {}
    for mode in modes:
        result = _run(mode, "search", repeats)
        if result is None:
            continue
        bare = statistics.median(w for w, _ in result["bare"])
        logged = statistics.median(w for w, _ in result["logged"])
        cpu = statistics.median(c for _, c in result["logged"]) / statistics.median(
            c for _, c in result["bare"]
        )
        ratios[mode] = logged / bare
        extra = (
            f"  target <= {TARGETS['search']:.2f}x {_verdict(ratios[mode], TARGETS['search'])}"
            if mode == "fittrace"
            else ""
        )
        print(
            f"  {mode:9s} bare {bare:7.2f} s  autolog {logged:7.2f} s  ratio {ratios[mode]:5.2f}x "
            f"(main-thread CPU ratio {cpu:5.2f}x){extra}"
        )


def _report_memory(modes: list[str]) -> None:
    print("\nmemory: one fit on a 200 MB X (1,250,000 x 20), peak memory against a bare process")
    bare = _run("bare", "memory", 1)
    if bare is None:
        return
    print(
        f"  {'bare':9s} peak RSS {bare['rss_mb']:7.0f} MB  tracemalloc peak {bare['traced_mb']:7.0f} MB"
    )
    for mode in modes:
        result = _run(mode, "memory", 1)
        if result is None:
            continue
        rss, traced = result["rss_mb"] / bare["rss_mb"], result["traced_mb"] / bare["traced_mb"]
        extra = (
            f"  target <= {TARGETS['memory']:.2f}x {_verdict(max(rss, traced), TARGETS['memory'])}"
            if mode == "fittrace"
            else ""
        )
        print(
            f"  {mode:9s} peak RSS {result['rss_mb']:7.0f} MB ({rss:4.2f}x)  "
            f"tracemalloc peak {result['traced_mb']:7.0f} MB ({traced:4.2f}x){extra}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--scenario", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        scenario, options = args.scenario[0], json.loads(args.options)
        if scenario == "enable":
            result = _worker_enable(args.worker)
        elif scenario == "fit":
            result = _worker_fit(args.worker, args.folder, args.repeats, options)
        elif scenario == "search":
            result = _worker_search(args.worker, args.folder, args.repeats)
        else:
            result = _worker_memory(args.worker, args.folder)
        print(json.dumps(result))
        return

    import importlib.util

    import sklearn

    modes = ["fittrace"] + (
        [] if args.no_mlflow or importlib.util.find_spec("mlflow") is None else ["mlflow"]
    )
    print(
        f"scikit-learn {sklearn.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs, modes: {', '.join(modes)}"
    )
    if "enable" in args.scenario:
        _report_enable(modes, args.repeats)
    if "fit" in args.scenario:
        _report_fit(modes, args.repeats)
    if "search" in args.scenario:
        _report_search(modes, args.repeats)
    if "memory" in args.scenario:
        _report_memory(modes)


if __name__ == "__main__":
    main()
