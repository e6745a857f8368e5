"""The GPU path of system metrics and accelerator tags, for a machine with an NVIDIA GPU.

Needs torch with CUDA and ``nvidia-ml-py`` (``pip install -e ".[system-metrics]"``); not run in
CI. About 15 s::

    python benchmarks/gpu_system_metrics.py [--seconds 6]

One run does matrix multiplications on ``cuda:0`` for ``--seconds`` with system metrics sampled
every second. Checks, each printed with its value (exit status 1 if one fails): the run's
``fittrace.gpu.names``, ``fittrace.gpu.count``, ``fittrace.gpu.driver`` and
``fittrace.cuda.version`` tags are set; every ``system/gpu_<i>_*`` metric of MLflow's naming has
at least 2 samples; GPU 0's utilisation went above 0 and its memory use above 100 MB.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="fittrace-gpu-")
    os.environ.update(
        FITTRACE_TRACKING_URI=f"sqlite:///{tmp}/fittrace.db",
        FITTRACE_SYSTEM_METRICS_INTERVAL="1",
    )
    import torch

    import fittrace

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 1
    a = torch.randn(8192, 8192, device="cuda:0")
    with fittrace.start_run(log_system_metrics=True) as run:
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            a = torch.tanh(a @ a)
            torch.cuda.synchronize()
    finished = fittrace.get_run(run.info.run_id)
    client = fittrace.MlflowClient()
    failures = 0

    def check(what: str, ok: bool, value: object) -> None:
        nonlocal failures
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'}  {what}: {value}")

    tags = finished.data.tags
    for key in ("gpu.names", "gpu.count", "gpu.driver", "cuda.version"):
        check(f"tag fittrace.{key}", bool(tags.get(f"fittrace.{key}")), tags.get(f"fittrace.{key}"))
    count = int(tags.get("fittrace.gpu.count") or 0)
    for i in range(count):
        for name in (
            "utilization_percentage",
            "memory_usage_megabytes",
            "memory_usage_percentage",
            "power_usage_watts",
            "power_usage_percentage",
        ):
            history = client.get_metric_history(run.info.run_id, f"system/gpu_{i}_{name}")
            values = [round(m.value, 1) for m in history]
            check(f"system/gpu_{i}_{name} samples", len(values) >= 2, values)
    busy = client.get_metric_history(run.info.run_id, "system/gpu_0_utilization_percentage")
    check("GPU 0 busy during the run", max((m.value for m in busy), default=0) > 0, len(busy))
    memory = client.get_metric_history(run.info.run_id, "system/gpu_0_memory_usage_megabytes")
    check("GPU 0 memory in use", max((m.value for m in memory), default=0) > 100, len(memory))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
