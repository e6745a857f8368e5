"""Many writers on one SQLite file: processes and threads, no "database is locked", nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import fittrace
from fittrace.store.sql import SqlStore
from fittrace.testing import STORED_POINTS

PROCESSES, RUNS, METRICS = 4, 25, 200

_WORKER = textwrap.dedent(
    """
    import os, sys, time
    import fittrace

    worker = int(sys.argv[1])
    gate = sys.argv[2]
    while not os.path.exists(gate):
        time.sleep(0.005)
    for r in range(int(sys.argv[3])):
        with fittrace.start_run(run_name=f"w{worker}-r{r}"):
            fittrace.log_params({"worker": worker, "run": r})
            for step in range(int(sys.argv[4])):
                fittrace.log_metric("m", worker * 1000 + step, step=step)
            fittrace.set_tag("done", "yes")
    print("ok", worker, flush=True)
    """
)


def test_four_processes_write_one_sqlite_file(tmp_path, sql):
    experiment_id = fittrace.create_experiment("concurrent")
    (tmp_path / "worker.py").write_text(_WORKER)
    gate = tmp_path / "go"
    procs = []
    for worker in range(PROCESSES):
        # Half the writers buffer, half commit every metric on its own.
        env = {
            **os.environ,
            "FITTRACE_EXPERIMENT_ID": experiment_id,
            "FITTRACE_SYNC": str(worker % 2),
        }
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(tmp_path / "worker.py"),
                    str(worker),
                    str(gate),
                    str(RUNS),
                    str(METRICS),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    gate.touch()
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err
    assert sorted(out.split()[1] for out, _ in results) == [str(w) for w in range(PROCESSES)]

    assert sql("PRAGMA integrity_check") == [("ok",)]
    assert sql("SELECT COUNT(*), COUNT(DISTINCT name) FROM runs") == [
        (PROCESSES * RUNS, PROCESSES * RUNS)
    ]
    assert sql(STORED_POINTS) == [(PROCESSES * RUNS * METRICS,)]

    runs = fittrace.search_runs(experiment_ids=[experiment_id], output_format="list")
    assert len(runs) == PROCESSES * RUNS
    for run in runs:
        worker, r = run.info.run_name[1:].split("-r")
        assert run.info.status == "FINISHED"
        assert run.data.params == {"worker": worker, "run": r}
        assert run.data.tags["done"] == "yes"
        assert run.data.metrics == {"m": int(worker) * 1000 + METRICS - 1}
        history = fittrace.MlflowClient().get_metric_history(run.info.run_id, "m")
        assert [m.step for m in history] == list(range(METRICS))


def test_eight_threads_each_with_their_own_run(sql):
    threads, errors, run_ids = [], [], {}
    barrier = threading.Barrier(8)

    def work(n):
        try:
            barrier.wait(timeout=30)
            with fittrace.start_run(run_name=f"thread-{n}") as run:
                run_ids[n] = run.info.run_id
                fittrace.log_param("thread", n)
                for step in range(METRICS):
                    fittrace.log_metric("m", n + step / 1000, step=step)
                fittrace.log_metrics({"a": n, "b": -n}, step=0)
                fittrace.set_tag("thread", n)
                assert fittrace.active_run().info.run_id == run.info.run_id
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    for n in range(8):
        threads.append(threading.Thread(target=work, args=(n,)))
        threads[-1].start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert fittrace.active_run() is None
    assert sql(STORED_POINTS) == [(8 * (METRICS + 2),)]
    client = fittrace.MlflowClient()
    for n, run_id in run_ids.items():
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.info.run_name == f"thread-{n}"
        assert run.data.params == {"thread": str(n)}
        assert run.data.tags["thread"] == str(n)
        assert run.data.metrics == {"m": n + (METRICS - 1) / 1000, "a": n, "b": -n}
        assert [m.step for m in client.get_metric_history(run_id, "m")] == list(range(METRICS))


def test_set_experiment_when_another_process_creates_the_name_first(monkeypatch):
    """Two workers of a sweep call set_experiment("sweep") at once: the loser must reuse the winner's."""
    winner = fittrace.MlflowClient().create_experiment("sweep")
    lookups = []
    original = SqlStore.get_experiment_by_name

    def racing_lookup(self, name):  # this process looked before the other one committed
        lookups.append(name)
        return None if len(lookups) == 1 else original(self, name)

    monkeypatch.setattr(SqlStore, "get_experiment_by_name", racing_lookup)
    assert fittrace.set_experiment("sweep").experiment_id == winner


def test_processes_opening_a_new_store_and_creating_one_experiment_at_once(tmp_path):
    """Four fresh processes migrate the same new file and set_experiment the same name together."""
    code = textwrap.dedent(
        """
        import os, sys, time
        import fittrace
        while not os.path.exists(sys.argv[1]):
            time.sleep(0.001)
        print(fittrace.set_experiment("race").experiment_id, flush=True)
        """
    )
    (tmp_path / "racer.py").write_text(code)
    gate = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, str(tmp_path / "racer.py"), str(gate)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    time.sleep(0.5)  # let every racer reach the gate
    gate.touch()
    results = [p.communicate(timeout=60) for p in procs]
    errors = [err for p, (_, err) in zip(procs, results, strict=True) if p.returncode != 0]
    assert errors == []
    assert len({out.strip() for out, _ in results}) == 1


