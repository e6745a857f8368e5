"""XGBoost autologging cost: bare ``xgboost.train`` vs ``fittrace.xgboost.autolog()`` vs ``mlflow.xgboost.autolog()``.

Scenarios (issue 6's targets):

- ``train100``: 100 rounds on 10,000 x 20 with one eval set; target: fittrace total <= 1.15 x bare.
- ``train1000``: 1,000 rounds with two eval sets; target: (fittrace - bare) / 1,000 <= 50 us per iteration.

Each mode runs in its own subprocess (two autologgers must never patch one process) and
alternates bare and autologged calls (``autolog(disable=True)`` switches its patches off in
between), so every ratio compares numbers from the same process and drift cancels. Both
recorders write to a SQLite file in a temporary directory; numbers are medians of
``--repeats`` pairs after one warm-up pair, the overhead the median of the pairwise CPU-time
differences. xgboost runs on one thread (params and DMatrices alike: mixing thread counts makes
OpenMP rebuild its thread team, which costs milliseconds), so the CPU-time ratio stays
meaningful on a busy machine, where wall times depend on what else runs. MLflow is measured only when it is
importable.

    python benchmarks/bench_xgboost.py [--repeats 5] [--scenario train100 train1000]
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

SCENARIOS = {
    "train100": {"rows": 10_000, "features": 20, "rounds": 100, "evals": 1},
    "train1000": {"rows": 2_000, "features": 20, "rounds": 1_000, "evals": 2},
}
PARAMS = {
    "objective": "binary:logistic",
    "max_depth": 4,
    "eta": 0.1,
    "eval_metric": "logloss",
    "nthread": 1,  # one thread: no OpenMP spinning, so CPU time is a stable measure
}


def _data(rows: int, features: int, evals: int):
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, features))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=rows) > 0).astype(int)
    dtrain = xgb.DMatrix(X, label=y, nthread=1)
    sets = []
    for i in range(evals):
        Xv = rng.normal(size=(rows // 5, features))
        sets.append((xgb.DMatrix(Xv, label=(Xv[:, 0] > 0).astype(int), nthread=1), f"eval{i}"))
    return dtrain, sets


def _timed_train(dtrain, evals, rounds: int) -> tuple[float, float]:
    """Wall and CPU seconds of one ``xgboost.train`` call."""
    import xgboost as xgb

    wall, cpu = time.perf_counter(), time.process_time()
    xgb.train(PARAMS, dtrain, rounds, evals=evals, verbose_eval=False)
    return time.perf_counter() - wall, time.process_time() - cpu


def _worker(mode: str, scenario_name: str, repeats: int, folder: str) -> None:
    """Runs in a subprocess: bare and autologged calls interleaved (drift cancels); prints JSON."""
    scenario = SCENARIOS[scenario_name]
    dtrain, evals = _data(scenario["rows"], scenario["features"], scenario["evals"])
    if mode == "fittrace":
        os.environ["FITTRACE_TRACKING_URI"] = f"sqlite:///{folder}/fittrace.db"
        import fittrace.xgboost

        def switch(on: bool) -> None:
            fittrace.xgboost.autolog(disable=not on)
    else:
        import logging

        import mlflow

        logging.getLogger("mlflow").setLevel(logging.ERROR)
        mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")

        def switch(on: bool) -> None:
            mlflow.xgboost.autolog(disable=not on, silent=True)

    results: dict[str, list] = {"bare": [], "logged": []}
    for i in range(repeats + 1):
        for kind in ("bare", "logged"):
            switch(kind == "logged")
            timing = _timed_train(dtrain, evals, scenario["rounds"])
            if i:  # the first pair is a warm-up (imports, store creation)
                results[kind].append(timing)
    print(json.dumps(results))


def _run_mode(mode: str, scenario: str, repeats: int) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="bench-xgb-") as folder:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                mode,
                "--scenario",
                scenario,
                "--repeats",
                str(repeats),
                "--folder",
                folder,
            ],
            capture_output=True,
            text=True,
            cwd=folder,
        )
    if proc.returncode != 0:
        print(f"  {mode}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mlflow_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("mlflow") is not None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scenario", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.scenario[0], args.repeats, args.folder)
        return

    import xgboost

    modes = ["fittrace"] + (["mlflow"] if _mlflow_available() else [])
    print(
        f"xgboost {xgboost.__version__}, python {sys.version.split()[0]}, median of {args.repeats} after a warm-up"
    )
    for name in args.scenario:
        scenario = SCENARIOS[name]
        print(
            f"\n{name}: {scenario['rounds']} rounds on {scenario['rows']:,} x {scenario['features']}, {scenario['evals']} eval set(s)"
        )
        for mode in modes:
            result = _run_mode(mode, name, args.repeats)
            if result is None:
                continue
            wall = {k: statistics.median(t[0] for t in v) for k, v in result.items()}
            cpu = {k: statistics.median(t[1] for t in v) for k, v in result.items()}
            extra = statistics.median(
                b[1] - a[1] for a, b in zip(result["bare"], result["logged"], strict=True)
            )
            print(
                f"  {mode:9s} bare {wall['bare']:7.3f} s   autolog {wall['logged']:7.3f} s   "
                f"ratio {wall['logged'] / wall['bare']:5.2f}x (cpu {cpu['logged'] / cpu['bare']:5.2f}x)   "
                f"overhead {extra / scenario['rounds'] * 1e6:8.1f} us/iteration (cpu)"
            )


if __name__ == "__main__":
    main()
