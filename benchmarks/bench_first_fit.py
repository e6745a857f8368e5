"""The first autologged fit of a script: a fresh interpreter and a new store, as a new user sees it.

Each sample is a fresh interpreter in a new empty working directory (so a new
``fitruns/`` store; MLflow gets ``sqlite:///mlflow.db`` there). The framework is
imported, the data built and one fit made *before* the timer (the framework's
own first-use cost is not fittrace's); then the timer covers
``import fittrace.<flavor>; fittrace.<flavor>.autolog()`` (or MLflow's) and one
fit, until it returns. "bare" times the same fit without autologging; the
difference is what autologging costs the first fit. Cases:

- sklearn: ``make_pipeline(StandardScaler(), LogisticRegression())`` on ``load_breast_cancer``;
- xgboost: ``xgboost.train``, 20 rounds, one eval set, on the same data;
- keras: a small ``Sequential`` MLP, 3 epochs, batch 64, on the same data;
- torch: a plain loop, a small MLP, 5 epochs, batch 64, ending with ``fittrace.end_run()``
  (which logs the model); MLflow does not autolog plain loops.

Also reported: how much longer the process takes to exit after the fit (interpreter exit waits
for background writes), and the open of an existing store in a later process
(``Client().get_experiment_by_name``, fittrace's modules imported before the timer).

Run: ``python benchmarks/bench_first_fit.py [--repeats N] [--only sklearn xgboost keras torch
store] [--no-mlflow]``. Medians of N fresh processes per cell (modes alternate); "+over, mins" is
the difference of the fastest samples, the better estimate on a machine shared with other work.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _env import child_env  # noqa: E402

_DATA = """
from sklearn.datasets import load_breast_cancer
X, y = load_breast_cancer(return_X_y=True)
X = X.astype("float32"); y = y.astype("float32")
"""

_SETUP = {
    "sklearn": """
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
def fit():
    make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
""",
    "xgboost": """
import xgboost
dtrain = xgboost.DMatrix(X[:450], label=y[:450]); dvalid = xgboost.DMatrix(X[450:], label=y[450:])
def fit():
    xgboost.train({"objective": "binary:logistic", "nthread": 1}, dtrain, 20,
                  evals=[(dvalid, "valid")], verbose_eval=False)
""",
    "keras": """
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
X = (X - X.mean(0)) / X.std(0)
def fit():
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(X, y, epochs=3, batch_size=64, verbose=0)
""",
    "torch": """
import torch
torch.set_num_threads(1)
Xt = torch.tensor((X - X.mean(0)) / X.std(0)); yt = torch.tensor(y).unsqueeze(1)
def fit():
    model = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2); loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(5):
        for i in range(0, len(Xt), 64):
            opt.zero_grad(); loss = loss_fn(model(Xt[i:i + 64]), yt[i:i + 64]); loss.backward()
            opt.step()
    if "fittrace" in sys.modules:
        import fittrace; fittrace.end_run()
""",
}

_FLAVOR = {"sklearn": "sklearn", "xgboost": "xgboost", "keras": "tensorflow", "torch": "pytorch"}

_ENABLE = {
    "bare": "",
    "fittrace": "import fittrace.{flavor}; fittrace.{flavor}.autolog()",
    "mlflow": (
        "import logging, mlflow, mlflow.{flavor}; logging.getLogger('mlflow').setLevel(logging.ERROR);"
        " mlflow.set_tracking_uri('sqlite:///mlflow.db'); mlflow.{flavor}.autolog(silent=True)"
    ),
}

_CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
{data}
{setup}
fit()  # the framework's own first fit: not timed
start = time.perf_counter()
{enable}
fit()
end = time.perf_counter()
print(json.dumps({{"fit_ms": (end - start) * 1e3, "fit_end": time.time()}}), flush=True)
"""

_STORE_OPEN = """
import json, time
import fittrace.store.sqlite, fittrace.tracking.client
start = time.perf_counter()
fittrace.tracking.client.Client().get_experiment_by_name("Default")
print(json.dumps({"fit_ms": (time.perf_counter() - start) * 1e3, "fit_end": time.time()}))
"""


def _sample(code: str, folder: str) -> dict:
    """One fresh interpreter; its timing and how long it took to exit after the fit."""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, env=child_env(), capture_output=True, text=True
    )
    exited = time.time()
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["exit_ms"] = (exited - result["fit_end"]) * 1e3
    return result


def _case(case: str, modes: list[str], repeats: int) -> dict[str, dict[str, float]]:
    flavor = _FLAVOR[case]
    samples: dict[str, list[dict]] = {mode: [] for mode in modes}
    for _ in range(repeats):
        for mode in modes:
            code = _CHILD.format(
                data=_DATA, setup=_SETUP[case], enable=_ENABLE[mode].format(flavor=flavor)
            )
            with tempfile.TemporaryDirectory(prefix="bench-first-fit-") as folder:
                samples[mode].append(_sample(code, folder))
    summary = {
        mode: {key: statistics.median(s[key] for s in runs) for key in ("fit_ms", "exit_ms")}
        for mode, runs in samples.items()
    }
    for mode, runs in samples.items():  # the least disturbed sample, for a shared machine
        summary[mode]["min_ms"] = min(s["fit_ms"] for s in runs)
    return summary


def _store_open(repeats: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-first-fit-") as folder:
        _sample(_STORE_OPEN, folder)  # creates the store
        return statistics.median(_sample(_STORE_OPEN, folder)["fit_ms"] for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    cases = [*_SETUP, "store"]
    parser.add_argument("--only", nargs="+", choices=cases, default=cases)
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    mlflow = not args.no_mlflow and importlib.util.find_spec("mlflow") is not None
    print(
        f"python {sys.version.split()[0]}, median of {args.repeats} fresh processes per cell, "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    header = (
        f"{'case':8s} | {'bare ms':>8s} | {'fittrace ms (+over bare)':>20s} | {'+over, mins':>11s} |"
        f" {'exit +ms':>8s}"
    )
    if mlflow:
        header += f" | {'mlflow ms (+over bare)':>24s} | {'overhead ratio':>14s}"
    print(header + "\n" + "-" * len(header))
    for case in args.only:
        if case == "store":
            continue
        if importlib.util.find_spec(case) is None:
            print(f"{case:8s} | not installed")
            continue
        modes = ["bare", "fittrace"] + (["mlflow"] if mlflow and case != "torch" else [])
        r = _case(case, modes, args.repeats)
        bare = r["bare"]["fit_ms"]
        over = r["fittrace"]["fit_ms"] - bare
        least = r["fittrace"]["min_ms"] - r["bare"]["min_ms"]
        line = (
            f"{case:8s} | {bare:8.1f} | {r['fittrace']['fit_ms']:9.1f} ({over:+8.1f}) | "
            f"{least:+11.1f} | {r['fittrace']['exit_ms'] - r['bare']['exit_ms']:+8.1f}"
        )
        if "mlflow" in r:
            mover = r["mlflow"]["fit_ms"] - bare
            ratio = f"{mover / over:13.0f}x" if over > 0 else f"{'-':>14s}"
            line += f" | {r['mlflow']['fit_ms']:9.1f} ({mover:+9.1f}){'':3s} | {ratio}"
        print(line, flush=True)
    if "store" in args.only:
        print(
            f"\nsecond open of an existing store (fresh process, modules imported): "
            f"{_store_open(args.repeats):.1f} ms"
        )


if __name__ == "__main__":
    main()
