"""A process SIGKILLed while it logs leaves a sound database holding everything it flushed (both stores)."""

from __future__ import annotations

import os
import signal
import sqlite3
import struct
import subprocess
import sys
import textwrap
import time

import pytest

import fittrace

_WRITER = textwrap.dedent(
    """
    import sys
    import fittrace

    every = int(sys.argv[1])
    run = fittrace.start_run()
    print("run", run.info.run_id, flush=True)
    step = 0
    while True:
        fittrace.log_metric("m", step * 0.5, step=step)
        fittrace.log_metric("other", -step, step=step)
        step += 1
        if step % every == 0:
            fittrace.flush()
            print("flushed", step, flush=True)
    """
)


@pytest.mark.parametrize(
    ("mode", "every", "kill_after"), [("buffered", 2000, 20000), ("sync", 100, 400)]
)
def test_sigkill_while_logging_keeps_every_flushed_metric(
    mode, every, kill_after, tmp_path, tracking_uri, reopen
):
    (tmp_path / "writer.py").write_text(_WRITER)
    env = {**os.environ, "FITTRACE_SYNC": "1" if mode == "sync" else "0"}
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "writer.py"), str(every)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    flushed = 0
    try:
        first = proc.stdout.readline().split()
        assert first[:1] == ["run"], "the writer died before starting its run"
        run_id = first[1]
        while flushed < kill_after:
            line = proc.stdout.readline()
            assert line, "the writer exited before it was killed"
            flushed = int(line.split()[1])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    if tracking_uri.startswith("sqlite:"):
        conn = sqlite3.connect(tracking_uri[len("sqlite:///") :])
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.close()
    client = reopen()
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    histories = {key: client.get_metric_history(run_id, key) for key in ("m", "other")}
    for key, history in histories.items():
        steps = [m.step for m in history]
        assert steps == sorted(set(steps)), f"{key}: a step was written twice"
        assert steps[:flushed] == list(range(flushed)), key
    history = histories["m"]
    assert [m.value for m in history[:flushed]] == [s * 0.5 for s in range(flushed)]
    assert run.data.metrics["m"] == history[-1].value
    assert (
        fittrace.search_runs(filter_string="attributes.status = 'KILLED'", output_format="list")[
            0
        ].info.run_id
        == run_id
    )


_UNTHROTTLED = textwrap.dedent(
    """
    import mmap, struct, sys, time
    import fittrace

    with open(sys.argv[1], "r+b") as f:
        progress = mmap.mmap(f.fileno(), 16)  # survives the kill: the last row logged
    run = fittrace.start_run()
    print(run.info.run_id, flush=True)
    log, now, pack = fittrace.log_metric, time.time_ns, struct.pack_into
    step = 0
    while True:
        ts = now() // 1_000_000
        log("m", ts, step=step, timestamp=ts)
        pack("<qq", progress, 0, step, ts)
        step += 1
    """
)


@pytest.mark.sqlite_store  # a server's own latency under load adds to the bound: measured here
def test_sigkill_during_unthrottled_logging_loses_at_most_a_quarter_second(
    tmp_path, tracking_uri, reopen
):
    """The durability bound holds at any rate: the writer keeps up or the logger waits for it."""
    (tmp_path / "unthrottled.py").write_text(_UNTHROTTLED)
    progress = tmp_path / "progress"
    progress.write_bytes(bytes(16))
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "unthrottled.py"), str(progress)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, "the writer died before starting its run"
        deadline = time.monotonic() + 60  # a loaded machine may take long to get going
        while struct.unpack("<q", progress.read_bytes()[:8])[0] <= 10_000:
            assert time.monotonic() < deadline, "the writer barely ran"
            time.sleep(0.05)
        time.sleep(1.0)  # then a second of logging as fast as the loop goes
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    last_step, last_ts = struct.unpack("<qq", progress.read_bytes())
    run = reopen().get_run(run_id)
    persisted_ts = run.data.metrics["m"]  # each value is its row's timestamp; the latest step's
    assert last_step > 10_000, "the writer barely ran"
    assert last_ts - persisted_ts <= 250, f"{last_ts - persisted_ts} ms of rows lost"
