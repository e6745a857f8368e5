"""Artifact writes still in progress for a run (figures drawn in another process, writes deferred
to a background thread).

Whoever starts one calls ``started(run_id)`` and, however it ends, ``finished(run_id)``;
reading a run's artifacts through the Client (``list_artifacts``, ``download_artifacts``)
and ``flush()`` wait for them first, so a read right after an autologged fit sees its files.

``defer(run_id, write)`` runs ``write()`` later, on one background thread per process, as
such a pending write. Ending a run waits for its deferred writes (``wait_deferred``), except
where autologging ends the run it started for a call (``not_awaited_at_end``: the call returns
first); interpreter exit waits for every pending write.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import contextvars
import logging
import os
import threading
from collections.abc import Callable, Iterator

WAIT_S = 120.0
_logger = logging.getLogger("fittrace.tracking")
_changed = threading.Condition()
_counts: collections.Counter[str] = collections.Counter()
_deferred: collections.Counter[str] = collections.Counter()  # those of _counts on the thread
_jobs: list[tuple[str, Callable[[], None]]] = []
_thread_pid: list[int] = []
_not_awaited: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "fittrace_end_not_awaited", default=False
)


def started(run_id: str) -> None:
    with _changed:
        _counts[run_id] += 1


def finished(run_id: str) -> None:
    with _changed:
        _counts[run_id] -= 1
        if _counts[run_id] <= 0:
            del _counts[run_id]
        _changed.notify_all()


def wait(run_id: str | None = None, timeout: float = WAIT_S) -> bool:
    """Wait until the run's (or, with None, every run's) pending writes are done; False on timeout."""
    with _changed:
        if run_id is None:
            return _changed.wait_for(lambda: not _counts, timeout)
        return _changed.wait_for(lambda: _counts[run_id] <= 0, timeout)


def defer(run_id: str, write: Callable[[], None]) -> None:
    """Run ``write()`` on the background thread; a failure is logged as a warning."""
    with _changed:
        _counts[run_id] += 1
        _deferred[run_id] += 1
        _jobs.append((run_id, write))
        if _thread_pid != [os.getpid()]:  # first use, or a forked child without the thread
            _thread_pid[:] = [os.getpid()]
            threading.Thread(target=_run_deferred, name="fittrace-deferred", daemon=True).start()
            atexit.register(wait)  # after the recorder's final flush was registered: runs before it
        _changed.notify_all()


def _run_deferred() -> None:
    while True:
        with _changed:
            _changed.wait_for(lambda: _jobs)
            run_id, write = _jobs.pop(0)
        try:
            write()
        except Exception as exc:
            _logger.warning("fittrace could not finish a write for run %s: %s", run_id, exc)
        finally:
            with _changed:
                _deferred[run_id] -= 1
                if _deferred[run_id] <= 0:
                    del _deferred[run_id]
            finished(run_id)


def wait_deferred(run_id: str, timeout: float = WAIT_S) -> None:
    """When ``run_id`` ends: let its deferred writes finish (unless ``not_awaited_at_end``)."""
    if _not_awaited.get():
        return
    with _changed:
        _changed.wait_for(lambda: _deferred[run_id] <= 0, timeout)


@contextlib.contextmanager
def not_awaited_at_end() -> Iterator[None]:
    """Runs ended inside the block do not wait for their deferred writes."""
    token = _not_awaited.set(True)
    try:
        yield
    finally:
        _not_awaited.reset(token)


def _forget_parent_jobs() -> None:
    """In a forked child: the parent's queued writes are the parent's."""
    global _changed
    _changed = threading.Condition()
    for run_id, count in _deferred.items():
        _counts[run_id] -= count
        if _counts[run_id] <= 0:
            del _counts[run_id]
    _deferred.clear()
    _jobs.clear()


os.register_at_fork(after_in_child=_forget_parent_jobs)
