"""Reproducibility capture: system-metrics sampler cost and per-run provenance overhead.

Every case runs in a fresh interpreter with its own temporary directory. Usage::

    python benchmarks/bench_repro.py              # both sections, ~40 s
    python benchmarks/bench_repro.py --only sampler --seconds 5
    python benchmarks/bench_repro.py --no-mlflow

- **Sampler**: a run stays open for ``--seconds`` while the main thread sleeps, sampling every
  0.05 s; the process CPU time beyond the same run without sampling, divided by the samples
  taken, is the cost of one sample. At the default 10 s interval the sampler uses
  cost / 10 s of one core. Target: <= 1 %. MLflow's monitor (psutil) is timed beside it.
- **Per run**: 40 runs (``start_run``, one param, ``end_run``) in a committed git checkout,
  with provenance capture on and off, clean and with an uncommitted change; the first run of a
  process (requirements.txt, the git check, and git itself on a dirty tree) is shown apart.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _env import child_env

HERE = os.path.abspath(__file__)
SAMPLE_INTERVAL_S = 0.05
DEFAULT_INTERVAL_S = 10.0
TARGET_PERCENT = 1.0
RUNS = 40


def _idle_run(mlflow, seconds: float, sampled: bool, **start_run) -> dict:
    """One run open for ``seconds`` while this thread sleeps: the process's CPU time and samples."""
    with mlflow.start_run(log_system_metrics=sampled, **start_run) as run:
        cpu = time.process_time()
        time.sleep(seconds)
        cpu = time.process_time() - cpu
    history = mlflow.MlflowClient().get_metric_history(
        run.info.run_id, "system/cpu_utilization_percentage"
    )
    return {"cpu_s": cpu, "samples": len(history)}


def worker_fittrace_sampler(seconds: float, sampled: bool, tmp: str) -> dict:
    os.environ["FITTRACE_SYSTEM_METRICS_INTERVAL"] = str(SAMPLE_INTERVAL_S)
    os.environ["FITTRACE_LOG_PROVENANCE"] = "false"
    import fittrace

    fittrace.set_tracking_uri(f"sqlite:///{tmp}/fittrace.db")
    fittrace.log_param("warmup", 1)  # opens the store and starts the writer outside the timing
    fittrace.end_run()
    return _idle_run(fittrace, seconds, sampled)


def worker_mlflow_sampler(seconds: float, sampled: bool, tmp: str) -> dict:
    import logging

    logging.disable(logging.WARNING)
    os.environ["MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"] = str(SAMPLE_INTERVAL_S)
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    experiment = mlflow.create_experiment("bench", artifact_location=f"{tmp}/mlartifacts")
    with mlflow.start_run(experiment_id=experiment):
        mlflow.log_param("warmup", 1)
    return _idle_run(mlflow, seconds, sampled, experiment_id=experiment)


def worker_runs(provenance: bool, dirty: bool, tmp: str) -> dict:
    repo = os.path.join(tmp, "repo")
    os.makedirs(repo)
    subprocess.run(["git", "init", "-q", repo], check=True)
    with open(os.path.join(repo, "model.py"), "w") as f:
        f.write("LR = 0.1\n")
    git = ["git", "-C", repo, "-c", "user.name=b", "-c", "user.email=b@example.com"]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    if dirty:
        with open(os.path.join(repo, "model.py"), "w") as f:
            f.write("LR = 0.3\n")
    os.chdir(repo)
    script = os.path.join(repo, "train.py")  # the runs' script: in the checkout, untracked
    with open(script, "w") as f:
        f.write("# the benchmark's stand-in training script\n")
    sys.modules["__main__"].__file__ = script
    os.environ["FITTRACE_LOG_PROVENANCE"] = str(provenance).lower()
    import fittrace
    from fittrace.tracking import context

    fittrace.set_tracking_uri(f"sqlite:///{tmp}/fittrace.db")
    fittrace.set_experiment("bench")  # opens the store outside the timing
    times = []
    for i in range(RUNS + 1):
        start = time.perf_counter()
        with fittrace.start_run():
            fittrace.log_param("i", i)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(1000):
        context.system_tags()
    tags_us = (time.perf_counter() - start) * 1000
    rest = sorted(times[1:])
    return {
        "first_ms": times[0] * 1000,
        "median_ms": rest[len(rest) // 2] * 1000,
        "tags_us": tags_us,
    }


WORKERS = {
    "fittrace-sampler": lambda a: worker_fittrace_sampler(a.seconds, a.sampled, a.tmp),
    "mlflow-sampler": lambda a: worker_mlflow_sampler(a.seconds, a.sampled, a.tmp),
    "runs": lambda a: worker_runs(a.provenance, a.dirty, a.tmp),
}


def run_worker(case: str, *flags: str) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-{case}-") as tmp:
        cmd = [sys.executable, HERE, "--worker", case, "--tmp", tmp, *flags]
        result = subprocess.run(cmd, cwd=tmp, env=child_env(), capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{case} failed:\n{result.stderr[-3000:]}")
        return json.loads(next(x for x in result.stdout.splitlines() if x.startswith("{")))


def sampler_section(seconds: float, with_mlflow: bool) -> None:
    print(f"System metrics sampler ({seconds:g} s open run, a sample every {SAMPLE_INTERVAL_S} s)")
    libraries = ["fittrace"] + (["mlflow"] if with_mlflow else [])
    for library in libraries:
        base = run_worker(f"{library}-sampler", "--seconds", str(seconds))
        on = run_worker(f"{library}-sampler", "--seconds", str(seconds), "--sampled")
        per_sample_ms = (on["cpu_s"] - base["cpu_s"]) / max(on["samples"], 1) * 1000
        percent = per_sample_ms / 1000 / DEFAULT_INTERVAL_S * 100
        verdict = ("OK" if percent <= TARGET_PERCENT else "OVER") if library == "fittrace" else ""
        print(
            f"  {library:8}  {on['samples']:4} samples  CPU {on['cpu_s']:.3f} s vs {base['cpu_s']:.3f} s"
            f" without  -> {per_sample_ms:.3f} ms/sample = {percent:.4f} % of one core at"
            f" {DEFAULT_INTERVAL_S:g} s  {verdict}"
        )


def runs_section() -> None:
    print(f"Per run: start_run + log_param + end_run, {RUNS} runs after the first, git checkout")
    results = {}
    for dirty in (False, True):
        for provenance in (False, True):
            flags = [f for f, on in (("--provenance", provenance), ("--dirty", dirty)) if on]
            r = results[dirty, provenance] = run_worker("runs", *flags)
            print(
                f"  {'dirty' if dirty else 'clean'} tree, provenance {'on ' if provenance else 'off'}:"
                f"  first run {r['first_ms']:7.1f} ms   later runs median {r['median_ms']:6.2f} ms"
                f"   system_tags() {r['tags_us']:.1f} us"
            )
    for dirty in (False, True):
        added = results[dirty, True]["median_ms"] - results[dirty, False]["median_ms"]
        print(f"  added per later run ({'dirty' if dirty else 'clean'}): {added:+.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--tmp")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sampled", action="store_true")
    parser.add_argument("--provenance", action="store_true")
    parser.add_argument("--dirty", action="store_true")
    parser.add_argument("--only", choices=("sampler", "runs"))
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    if args.only in (None, "sampler"):
        try:
            import importlib.util

            with_mlflow = not args.no_mlflow and importlib.util.find_spec("mlflow") is not None
        except ValueError:
            with_mlflow = False
        sampler_section(args.seconds, with_mlflow)
    if args.only in (None, "runs"):
        runs_section()


if __name__ == "__main__":
    main()
