"""Artifact writes still in progress for a run (e.g. figures drawn in another process).

Whoever starts one calls ``started(run_id)`` and, however it ends, ``finished(run_id)``;
reading a run's artifacts through the Client (``list_artifacts``, ``download_artifacts``)
and ``flush()`` wait for them first, so a read right after an autologged fit sees its files.
"""

from __future__ import annotations

import collections
import threading

WAIT_S = 120.0
_changed = threading.Condition()
_counts: collections.Counter[str] = collections.Counter()


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
