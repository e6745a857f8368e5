"""The run recorder: validates writes at the call site and persists them in batches.

Metrics, params and tags go into an in-memory queue that a background thread
drains every ``FLUSH_INTERVAL_S`` seconds (or sooner when it fills) in one
transaction. ``flush()`` drains it now, ``end_run``/reads flush first, and
interpreter exit flushes what is left. With ``FITTRACE_SYNC=1`` every write is
persisted before the call returns. A crash loses at most one flush interval.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterable

from fittrace.entities import Metric, Param, RunTag
from fittrace.exceptions import ParamConflictError, StoreError
from fittrace.store.sql import SqlStore
from fittrace.tracking import validation

_logger = logging.getLogger("fittrace.recorder")

FLUSH_INTERVAL_S = 0.2
_WAKE_AT = 20_000
_METRIC, _PARAM, _TAG = 0, 1, 2
_recorders: weakref.WeakSet[Recorder] = weakref.WeakSet()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class Recorder:
    """Buffered, validated writes into one store."""

    def __init__(self, store: SqlStore, sync: bool | None = None) -> None:
        self.store = store
        self.sync = _env_flag("FITTRACE_SYNC") if sync is None else sync
        self._queue: collections.deque[tuple] = collections.deque()
        self._flush_lock = threading.Lock()
        self._params: dict[str, dict[str, str]] = {}
        self._params_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        _recorders.add(self)

    # -- writes --------------------------------------------------------------------
    def log_metric(
        self,
        run_id: str,
        key: str,
        value: object,
        timestamp: int | None = None,
        step: int | None = None,
    ) -> None:
        validation.validate_key(key, "Metric")
        row = (
            _METRIC,
            run_id,
            key,
            validation.metric_value(key, value),
            time.time_ns() // 1_000_000
            if timestamp is None
            else validation.integer("timestamp", timestamp),
            0 if step is None else validation.integer("step", step),
        )
        self._put([row])

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Metric] = (),
        params: Iterable[Param] = (),
        tags: Iterable[RunTag] = (),
    ) -> None:
        """Validate everything first, then queue it: a bad item means nothing of the batch is written."""
        now = time.time_ns() // 1_000_000
        rows: list[tuple] = []
        for m in metrics:
            validation.validate_key(m.key, "Metric")
            ts = now if m.timestamp is None else validation.integer("timestamp", m.timestamp)
            step = 0 if m.step is None else validation.integer("step", m.step)
            rows.append((_METRIC, run_id, m.key, validation.metric_value(m.key, m.value), ts, step))
        new_params = {}
        for p in params:
            validation.validate_key(p.key, "Param")
            new_params[p.key] = validation.param_value(p.key, p.value)
        for t in tags:
            key = validation.tag_key(t.key)
            rows.append((_TAG, run_id, key, validation.tag_value(key, t.value)))
        if new_params:
            self._check_params(run_id, new_params)
            rows.extend((_PARAM, run_id, k, v) for k, v in new_params.items())
        self._put(rows)

    def _check_params(self, run_id: str, new: dict[str, str]) -> None:
        """Params are immutable: the same value again is fine, another value is an error (nothing written)."""
        with self._params_lock:
            known = self._params.get(run_id)
            if known is None:
                known = self._params[run_id] = self.store.get_params(run_id)
            for key, value in new.items():
                old = known.get(key)
                if old is not None and old != value:
                    raise ParamConflictError(
                        f"Param {key!r} was already logged with value {old!r} in run {run_id}; "
                        f"cannot change it to {value!r}. Params are immutable: log a new run, or use a metric "
                        "or tag for values that change."
                    )
            known.update(new)

    def _put(self, rows: list[tuple]) -> None:
        if not rows:
            return
        if self.sync:
            self._write(rows)
            return
        self._queue.extend(rows)
        if self._thread is None or self._pid != os.getpid():
            self._start_thread()
        if len(self._queue) > _WAKE_AT:
            self._wake.set()

    # -- persistence ---------------------------------------------------------------
    def _start_thread(self) -> None:
        with self._flush_lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            if self._pid != os.getpid():  # forked child: the parent's queue and thread are not ours
                self._pid, self._queue = os.getpid(), collections.deque()
            self._thread = threading.Thread(target=self._loop, name="fittrace-writer", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL_S)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the writer must survive a transient store error; flush() retries
                _logger.exception("fittrace could not persist buffered run data; will retry")

    def flush(self) -> None:
        """Persist everything queued so far (raises StoreError if the store refuses it)."""
        with self._flush_lock:
            queue = self._queue
            rows = []
            try:
                while True:
                    rows.append(queue.popleft())
            except IndexError:
                pass
            if not rows:
                return
            try:
                self._write(rows)
            except Exception:
                queue.extendleft(reversed(rows))
                raise

    def _write(self, rows: list[tuple]) -> None:
        metrics, params, tags = [], [], []
        for row in rows:
            kind = row[0]
            if kind == _METRIC:
                metrics.append(row[1:])
            elif kind == _PARAM:
                params.append(row[1:])
            else:
                tags.append(row[1:])
        try:
            self.store.write_batch(metrics, params, tags)
        except StoreError:
            raise
        except Exception as e:
            raise StoreError(
                f"Could not write {len(rows)} records to {self.store.location!r}: {e}"
            ) from e

    def forget(self, run_id: str) -> None:
        """Drop cached state for a finished run."""
        with self._params_lock:
            self._params.pop(run_id, None)


def flush_all() -> None:
    for recorder in list(_recorders):
        if recorder._pid == os.getpid():
            try:
                recorder.flush()
            except Exception:
                _logger.exception("fittrace could not persist buffered run data at exit")


atexit.register(flush_all)
