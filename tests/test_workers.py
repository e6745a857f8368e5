"""Worker processes keep what they log: forked children, every multiprocessing start method, Pools.

Each case runs a script whose workers log into one run and leave the way they do in real use
(``os._exit`` after the target, SIGTERM from ``Pool.terminate()`` when the ``with`` block
ends); the script counts the stored metrics as soon as its workers are gone.
"""

from __future__ import annotations

import multiprocessing

import pytest

import fittrace

_WORKERS = """
import multiprocessing as mp

import fittrace


def log_one(args):
    run_id, step = args
    fittrace.MlflowClient().log_metric(run_id, "m", step * 0.5, step=step)


def log_many(run_id, start):
    client = fittrace.MlflowClient()
    for step in range(start, start + 50):
        client.log_metric(run_id, "m", step * 0.5, step=step)


if __name__ == "__main__":
    kind, method = KIND, METHOD
    ctx = mp.get_context(method)
    client = fittrace.MlflowClient()
    run_id = client.create_run("0").info.run_id
    if kind == "process":
        procs = [ctx.Process(target=log_many, args=(run_id, start)) for start in (0, 50)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        assert [p.exitcode for p in procs] == [0, 0]
    else:
        with ctx.Pool(2) as pool:
            pool.map(log_one, [(run_id, step) for step in range(100)], chunksize=5)
    print(run_id, len(client.get_metric_history(run_id, "m")))
"""


@pytest.mark.sqlite_store  # how workers leave is the store's no matter; one store suffices
@pytest.mark.parametrize("kind", ["process", "pool"])
@pytest.mark.parametrize("method", multiprocessing.get_all_start_methods())
def test_every_metric_a_worker_logs_is_stored_when_it_is_gone(kind, method, run_python):
    proc = run_python(_WORKERS.replace("KIND, METHOD", f"{kind!r}, {method!r}"))
    assert proc.returncode == 0, proc.stderr
    run_id, stored = proc.stdout.split()
    assert stored == "100", proc.stderr
    history = fittrace.MlflowClient().get_metric_history(run_id, "m")
    assert sorted((m.step, m.value) for m in history) == [(s, s * 0.5) for s in range(100)]
    assert "Traceback" not in proc.stderr


_FORK = """
import os
import sys

import fittrace

client = fittrace.MlflowClient()
with fittrace.start_run() as run:
    fittrace.log_metric("parent", 1.0, step=0)
    pid = os.fork()
    if pid == 0:
        fittrace.log_metric("child", 2.0, step=0)  # the child's first write
        sys.exit(0)  # leaves the with-block and exits normally: atexit handlers run
    os.waitpid(pid, 0)
    print(client.get_run(run.info.run_id).info.status)
    fittrace.log_metric("parent", 3.0, step=1)
print(run.info.run_id)
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_keeps_its_first_write_and_leaves_the_parents_run_running(run_python):
    proc = run_python(_FORK)
    assert proc.returncode == 0, proc.stderr
    status_after_child, run_id = proc.stdout.split()
    assert status_after_child == "RUNNING"
    client = fittrace.MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"parent": 3.0, "child": 2.0}
    assert [m.value for m in client.get_metric_history(run_id, "parent")] == [1.0, 3.0]
