"""A run's environment and uncommitted code, recorded off the fit path.

``record`` queues the work for one background thread per process and returns
at once; ``wait`` (called when the run ends) lets it finish first. The thread
adds the machine and accelerator tags, ``fittrace.source.git.dirty``, and the
artifacts ``code/diff.patch``, ``code/untracked.txt`` (names only, never the
files) and ``environment/requirements.txt``. Everything it computes is cached
per process, so the second run of a process costs a few file writes. A
failure is logged, never raised: provenance must not break a training.

``FITTRACE_LOG_PROVENANCE=false`` switches this capture off (for example where
an uncommitted diff may hold secrets); the tags read at run creation (commit,
branch, remote, script path and hash, Python and framework versions) remain.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Any

from fittrace import tags as tags_
from fittrace.entities import RunTag
from fittrace.tracking import environment, gitinfo

_logger = logging.getLogger("fittrace.provenance")

DIFF_FILE = "code/diff.patch"
UNTRACKED_FILE = "code/untracked.txt"
WAIT_S = 30.0
ENABLE_ENV = "FITTRACE_LOG_PROVENANCE"

_jobs: queue.SimpleQueue = queue.SimpleQueue()
_pending: dict[str, threading.Event] = {}
_lock = threading.Lock()
_worker: dict[str, Any] = {"pid": None}


def enabled() -> bool:
    return os.environ.get(ENABLE_ENV, "").strip().lower() not in ("0", "false", "no", "off")


def record(client: Any, run_id: str, source_dir: str) -> None:
    """Queue the capture of ``run_id``'s environment and working-tree changes."""
    done = threading.Event()
    with _lock:
        _pending[run_id] = done
        if _worker["pid"] != os.getpid():  # first use, or a forked child without the thread
            _worker["pid"] = os.getpid()
            threading.Thread(target=_loop, name="fittrace-provenance", daemon=True).start()
    _jobs.put((client, run_id, source_dir, done))


def wait(run_id: str, timeout: float = WAIT_S) -> None:
    """Let the queued capture of ``run_id`` finish (at most ``timeout`` seconds)."""
    done = _pending.get(run_id)
    if done is not None:
        done.wait(timeout)


def _loop() -> None:
    while True:
        client, run_id, source_dir, done = _jobs.get()
        try:
            _capture(client, run_id, source_dir)
        except Exception:
            _logger.warning(
                "fittrace could not record the environment of run %s", run_id, exc_info=True
            )
        finally:
            with _lock:
                _pending.pop(run_id, None)
            done.set()


def _capture(client: Any, run_id: str, source_dir: str) -> None:
    tags = {**environment.machine_tags(), **environment.accelerator_tags()}
    files = {environment.REQUIREMENTS_FILE: environment.requirements()}
    repo = gitinfo.checkout(source_dir)
    if repo is not None and repo.commit:
        found = gitinfo.changes(repo)
        if found.dirty is not None:
            tags[tags_.GIT_DIRTY] = str(found.dirty).lower()
        if found.diff:
            files[DIFF_FILE] = found.diff
        if found.untracked:
            files[UNTRACKED_FILE] = "".join(p + "\n" for p in found.untracked)
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    artifacts = client.artifact_repository(run_id)
    for path, text in files.items():
        artifacts.write_bytes(path, text.encode("utf-8", "surrogateescape"))
