"""joblib's process backends: every metric a worker logs is stored (loky workers outlive the call)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import fittrace

pytest.importorskip("joblib")

_SCRIPT = """
import sys

from joblib import Parallel, delayed

import fittrace


def log_one(run_id, step):
    fittrace.MlflowClient().log_metric(run_id, "m", step * 0.5, step=step)


if __name__ == "__main__":
    run_id = fittrace.MlflowClient().create_run("0").info.run_id
    Parallel(n_jobs=2, backend=sys.argv[1])(delayed(log_one)(run_id, s) for s in range(100))
    print(run_id)
"""


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_every_metric_a_joblib_worker_logs_is_stored(backend, tmp_path):
    script = tmp_path / "parallel.py"
    script.write_text(_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), backend],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
    )
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split()[0]
    history = fittrace.MlflowClient().get_metric_history(run_id, "m")
    assert sorted((m.step, m.value) for m in history) == [(s, s * 0.5) for s in range(100)]
    assert "Traceback" not in proc.stderr
