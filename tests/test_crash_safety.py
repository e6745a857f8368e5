"""A process SIGKILLed while it logs leaves a sound database holding everything it flushed (both stores)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

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
