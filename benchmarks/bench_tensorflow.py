"""Keras autologging cost, fittrace beside MLflow (issue #7).

A small MLP on 10,000 x 20 float32, 5 epochs, batch 64 (TensorFlow backend by default;
KERAS_BACKEND is passed through). Each library runs in its own interpreter with its own
temporary tracking store; inside it, bare fits and autologged fits alternate on fresh
models with the same initial weights, and medians are compared. Usage::

    python benchmarks/bench_tensorflow.py              # 5 repeats
    python benchmarks/bench_tensorflow.py --repeats 3 --no-mlflow

Targets: default autolog fit (model logging excluded) <= 1.10 x the bare fit; logging the
model <= MLflow's; per-epoch callback overhead <= 1 ms.
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

HERE = os.path.abspath(__file__)
ROWS, FEATURES, EPOCHS, BATCH = 10_000, 20, 5, 64
TARGET_RATIO = 1.10
TARGET_EPOCH_MS = 1.0


def _quiet() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    warnings.filterwarnings("ignore")


def _data():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((ROWS, FEATURES), dtype=np.float32)
    y = (x[:, :5].sum(axis=1) > 2.5).astype("float32")
    return x, y


def _model(weights=None):
    import keras

    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    if weights is not None:
        model.set_weights(weights)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"]
    )
    return model


def _timed_fit(x, y, weights) -> float:
    model = _model(weights)
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0)
    return time.perf_counter() - start


def _hook_timer():
    """Wrap fittrace's callback hooks to add up the time spent in them."""
    from fittrace.tensorflow import _callback

    spent = [0.0]
    for name in ("on_train_begin", "on_epoch_end", "on_train_end"):
        original = getattr(_callback.FittraceCallback, name)

        def timed(self, *args, _original=original, **kwargs):
            start = time.perf_counter()
            try:
                return _original(self, *args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        setattr(_callback.FittraceCallback, name, timed)
    return spent


def _alternate(repeats: int, bare_fit, logged_fit) -> tuple[list[float], list[float]]:
    """Bare and autologged fits in ABBA order, so drift on a busy machine hits both alike."""
    bare, logged = [], []
    for i in range(repeats):
        if i % 2 == 0:
            bare.append(bare_fit())
            logged.append(logged_fit())
        else:
            logged.append(logged_fit())
            bare.append(bare_fit())
    return bare, logged


def _summary(bare: list[float], logged: list[float]) -> dict:
    return {
        "bare_s": statistics.median(bare),
        "autolog_s": statistics.median(logged),
        "pair_ratio": statistics.median([b2 / b1 for b1, b2 in zip(bare, logged, strict=True)]),
        "min_ratio": min(logged) / min(bare),
    }


def worker_fittrace(repeats: int, tmp: str) -> dict:
    _quiet()
    os.environ["FITTRACE_TRACKING_URI"] = f"sqlite:///{os.path.join(tmp, 'fittrace.db')}"
    import fittrace

    x, y = _data()
    weights = _model().get_weights()
    _timed_fit(x, y, weights)  # warm up TensorFlow outside the timings
    fittrace.tensorflow.autolog(log_models=False)
    spent = _hook_timer()
    _timed_fit(x, y, weights)  # warm up fittrace (store, writer thread)
    spent[0] = 0.0
    bare, logged = _alternate(
        repeats,
        lambda: (fittrace.tensorflow.autolog(disable=True), _timed_fit(x, y, weights))[1],
        lambda: (fittrace.tensorflow.autolog(log_models=False), _timed_fit(x, y, weights))[1],
    )
    epoch_ms = spent[0] / (repeats * EPOCHS) * 1000
    fittrace.tensorflow.autolog()  # defaults: the model is logged too
    with_model = [_timed_fit(x, y, weights) for _ in range(max(1, repeats // 2))]
    fittrace.tensorflow.autolog(disable=True)
    model = _model(weights)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    save = []
    for _ in range(repeats):
        with fittrace.start_run():
            start = time.perf_counter()
            fittrace.tensorflow.log_model(model, "model")
            save.append(time.perf_counter() - start)
    fittrace.flush()
    return {
        **_summary(bare, logged),
        "autolog_with_model_s": statistics.median(with_model),
        "epoch_overhead_ms": epoch_ms,
        "log_model_s": statistics.median(save),
    }


def worker_mlflow(repeats: int, tmp: str) -> dict:
    _quiet()
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{os.path.join(tmp, 'mlflow.db')}")
    mlflow.set_experiment("bench")
    x, y = _data()
    weights = _model().get_weights()
    _timed_fit(x, y, weights)
    flavor = mlflow.tensorflow
    flavor.autolog(log_models=False, silent=True)
    try:
        _timed_fit(x, y, weights)
    # mlflow.tensorflow.autolog needs TensorBoard; MLflow's Keras 3 autologger does not
    except Exception:
        flavor.autolog(disable=True)
        flavor = mlflow.keras
        flavor.autolog(log_models=False, silent=True)
        _timed_fit(x, y, weights)
    bare, logged = _alternate(
        repeats,
        lambda: (flavor.autolog(disable=True), _timed_fit(x, y, weights))[1],
        lambda: (flavor.autolog(log_models=False, silent=True), _timed_fit(x, y, weights))[1],
    )
    flavor.autolog(disable=True)
    model = _model(weights)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    save = []
    for _ in range(max(1, repeats // 2)):  # slow: each one infers requirements in a subprocess
        with mlflow.start_run():
            start = time.perf_counter()
            mlflow.tensorflow.log_model(model, name="model")
            save.append(time.perf_counter() - start)
    return {
        "autologger": flavor.__name__,
        **_summary(bare, logged),
        "log_model_s": statistics.median(save),
    }


def _run_worker(name: str, repeats: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="fittrace-bench-tf-") as tmp:
        out = subprocess.run(
            [sys.executable, HERE, "--worker", name, "--repeats", str(repeats), "--tmp", tmp],
            capture_output=True,
            text=True,
            cwd=tmp,
        )
    if out.returncode != 0:
        raise SystemExit(f"{name} worker failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = {"fittrace": worker_fittrace, "mlflow": worker_mlflow}[args.worker](
            args.repeats, args.tmp
        )
        print(json.dumps(result))
        return

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    print(
        f"Keras MLP {ROWS}x{FEATURES}, {EPOCHS} epochs, batch {BATCH}, backend {backend}, {args.repeats} repeats (medians)"
    )
    ft = _run_worker("fittrace", args.repeats)
    ratio = ft["pair_ratio"]
    print(
        f"fittrace  bare fit {ft['bare_s']:.3f} s | autolog (no model) {ft['autolog_s']:.3f} s | "
        f"ratio {ratio:.3f} (median of pairs; of minimums {ft['min_ratio']:.3f}) "
        f"(target <= {TARGET_RATIO}) {'OK' if ratio <= TARGET_RATIO else 'MISSED'}"
    )
    print(
        f"fittrace  autolog with model logging {ft['autolog_with_model_s']:.3f} s "
        f"({ft['autolog_with_model_s'] / ft['bare_s']:.3f} x bare)"
    )
    print(
        f"fittrace  callback overhead per epoch {ft['epoch_overhead_ms']:.3f} ms (target <= {TARGET_EPOCH_MS}) "
        f"{'OK' if ft['epoch_overhead_ms'] <= TARGET_EPOCH_MS else 'MISSED'}"
    )
    print(f"fittrace  log_model {ft['log_model_s'] * 1000:.1f} ms")
    if args.no_mlflow or importlib.util.find_spec("mlflow") is None:
        print("mlflow    skipped")
        return
    ml = _run_worker("mlflow", args.repeats)
    print(
        f"mlflow    ({ml['autologger']}.autolog) bare fit {ml['bare_s']:.3f} s | autolog (no model) "
        f"{ml['autolog_s']:.3f} s | ratio {ml['pair_ratio']:.3f} (of minimums {ml['min_ratio']:.3f})"
    )
    save_ratio = ft["log_model_s"] / ml["log_model_s"]
    print(
        f"mlflow    log_model {ml['log_model_s'] * 1000:.1f} ms | fittrace/mlflow {save_ratio:.3f} "
        f"(target <= 1) {'OK' if save_ratio <= 1 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
