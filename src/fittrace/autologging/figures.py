"""Figures drawn off the training process: autologging's plots cost a fit nothing.

``submit(client, run_id, artifact_file, render, doc)`` sends ``doc`` (JSON data), once the autologged
call in progress has returned (a deferred write of ``fittrace.tracking.pending``: the helper's start
does not compete with a short fit), to one helper process per interpreter, started on first use
(``python -m fittrace.autologging._figure_worker``),
which imports ``render`` ("module:function", ``function(doc) -> matplotlib Figure``), draws the
figure as PNG and sends the bytes back; a thread here writes them into the run's artifacts.
Until then the write is pending (``fittrace.tracking.pending``): the Client's artifact reads and
``flush()`` wait for it, and interpreter exit waits for every one.

Nothing happens where matplotlib is not installed. A helper that cannot start or dies is
reported once, and figures are skipped for the rest of the process.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import json
import logging
import os
import subprocess
import sys
import threading
from typing import Any

from fittrace.tracking import pending

_logger = logging.getLogger("fittrace.autologging")
_lock = threading.Lock()
_worker: _Worker | None = None
_broken = False


def available() -> bool:
    """Whether figures can be drawn here (matplotlib is installed and the helper has not failed)."""
    return not _broken and _has_matplotlib()


_matplotlib: list[bool] = []


def _has_matplotlib() -> bool:
    if not _matplotlib:
        _matplotlib.append(importlib.util.find_spec("matplotlib") is not None)
    return _matplotlib[0]


class _Worker:
    """The helper process, a thread starting and feeding it and a thread writing what it draws.

    Jobs wait in a queue here, never in a blocking pipe write, and the process is started by the
    feeding thread (``Popen`` waits for the child's ``exec``): a fit only enqueues.
    """

    def __init__(self) -> None:
        import queue

        self.pid = os.getpid()
        self.process: subprocess.Popen | None = None
        self.queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.jobs: dict[int, tuple[Any, str, str]] = {}
        self.jobs_lock = threading.Lock()
        self.next_id = 0
        self.gone = False  # the helper ended or never started: new jobs are skipped
        self.closing = False  # close() was called: the helper's end is expected
        threading.Thread(target=self._run, name="fittrace-figures-in", daemon=True).start()

    def send(self, repository: Any, run_id: str, artifact_file: str, render: str, doc: Any) -> None:
        with self.jobs_lock:
            if self.gone:
                return
            job_id, self.next_id = self.next_id, self.next_id + 1
            self.jobs[job_id] = (repository, run_id, artifact_file)
            pending.started(run_id)
        job = {"id": job_id, "render": render, "doc": doc}
        self.queue.put((json.dumps(job, default=str) + "\n").encode())

    def _start(self) -> subprocess.Popen:
        import fittrace

        package_root = os.path.dirname(os.path.dirname(os.path.abspath(fittrace.__file__)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("FITTRACE_AUTOLOG")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        env["MPLBACKEND"] = "Agg"
        return subprocess.Popen(
            [sys.executable, "-m", "fittrace.autologging._figure_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )

    def _run(self) -> None:
        global _broken
        try:
            self.process = self._start()
        except Exception as e:  # no executable, no fork, no pipes: jobs must not wait forever
            _broken = True
            _logger.warning(
                "fittrace cannot draw figures in a helper process (%s); skipping them", e
            )
            self._abandon(quietly=True)
            return
        threading.Thread(target=self._read, name="fittrace-figures-out", daemon=True).start()
        stdin = self.process.stdin
        try:
            while (line := self.queue.get()) is not None:
                stdin.write(line)  # type: ignore[union-attr]
                stdin.flush()  # type: ignore[union-attr]
            stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass  # the helper is gone: _read releases the jobs

    def _read(self) -> None:
        out = self.process.stdout  # type: ignore[union-attr]
        try:
            while header := out.readline():  # type: ignore[union-attr]
                frame = json.loads(header)
                data = out.read(frame.get("size", 0))  # type: ignore[union-attr]
                with self.jobs_lock:
                    repository, run_id, artifact_file = self.jobs.pop(frame["id"])
                try:
                    if "error" in frame:
                        _logger.warning(
                            "fittrace could not draw %s: %s", artifact_file, frame["error"]
                        )
                    else:
                        repository.write_bytes(artifact_file, data)
                except Exception as e:
                    _logger.warning("fittrace could not write %s: %s", artifact_file, e)
                finally:
                    pending.finished(run_id)
        finally:
            self._abandon()

    def _abandon(self, quietly: bool = False) -> None:
        """The helper ended (or never started): release every write still waiting for it, and
        unless close() ended it, skip figures from now on (a dead helper would drop them)."""
        global _broken
        with self.jobs_lock:
            self.gone = True
            jobs, self.jobs = self.jobs, {}
            expected = self.closing
        if not expected:
            _broken = True
        if not (quietly or expected):
            undrawn = ", ".join(sorted(f for _, _, f in jobs.values())) or "none pending"
            _logger.warning(
                "fittrace's figure helper stopped (not drawn: %s); skipping figures from now on",
                undrawn,
            )
        for _, run_id, _ in jobs.values():
            pending.finished(run_id)

    def close(self) -> None:
        with self.jobs_lock:
            self.closing = True
        self.queue.put(None)


def submit(client: Any, run_id: str, artifact_file: str, render: str, doc: Any) -> None:
    """Draw ``render(doc)`` as the run's ``artifact_file`` (PNG) in the helper process."""
    if not available():
        return
    send = functools.partial(
        _send, client.artifact_repository(run_id), run_id, artifact_file, render, doc
    )
    pending.defer(run_id, artifact_file, send)


def _send(repository: Any, run_id: str, artifact_file: str, render: str, doc: Any) -> None:
    global _worker
    with _lock:
        if _worker is None or _worker.pid != os.getpid():
            _worker = _Worker()
        _worker.send(repository, run_id, artifact_file, render, doc)


@atexit.register
def _finish() -> None:
    """Let figures still being sent or drawn reach their runs, then let the helper end."""
    pending.wait()
    worker = _worker
    if worker is not None and worker.pid == os.getpid():
        worker.close()
