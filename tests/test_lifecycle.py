"""How runs end: context-manager exceptions, normal exit, uncaught exceptions, and killed processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import fittrace


def test_with_block_that_raises_ends_the_run_failed():
    with pytest.raises(ZeroDivisionError):
        with fittrace.start_run() as run:
            fittrace.log_metric("before_error", 1.0)
            raise ZeroDivisionError("loss diverged")
    stored = fittrace.get_run(run.info.run_id)
    assert stored.info.status == "FAILED"
    assert stored.info.end_time is not None
    assert stored.data.metrics == {"before_error": 1.0}
    assert fittrace.active_run() is None


def test_with_block_that_raises_in_a_nested_run_fails_only_the_child():
    with fittrace.start_run() as parent:
        with pytest.raises(KeyError):
            with fittrace.start_run(nested=True) as child:
                raise KeyError("boom")
        assert fittrace.active_run().info.run_id == parent.info.run_id
    assert fittrace.get_run(child.info.run_id).info.status == "FAILED"
    assert fittrace.get_run(parent.info.run_id).info.status == "FINISHED"


def test_run_ended_inside_its_with_block_keeps_its_status():
    with fittrace.start_run() as run:
        fittrace.end_run(status="KILLED")
    assert fittrace.get_run(run.info.run_id).info.status == "KILLED"


_LOGGING_SCRIPT = """
import fittrace
run = fittrace.start_run(run_name="script-run")
print(run.info.run_id, flush=True)
fittrace.log_params({"lr": 0.01, "epochs": 3})
fittrace.set_tag("stage", "train")
for step in range(300):
    fittrace.log_metric("loss", 1.0 / (step + 1), step=step)
"""


def _check_logged_data(run):
    assert run.data.params == {"lr": "0.01", "epochs": "3"}
    assert run.data.tags["stage"] == "train"
    history = fittrace.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(300))
    assert history[-1].value == 1.0 / 300


def test_script_that_exits_normally_without_end_run_is_finished(run_python):
    result = run_python(_LOGGING_SCRIPT)
    assert result.returncode == 0, result.stderr
    run = fittrace.get_run(result.stdout.split()[0])
    assert run.info.status == "FINISHED"
    assert run.info.end_time is not None
    _check_logged_data(run)


def test_script_with_sys_exit_0_is_finished(run_python):
    result = run_python(_LOGGING_SCRIPT + "import sys\nsys.exit(0)\n")
    assert result.returncode == 0, result.stderr
    run = fittrace.get_run(result.stdout.split()[0])
    assert run.info.status == "FINISHED"
    _check_logged_data(run)


def test_script_with_uncaught_exception_is_failed_with_all_its_data(run_python):
    result = run_python(_LOGGING_SCRIPT + "raise RuntimeError('training diverged')\n")
    assert result.returncode == 1
    assert "training diverged" in result.stderr
    assert "atexit" not in result.stderr and "Exception ignored" not in result.stderr
    run = fittrace.get_run(result.stdout.split()[0])
    assert run.info.status == "FAILED"
    assert run.info.end_time is not None
    _check_logged_data(run)


def test_script_with_uncaught_exception_inside_with_block_is_failed(run_python):
    code = """
    import fittrace
    with fittrace.start_run() as run:
        print(run.info.run_id, flush=True)
        fittrace.log_metric("m", 1.0)
        raise ValueError("bad batch")
    """
    result = run_python(code)
    assert result.returncode == 1 and "bad batch" in result.stderr
    run = fittrace.get_run(result.stdout.split()[0])
    assert run.info.status == "FAILED"
    assert run.data.metrics == {"m": 1.0}


def test_sigkilled_process_run_is_marked_killed_on_next_open(tmp_path, reopen):
    code = textwrap.dedent(
        """
        import sys, time
        import fittrace
        run = fittrace.start_run()
        fittrace.log_param("p", "v")
        for step in range(10):
            fittrace.log_metric("m", step, step=step)
        fittrace.flush()
        print(run.info.run_id, flush=True)
        time.sleep(60)
        """
    )
    (tmp_path / "victim.py").write_text(code)
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "victim.py")],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, "the victim process died before starting its run"
        # While the owner lives, opening the store leaves its run alone.
        assert reopen().get_run(run_id).info.status == "RUNNING"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    run = reopen().get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.info.end_time is not None
    assert run.data.params == {"p": "v"}
    assert len(fittrace.MlflowClient().get_metric_history(run_id, "m")) == 10
