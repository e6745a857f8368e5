"""Plugin autologgers beside MLflow's: ``lightgbm.train`` (100 rounds) and a statsmodels OLS fit.

Scenarios:

- ``lightgbm100``: ``lightgbm.train``, 100 rounds on 10,000 x 20 with one validation set.
- ``ols``: ``sm.OLS(y, X).fit()`` on 10,000 x 20.

Each mode (fittrace, mlflow) runs in its own subprocess and alternates bare and autologged
calls (``autolog(disable=True)`` in between), so each ratio compares numbers from one process.
Both write to SQLite in a temporary directory; numbers are medians of ``--repeats`` pairs
after one warm-up pair. LightGBM runs on one thread so CPU time stays meaningful on a busy
machine. MLflow is measured only when it is importable.

    python benchmarks/bench_plugins.py [--repeats 3] [--scenario lightgbm100 ols]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SCENARIOS = ("lightgbm100", "ols")
FRAMEWORK = {"lightgbm100": "lightgbm", "ols": "statsmodels"}


def _trainer(scenario: str):
    """A function doing one training of the scenario on fixed data."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(10_000, 20))
    y = X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=10_000)
    if scenario == "ols":
        import statsmodels.api as sm

        return lambda: sm.OLS(y, X).fit()
    import lightgbm as lgb

    params = {"objective": "binary", "num_threads": 1, "verbose": -1}
    labels = (y > 0).astype(int)

    def train() -> None:
        dtrain = lgb.Dataset(X[:8000], label=labels[:8000], params={"verbose": -1})
        dvalid = lgb.Dataset(X[8000:], label=labels[8000:], reference=dtrain)
        lgb.train(params, dtrain, 100, valid_sets=[dvalid])

    return train


def _worker(mode: str, scenario: str, repeats: int, folder: str) -> None:
    """Runs in a subprocess: bare and autologged calls interleaved; prints JSON."""
    framework = FRAMEWORK[scenario]
    train = _trainer(scenario)
    if mode == "fittrace":
        os.environ["FITTRACE_TRACKING_URI"] = f"sqlite:///{folder}/fittrace.db"
        import importlib

        plugin = importlib.import_module(f"fittrace.{framework}")

        def switch(on: bool) -> None:
            plugin.autolog(disable=not on)
    else:
        import logging

        import mlflow

        logging.getLogger("mlflow").setLevel(logging.ERROR)
        mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
        plugin = getattr(mlflow, framework)

        def switch(on: bool) -> None:
            plugin.autolog(disable=not on, silent=True)

    results: dict[str, list] = {"bare": [], "logged": []}
    for i in range(repeats + 1):
        for kind in ("bare", "logged"):
            switch(kind == "logged")
            wall, cpu = time.perf_counter(), time.process_time()
            train()
            if i:  # the first pair is a warm-up (imports, store creation)
                results[kind].append((time.perf_counter() - wall, time.process_time() - cpu))
    print(json.dumps(results))


def _run_mode(mode: str, scenario: str, repeats: int) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="bench-plugins-") as folder:
        command = [sys.executable, __file__, "--worker", mode, "--scenario", scenario]
        command += ["--repeats", str(repeats), "--folder", folder]
        proc = subprocess.run(command, capture_output=True, text=True, cwd=folder)
    if proc.returncode != 0:
        print(f"  {mode}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenario", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.scenario[0], args.repeats, args.folder)
        return
    modes = ["fittrace"] + (["mlflow"] if importlib.util.find_spec("mlflow") else [])
    print(f"python {sys.version.split()[0]}, median of {args.repeats} after a warm-up")
    for name in args.scenario:
        print(f"\n{name}")
        for mode in modes:
            result = _run_mode(mode, name, args.repeats)
            if result is None:
                continue
            wall = {k: statistics.median(t[0] for t in v) for k, v in result.items()}
            cpu = {k: statistics.median(t[1] for t in v) for k, v in result.items()}
            print(
                f"  {mode:9s} bare {wall['bare'] * 1e3:8.1f} ms   autolog {wall['logged'] * 1e3:8.1f} ms   "
                f"ratio {wall['logged'] / wall['bare']:6.2f}x (cpu {cpu['logged'] / cpu['bare']:6.2f}x)"
            )


if __name__ == "__main__":
    main()