def test_a_child_forked_while_a_parent_thread_waits_to_write_can_write(tmp_path):
    """Threads of a process queue on one lock for SQLite writes; a forked child has its own."""
    client = fittrace.MlflowClient(f"sqlite:///{tmp_path / 'f.db'}")
    store, run_id = client._store, client.create_run("0").info.run_id
    inside, leave = threading.Event(), threading.Event()

    def hold_the_queue() -> None:
        with store._write_lock:
            inside.set()
            leave.wait(30)

    holder = threading.Thread(target=hold_the_queue)
    holder.start()
    inside.wait(30)
    pid = os.fork()
    if pid == 0:
        try:
            store.write_batch([(run_id, "child", 1.0, 1, 0)], [], [])
        finally:
            os._exit(0)
    deadline = time.monotonic() + 30
    while os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    leave.set()
    holder.join(30)
    alive = time.monotonic() >= deadline
    if alive:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert not alive, "the child waited for its parent's thread"
    assert [m.value for m in client.get_metric_history(run_id, "child")] == [1.0]


def test_a_child_forked_amid_its_parents_sqlite_writes_can_write(tmp_path):
    """A fork waits for the parent's write in flight to commit: a child copying SQLite's record
    of the parent's lock would wait out the busy timeout instead."""
    client = fittrace.MlflowClient(f"sqlite:///{tmp_path / 'f.db'}")
    store, run_id = client._store, client.create_run("0").info.run_id
    stop = threading.Event()
    rows = [(run_id, "parent", float(i), i, i) for i in range(5000)]

    def write_all_the_time() -> None:
        while not stop.is_set():
            store.write_batch(rows, [], [])

    writer = threading.Thread(target=write_all_the_time)
    writer.start()
    try:
        for n in range(5):
            time.sleep(0.05)
            pid = os.fork()
            if pid == 0:
                signal.alarm(15)  # a child stuck on the copied lock dies of SIGALRM
                try:
                    store.write_batch([(run_id, "child", float(n), 1, n)], [], [])
                finally:
                    os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
    finally:
        stop.set()
        writer.join(60)
    assert [m.value for m in client.get_metric_history(run_id, "child")] == [
        0.0,
        1.0,
        2.0,
        3.0,
        4.0,
    ]


_HOLDER = """
import sqlite3, sys, time, pathlib
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
pathlib.Path(sys.argv[2]).touch()
release = pathlib.Path(sys.argv[3])
deadline = time.monotonic() + 30
while not release.exists():
    if time.monotonic() > deadline:
        sys.exit(3)  # nobody released it: the fork waited for this process's lock
    time.sleep(0.02)
conn.execute("COMMIT")
"""


def test_a_fork_does_not_wait_while_a_write_waits_for_another_process(tmp_path, monkeypatch):
    """Only a transaction in flight holds up a fork, not a write queued behind another process."""
    from fittrace.store import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "_FORK_WAIT_S", 60.0)
    db = tmp_path / "f.db"
    client = fittrace.MlflowClient(f"sqlite:///{db}")
    store, run_id = client._store, client.create_run("0").info.run_id
    holding, release = tmp_path / "holding", tmp_path / "release"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(db), str(holding), str(release)])
    while not holding.exists():
        assert holder.poll() is None
        time.sleep(0.02)
    writer = threading.Thread(target=store.write_batch, args=([(run_id, "m", 1.0, 1, 0)], [], []))
    writer.start()
    time.sleep(0.2)  # the write is now waiting for the other process
    pid = os.fork()
    if pid == 0:
        release.touch()  # the child runs at once: the other process may commit
        os._exit(0)
    os.waitpid(pid, 0)
    assert holder.wait(60) == 0
    writer.join(60)
    assert [m.value for m in client.get_metric_history(run_id, "m")] == [1.0]


_SHARED_RUN_WORKER = textwrap.dedent(
    """
    import os, sys, time
    import fittrace

    worker, gate, run_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    client = fittrace.MlflowClient()
    while not os.path.exists(gate):
        time.sleep(0.005)
    for i in range(300):  # FITTRACE_SYNC=1: each point its own write into the key's last block
        client.log_metric(run_id, "shared", worker * 1000 + i, timestamp=1_000 + i, step=i)
    print("ok", flush=True)
    """
)


def test_processes_writing_one_metric_of_one_run_point_by_point_lose_nothing(tmp_path):
    """Small writes extend a metric's last block (read, then rewrite); two processes doing it
    at once to the same run and key must keep every point, each in its own order."""
    with fittrace.start_run() as run:
        pass
    (tmp_path / "worker.py").write_text(_SHARED_RUN_WORKER)
    gate = tmp_path / "go"
    env = {**os.environ, "FITTRACE_SYNC": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(tmp_path / "worker.py"), str(w), str(gate), run.info.run_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(2)
    ]
    gate.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "ok", err
    history = fittrace.MlflowClient().get_metric_history(run.info.run_id, "shared")
    assert len(history) == 600
    for worker in range(2):
        mine = [m for m in history if m.value // 1000 == worker]
        assert [m.step for m in mine] == list(range(300))
        assert [m.value for m in mine] == [worker * 1000 + i for i in range(300)]
