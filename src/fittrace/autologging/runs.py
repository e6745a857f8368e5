"""Run bookkeeping for autologging: the recorder seam, user runs already used, and model -> run links.

``recorder`` is the one object through which the machinery talks to the
tracking API (tests swap it for a failing one to inject faults).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

from fittrace import tags

AUTOLOGGING_TAG = tags.AUTOLOGGING
PARENT_TAG = tags.PARENT_RUN_ID


class Recorder:
    """Run lifecycle and writes for autologging, on top of fittrace's fluent API and Client."""

    def client(self) -> Any:
        from fittrace.tracking.client import Client

        return Client()

    def active_run_id(self) -> str | None:
        from fittrace.tracking import fluent

        run = fluent.active_run()
        return run.info.run_id if run is not None else None

    def start_run(self, tags: Mapping[str, str], nested: bool) -> str:
        """Start a run that is the active run of this thread/task until ``end_run``."""
        from fittrace.tracking import fluent

        return fluent.start_run(tags=dict(tags), nested=nested).info.run_id

    def sample_system_metrics(self, run_id: str, requested: bool | None) -> None:
        """Apply the autolog option ``log_system_metrics`` to a run autologging started
        (None: leave it to ``enable_system_metrics_logging()`` and its variable)."""
        from fittrace.tracking import system_metrics

        if requested:
            system_metrics.start(self.client(), run_id)
        elif requested is not None:
            system_metrics.stop(run_id)

    def start_implicit_run(self, tags: Mapping[str, str]) -> str:
        """Start a run on the user's behalf that their own next ``start_run`` ends first.

        It counts as already holding an autologged call, so other autologged fits
        made while it is open become child runs of it.
        """
        from fittrace.tracking import fluent

        run_id = self.start_run(tags, nested=False)
        fluent.mark_implicit(run_id)
        claim_user_run(run_id)
        return run_id

    def end_run(self, run_id: str, status: str) -> None:
        from fittrace.tracking import fluent

        active = fluent.active_run()
        if active is not None and active.info.run_id == run_id:
            fluent.end_run(status=status)
        else:
            self.client().set_terminated(run_id, status=status)

    def create_child_run(
        self, parent_run_id: str, tags: Mapping[str, str], run_name: str | None
    ) -> str:
        """Create (not activate) a run under ``parent_run_id``, in the parent's experiment."""
        client = self.client()
        parent = client.get_run(parent_run_id)
        tags = {**tags, PARENT_TAG: parent_run_id}
        return client.create_run(
            parent.info.experiment_id, tags=tags, run_name=run_name
        ).info.run_id

    @contextlib.contextmanager
    def activated(self, run_id: str) -> Iterator[None]:
        """Make an existing run the active run of this thread/task for the block, without ending it."""
        from fittrace.tracking import fluent

        run = self.client().get_run(run_id)
        token = fluent._stack.set(
            (*fluent._stack.get(), fluent.ActiveRun(run.info, run.data, run.inputs))
        )
        try:
            yield
        finally:
            fluent._stack.reset(token)

    def terminate(self, run_id: str, status: str) -> None:
        self.client().set_terminated(run_id, status=status)


recorder = Recorder()

_lock = threading.Lock()
_autologged_user_runs: set[str] = set()
_model_runs: dict[int, str] = {}


def claim_user_run(run_id: str) -> bool:
    """Mark a user-started run as holding an autologged call; False if one was already recorded there."""
    with _lock:
        if run_id in _autologged_user_runs:
            return False
        _autologged_user_runs.add(run_id)
        return True


def remember_run(obj: object, run_id: str) -> None:
    """Link ``obj`` (a fitted model) to the run it was fitted in, for as long as ``obj`` lives.

    Integrations use it so that later calls on the model (evaluate, score,
    post-training metrics) log into the training run. Objects that cannot be
    weakly referenced are not remembered.
    """
    key = id(obj)
    try:
        weakref.finalize(obj, _forget, key, run_id)
    except TypeError:
        return
    with _lock:
        _model_runs[key] = run_id


def run_for(obj: object) -> str | None:
    """The run ``obj`` was last fitted in (see ``remember_run``), or None."""
    return _model_runs.get(id(obj))


def _forget(key: int, run_id: str) -> None:
    with _lock:
        if _model_runs.get(key) == run_id:
            del _model_runs[key]
