"""sklearn.log_model of a LogisticRegression with a signature and pinned requirements: fittrace beside MLflow.

    python benchmarks/bench_log_model.py [--repeat 20] [--mlflow-repeat 5] [--skip-mlflow]

Each library logs into its own SQLite store in a temp dir, inside one active run, a new
artifact path per call. Both use cloudpickle, both write requirements.txt (MLflow infers it by
loading the model in a subprocess; fittrace pins from importlib.metadata in-process).
Timings are medians in milliseconds; the target is fittrace <= 1/50 of MLflow.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable

TARGET_RATIO = 1 / 50


def make_model() -> tuple[object, object]:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({f"f{i}": rng.normal(size=200) for i in range(8)})
    y = pd.Series((X["f0"] + X["f1"] > 0).astype(int), name="target")
    return LogisticRegression().fit(X, y), (X, y)


def median_ms(fn: Callable[[int], object], repeat: int) -> float:
    fn(-1)  # warm imports and connections
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_fittrace(tmp: str, model: object, data: tuple, repeat: int) -> float:
    import fittrace
    from fittrace.models import infer_signature

    fittrace.set_tracking_uri(f"sqlite:///{tmp}/fittrace/fittrace.db")
    signature = infer_signature(*data)
    with fittrace.start_run():
        return median_ms(
            lambda i: fittrace.sklearn.log_model(model, f"model_{i}", signature=signature), repeat
        )


def bench_mlflow(tmp: str, model: object, data: tuple, repeat: int) -> float:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow/mlflow.db")
    mlflow.set_experiment("bench")
    signature = mlflow.models.infer_signature(*data)
    with mlflow.start_run():
        return median_ms(
            lambda i: mlflow.sklearn.log_model(
                model, name=f"model_{i}", signature=signature, serialization_format="cloudpickle"
            ),
            repeat,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="fittrace calls timed")
    parser.add_argument(
        "--mlflow-repeat", type=int, default=5, help="MLflow calls timed (each takes seconds)"
    )
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    model, data = make_model()
    with tempfile.TemporaryDirectory() as tmp:
        ours = bench_fittrace(tmp, model, data, args.repeat)
        print(f"fittrace sklearn.log_model: {ours:8.2f} ms (median of {args.repeat})")
        if args.skip_mlflow:
            return
        theirs = bench_mlflow(tmp, model, data, args.mlflow_repeat)
        print(f"mlflow   sklearn.log_model: {theirs:8.2f} ms (median of {args.mlflow_repeat})")
        ratio = ours / theirs
        verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
        print(
            f"ratio fittrace/mlflow: 1/{theirs / ours:.0f} ({verdict} the 1/{round(1 / TARGET_RATIO)} target)"
        )


if __name__ == "__main__":
    main()
