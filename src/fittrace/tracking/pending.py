"""Artifact writes still in progress for a run (figures drawn in another process, writes deferred
to a background thread).

Whoever starts one calls ``started(run_id)`` and, however it ends, ``finished(run_id)``;
reading a run's artifacts through the Client (``list_artifacts``, ``download_artifacts``)
and ``flush()`` wait for them first, so a read right after an autologged fit sees its files.

``defer(run_id, what, write)`` runs ``write()`` later, on one background thread per process, as
such a pending write; while an autologged call runs (``holding``), deferred writes wait for it to
return (at most ``HOLD_S``, and not at all once someone waits for them), so that they do not
compete with it for the interpreter. Reading a run (``get_run``, ``search_runs``) and ending it
wait for its deferred writes, except where autologging ends the run it started for a call
(``not_awaited_at_end``: the call returns first); interpreter exit waits for every pending write.
"""

from __future__ import annotations

import _thread
import atexit
import collections
import contextlib
import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

WAIT_S = 120.0
END_WAIT_S = 30.0  # the longest a run's end waits for its deferred writes (a slow `git diff`...)
HOLD_S = 1.0
_logger = logging.getLogger("fittrace.tracking")
_changed = threading.Condition()
_counts: collections.Counter[str] = collections.Counter()
_deferred: collections.Counter[str] = collections.Counter()  # those of _counts on the thread
_jobs: collections.deque[tuple[float, str, str, Callable[[], None]]] = collections.deque()
_runner: int | None = None  # the ident of this process's background thread
_holding = 0  # autologged calls in progress
_waiting = 0  # threads waiting for pending writes
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
    if run_id is None:
        return _wait_for(lambda: not _counts, timeout)
    return _wait_for(lambda: _counts[run_id] <= 0, timeout)


def wait_deferred(run_id: str | None = None, timeout: float = WAIT_S) -> bool:
    """Wait until the run's (or every run's) deferred writes are done; False on timeout."""
    if run_id is None:
        return _wait_for(lambda: not _deferred, timeout)
    return _wait_for(lambda: _deferred[run_id] <= 0, timeout)


def wait_at_end(run_id: str) -> None:
    """When ``run_id`` ends: let its deferred writes finish (unless ``not_awaited_at_end``)."""
    if not _not_awaited.get():
        wait_deferred(run_id, END_WAIT_S)


def _wait_for(done: Callable[[], bool], timeout: float) -> bool:
    global _waiting
    with _changed:
        if done() or threading.get_ident() == _runner:  # a write cannot wait for itself
            return done()
        _waiting += 1  # held writes run now
        _changed.notify_all()
        try:
            return _changed.wait_for(done, timeout)
        finally:
            _waiting -= 1


def defer(run_id: str, what: str, write: Callable[[], None]) -> None:
    """Run ``write()`` on the background thread; a failure is a warning about ``what`` it writes."""
    global _runner
    with _changed:
        _counts[run_id] += 1
        _deferred[run_id] += 1
        _jobs.append((time.monotonic(), run_id, what, write))
        if _runner is None:  # first use, or a forked child (which has no such thread)
            # not threading.Thread, whose start() waits until the thread runs: right after a
            # fit, the numeric libraries' spinning worker threads can hold it off for 3 ms
            _runner = _thread.start_new_thread(_run_deferred, ())
            atexit.register(wait)  # after the recorder's final flush was registered: runs before it
        _changed.notify_all()


def _next_job() -> tuple[float, str, str, Callable[[], None]]:
    with _changed:
        while True:
            held_for = HOLD_S - (time.monotonic() - _jobs[0][0]) if _jobs else None
            if held_for is not None and (not _holding or _waiting or held_for <= 0):
                return _jobs.popleft()
            _changed.wait(held_for)


def _run_deferred() -> None:
    # a thread of _thread's: named here (logging's threadName), and not traced by the tracers
    # and profilers threading.settrace/setprofile install
    threading.current_thread().name = "fittrace-deferred"
    while True:
        _, run_id, what, write = _next_job()
        try:
            write()
        except BaseException as exc:  # the thread must live on: later writes are waited for
            _logger.warning("fittrace could not record %s of run %s: %s", what, run_id, exc)
            _logger.debug("the failure", exc_info=True)
        finally:
            with _changed:
                _deferred[run_id] -= 1
                if _deferred[run_id] <= 0:
                    del _deferred[run_id]
            finished(run_id)


@contextlib.contextmanager
def holding() -> Iterator[None]:
    """Deferred writes wait while the block (an autologged call) runs."""
    global _holding
    with _changed:
        _holding += 1
    try:
        yield
    finally:
        with _changed:
            _holding -= 1
            _changed.notify_all()


@contextlib.contextmanager
def not_awaited_at_end() -> Iterator[None]:
    """Runs ended inside the block do not wait for their deferred writes."""
    token = _not_awaited.set(True)
    try:
        yield
    finally:
        _not_awaited.reset(token)


def _forget_parent_jobs() -> None:
    """In a forked child: every write pending at the fork is the parent's (its queued jobs, and
    figures only the parent's reader thread will see back), and so is the background thread."""
    global _changed, _runner, _waiting
    _changed = threading.Condition()
    _counts.clear()
    _deferred.clear()
    _jobs.clear()
    _runner, _waiting = None, 0


# The state is copied into a child while no other thread is changing it.
os.register_at_fork(
    before=lambda: _changed.acquire(),
    after_in_parent=lambda: _changed.release(),
    after_in_child=_forget_parent_jobs,
)
