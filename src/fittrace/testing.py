"""Helpers for test suites that use fittrace: start each test from a clean tracking state."""

from __future__ import annotations

from fittrace.entities import RunStatus
from fittrace.tracking import fluent, stores


def reset_tracking() -> None:
    """End runs left open (KILLED if another thread or task started them), flush and forget every open store,
    the tracking URI set in code and the current experiment."""
    while fluent.active_run() is not None:
        fluent.end_run()
    for run_id in list(fluent._open):
        try:
            fluent._end(run_id, RunStatus.KILLED)
        except Exception:
            fluent._open.pop(run_id, None)
    fluent._stack.set(())
    fluent._state.update(experiment=None, last_run=None)
    stores.set_tracking_uri(None)
    for recorder in list(stores._open.values()):
        try:
            recorder.flush()
        except Exception:  # a test may have broken its store on purpose
            pass
    stores._open.clear()
