"""The run recorder: validates writes at the call site and persists them in batches.

Metrics, params and tags are buffered in memory and written by a background
thread every ``FLUSH_INTERVAL_S`` seconds, in transactions sized to take about
``CHUNK_S`` each (to a tracking server: one request for all). ``flush()`` writes them now, ``end_run``/reads flush first,
and interpreter exit (also a multiprocessing worker's exit or SIGTERM) flushes
what is left. With ``FITTRACE_SYNC=1`` every write is persisted before the call
returns.

Durability bound: no row stays unwritten longer than about ``MAX_AGE_S``. A
producer that outruns the writer (logging faster than the store writes, or
starving the writer thread of the GIL) writes the backlog itself, inline,
before its log call returns, so a crash loses about the last ``MAX_AGE_S``
seconds of rows (plus one transaction) at any logging rate and the buffer
stays small, as long as the store keeps up.

One bad row never blocks the others: a batch the store refuses is split until
the refused rows are found; each is dropped with one ``StoreWarning`` naming
its run and key. A store that refuses everything (down, read-only, unreachable)
keeps the rows buffered (at most ``MAX_BUFFERED_ROWS``), warns once and is
retried with a growing back-off.
"""

from __future__ import annotations

import _thread
import atexit
import collections
import contextlib
import logging
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterable, Iterator

from fittrace.entities import Metric, Param, RunTag
from fittrace.exceptions import ParamConflictError, StoreError, StoreWarning
from fittrace.store.sql import SqlStore
from fittrace.tracking import validation

_logger = logging.getLogger("fittrace.recorder")

FLUSH_INTERVAL_S = 0.1
MAX_AGE_S = 0.15
CHUNK_S = 0.025
MAX_BUFFERED_ROWS = 500_000
MAX_BACKOFF_S = 10.0
_CHECK_EVERY = 256  # rows between two looks at the backlog's age
_MIN_CHUNK = 256
_recorders: weakref.WeakSet[Recorder] = weakref.WeakSet()
_monotonic = time.monotonic
_valid_keys = validation.valid_keys
_INT64_MIN, _INT64_MAX = validation.INT64_MIN, validation.INT64_MAX
_time_ns = time.time_ns

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def _env_flag(name: str) -> bool:
    text = os.environ.get(name, "").strip().lower()
    if text not in _TRUE and text not in _FALSE:
        _warn(f"{name}={os.environ[name]!r} is not one of 1/0, true/false, yes/no, on/off; ignored")
    return text in _TRUE


def _warn(message: str) -> None:
    """A StoreWarning; a warnings filter set to "error" cannot turn it into a crash of the writer."""
    try:
        warnings.warn(message, StoreWarning, stacklevel=3)
    except Exception:
        _logger.warning(message)


class _Rows:
    """A batch of rows by table. metrics rows are (run_id, key, value, timestamp, step);
    params and tags (run_id, key, value). ``since`` is when the oldest of them was logged."""

    __slots__ = ("metrics", "params", "tags", "since")

    def __init__(
        self,
        metrics: list | None = None,
        params: list | None = None,
        tags: list | None = None,
        since: float | None = None,
    ) -> None:
        self.metrics = [] if metrics is None else metrics
        self.params = [] if params is None else params
        self.tags = [] if tags is None else tags
        self.since = since

    def __len__(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)

    def chunks(self, size: int) -> Iterator[_Rows]:
        """Pieces of at most ``size`` metric rows; params and tags go with the first."""
        for i in range(0, max(len(self.metrics), 1), size):
            first = i == 0
            yield _Rows(
                self.metrics[i : i + size],
                self.params if first else [],
                self.tags if first else [],
                self.since,
            )

    def halves(self) -> tuple[_Rows, _Rows]:
        tagged = [(0, r) for r in self.metrics] + [(1, r) for r in self.params]
        tagged += [(2, r) for r in self.tags]
        middle = len(tagged) // 2
        return _Rows.of(tagged[:middle], self.since), _Rows.of(tagged[middle:], self.since)

    @staticmethod
    def of(tagged: list[tuple[int, tuple]], since: float | None) -> _Rows:
        rows = _Rows(since=since)
        tables = (rows.metrics, rows.params, rows.tags)
        for table, row in tagged:
            tables[table].append(row)
        return rows

    def extend(self, other: _Rows) -> None:
        self.metrics += other.metrics
        self.params += other.params
        self.tags += other.tags
        if other.since is not None and (self.since is None or other.since < self.since):
            self.since = other.since


def _pop_all(queue: collections.deque) -> list:
    """What is in ``queue`` now, oldest first (other threads may append meanwhile)."""
    pop = queue.popleft
    return [pop() for _ in range(len(queue))]


class _Unwritten(Exception):
    """The store refused every write (``cause``, a StoreError): ``rows`` are still to be written."""

    def __init__(self, rows: _Rows, cause: StoreError) -> None:
        super().__init__(str(cause))
        self.rows, self.cause = rows, cause


class Recorder:
    """Buffered, validated writes into one store."""

    def __init__(self, store: SqlStore, sync: bool | None = None) -> None:
        self.store = store
        self.sync = _env_flag("FITTRACE_SYNC") if sync is None else sync
        self._params: dict[str, dict[str, str]] = {}
        self._warned_rows: set[tuple[str, str]] = set()
        self._row_s = 5e-6  # seconds the store takes per row, measured as rows are written
        self._remote = bool(getattr(store, "is_remote", False))
        self._new_process()
        _recorders.add(self)

    def _new_process(self) -> None:
        """Start with nothing buffered and no writer: in a forked child, the parent's rows and
        thread are the parent's (its locks may even be held by a thread the child does not have)."""
        # Buffered rows: deques, whose append and popleft need no lock, so logging takes none.
        self._metrics: collections.deque[tuple] = collections.deque()
        self._param_rows: collections.deque[tuple] = collections.deque()
        self._tag_rows: collections.deque[tuple] = collections.deque()
        self._since: float | None = None  # about when the oldest buffered row was logged
        self._inflight_since: float | None = None  # the same for the rows being written
        self._check_at = 1  # buffered rows at which to look at the backlog (1: start the writer)
        self._flush_lock = threading.Lock()
        self._flushing: int | None = None  # the thread holding _flush_lock
        self._params_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: int | None = None  # the writer thread's ident, once started
        self._failing: str | None = None  # why the store refuses writes, while it does
        self._dropped = 0

    def _buffered(self) -> int:
        return len(self._metrics) + len(self._param_rows) + len(self._tag_rows)

    # -- writes --------------------------------------------------------------------
    def log_metric(
        self,
        run_id: str,
        key: str,
        value: object,
        timestamp: int | None = None,
        step: int | None = None,
    ) -> None:
        # Plain str/float/int arguments are checked inline: this runs for every metric logged.
        row = (
            run_id,
            key
            if type(key) is str and key in _valid_keys
            else validation.validate_key(key, "Metric"),
            value if type(value) is float else validation.metric_value(key, value),
            _time_ns() // 1_000_000
            if timestamp is None
            else validation.integer("timestamp", timestamp),
            step
            if type(step) is int and _INT64_MIN <= step <= _INT64_MAX
            else 0
            if step is None
            else validation.integer("step", step),
        )
        if self.sync:
            self._write(_Rows([row]))
            return
        metrics = self._metrics
        metrics.append(row)
        if len(metrics) >= self._check_at:
            self._relieve()

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Metric] = (),
        params: Iterable[Param] = (),
        tags: Iterable[RunTag] = (),
    ) -> None:
        """Validate everything first, then buffer it: a bad item means nothing of the batch is written."""
        now = _time_ns() // 1_000_000
        rows = _Rows()
        for m in metrics:
            validation.validate_key(m.key, "Metric")
            ts = now if m.timestamp is None else validation.integer("timestamp", m.timestamp)
            step = 0 if m.step is None else validation.integer("step", m.step)
            rows.metrics.append((run_id, m.key, validation.metric_value(m.key, m.value), ts, step))
        new_params = {}
        for p in params:
            validation.validate_key(p.key, "Param")
            new_params[p.key] = validation.param_value(p.key, p.value)
        for t in tags:
            key = validation.tag_key(t.key)
            rows.tags.append((run_id, key, validation.tag_value(key, t.value)))
        if new_params:
            self._check_params(run_id, new_params)
            rows.params.extend((run_id, k, v) for k, v in new_params.items())
        if not rows:
            return
        if self.sync:
            self._write(rows)
            return
        self._metrics.extend(rows.metrics)
        self._param_rows.extend(rows.params)
        self._tag_rows.extend(rows.tags)
        if self._buffered() >= self._check_at:
            self._relieve()

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

    def forget(self, run_id: str) -> None:
        """Drop cached state for a finished run."""
        with self._params_lock:
            self._params.pop(run_id, None)

    # -- backpressure --------------------------------------------------------------
    def _relieve(self) -> None:
        """Look at the backlog (every _CHECK_EVERY rows): write it now, on the logging thread,
        if its oldest row would otherwise be written later than MAX_AGE_S after it was logged."""
        if self._thread is None:
            self._start_thread()
        size = self._buffered()
        self._check_at = size + _CHECK_EVERY
        now = _monotonic()
        if self._since is None:  # the first look since the writer took the rows before
            self._since = now
        if self._failing is not None:  # nothing to wait for; only keep memory bounded
            if size > MAX_BUFFERED_ROWS:
                self._drop_newest(size - MAX_BUFFERED_ROWS)
            return
        oldest = self._since
        inflight = self._inflight_since
        if inflight is not None and inflight < oldest:
            oldest = inflight
        if now - oldest + size * self._row_s < MAX_AGE_S:
            return
        with self._writing(timeout=1.0) as writing:
            if not writing:  # the store is this slow: keep going
                return
            try:
                self._drain()
            except Exception as exc:  # reported once; the writer thread retries
                self._note_failure(exc)

    def _drop_newest(self, extra: int) -> None:
        pop = self._metrics.pop
        for _ in range(min(extra, len(self._metrics))):
            pop()
        if not self._dropped:
            _warn(
                f"fittrace is dropping new metrics: {MAX_BUFFERED_ROWS:,} rows are already waiting "
                f"for {self.store.location!r}, which refuses writes ({self._failing})"
            )
        self._dropped += extra

    # -- persistence ---------------------------------------------------------------
    def _start_thread(self) -> None:
        with self._flush_lock:
            if self._thread is not None:
                return
            # not threading.Thread, whose start() waits until the thread runs: right after a
            # fit, the numeric libraries' spinning worker threads can hold it off for 3 ms
            self._thread = _thread.start_new_thread(self._loop, ())
        _flush_at_worker_exit()

    def _loop(self) -> None:
        threading.current_thread().name = "fittrace-writer"  # a thread of _thread's: see pending
        delay = FLUSH_INTERVAL_S
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:
                self._note_failure(exc)
                delay = min(delay * 2, MAX_BACKOFF_S)
            else:
                delay = FLUSH_INTERVAL_S

    def _note_failure(self, exc: BaseException) -> None:
        if self._failing is None:
            n = self._buffered()
            _warn(
                f"fittrace cannot write to {self.store.location!r} ({exc}); {n:,} buffered rows are "
                "kept and retried with a growing back-off"
            )
        self._failing = str(exc)

    def flush(self, timeout: float | None = None) -> None:
        """Persist everything buffered so far (raises StoreError if the store refuses it).

        With ``timeout``, give up after waiting that long for another thread's flush.
        """
        with self._writing(timeout) as writing:
            if writing:
                self._drain()

    @contextlib.contextmanager
    def _writing(self, timeout: float | None) -> Iterator[bool]:
        """Hold the one-writer lock (yield False if not got within ``timeout``). A SIGTERM that
        interrupts this thread's own write is acted on when the write is done."""
        if not self._flush_lock.acquire(timeout=-1 if timeout is None else timeout):
            yield False
            return
        try:
            self._flushing = threading.get_ident()
            yield True
        finally:
            self._flushing = None
            self._flush_lock.release()
            if _deferred_signal and _deferred_signal[0][1] == threading.get_ident():
                _flush_then_terminate(_deferred_signal.pop()[0], None)

    def _drain(self) -> None:
        """Write what is buffered (the caller holds _flush_lock); on failure put it back first in line."""
        if self._thread is not None:  # else the next write must still start it
            self._check_at = _CHECK_EVERY
        since, self._since = self._since, None
        rows = _Rows(
            _pop_all(self._metrics), _pop_all(self._param_rows), _pop_all(self._tag_rows), since
        )
        if not rows:
            return
        self._inflight_since = since
        try:
            self._write_isolating(rows)
        except _Unwritten as unwritten:
            left = unwritten.rows
            self._metrics.extendleft(reversed(left.metrics))
            self._param_rows.extendleft(reversed(left.params))
            self._tag_rows.extendleft(reversed(left.tags))
            self._since = left.since
            raise unwritten.cause from None
        finally:
            self._inflight_since = None
        if self._failing is not None:
            _logger.warning("fittrace writes to %r work again", self.store.location)
            self._failing = None

    def _write_isolating(self, rows: _Rows) -> None:
        """Write ``rows`` in transactions of about CHUNK_S each; rows the store refuses while it
        accepts others are dropped with a warning; raise _Unwritten if it accepts nothing."""
        size = max(_MIN_CHUNK, int(CHUNK_S / self._row_s))
        if self._remote:  # one request for all: a server commits what it received even if
            size = max(size, len(rows.metrics))  # this process dies, and round trips cost most
        todo = collections.deque(rows.chunks(size))
        while todo:
            piece = todo[0]
            start = time.perf_counter()
            try:
                self._write(piece)
            except StoreError as exc:
                if not self._accepts_writes():
                    remaining = _Rows()
                    for left in todo:
                        remaining.extend(left)
                    raise _Unwritten(remaining, exc) from exc
                todo.popleft()
                if len(piece) == 1:
                    self._drop(piece, exc)
                else:
                    todo.extendleft(reversed(piece.halves()))
                continue
            todo.popleft()
            if len(piece) >= _MIN_CHUNK:
                self._row_s = (self._row_s + (time.perf_counter() - start) / len(piece)) / 2

    def _accepts_writes(self) -> bool:
        """Whether the store commits an empty batch: if so, a refused batch is the rows' fault."""
        try:
            self.store.write_batch([], [], [])
        except Exception:
            return False
        return True

    def _drop(self, piece: _Rows, exc: StoreError) -> None:
        tables = {"metric": piece.metrics, "param": piece.params, "tag": piece.tags}
        kind, rows = next((kind, rows) for kind, rows in tables.items() if rows)
        run_id, key = rows[0][0], rows[0][1]
        if kind == "param":  # not stored: the same value may be logged again
            with self._params_lock:
                self._params.get(run_id, {}).pop(key, None)
        if (run_id, key) in self._warned_rows:
            return
        self._warned_rows.add((run_id, key))
        cause = exc.__cause__ or exc
        _warn(
            f"fittrace dropped {kind} {key!r} of run {run_id}: {self.store.location!r} refused it "
            f"({type(cause).__name__}: {cause}); everything else was stored"
        )

    def _write(self, rows: _Rows) -> None:
        try:
            self.store.write_batch(rows.metrics, rows.params, rows.tags)
        except StoreError:
            raise
        except Exception as e:
            raise StoreError(
                f"Could not write {len(rows)} records to {self.store.location!r}: {e}"
            ) from e


def flush_all(timeout: float | None = None) -> None:
    """Flush every recorder of this process; a store that refuses gives a warning, not a traceback."""
    for recorder in list(_recorders):
        try:
            recorder.flush(timeout)
        except Exception as exc:
            _warn(f"fittrace could not store {recorder._buffered():,} buffered rows: {exc}")


def _after_fork_in_child() -> None:
    """Before the child's first write: its own empty buffers, locks and (lazily) writer."""
    for recorder in list(_recorders):
        recorder._new_process()
    _worker_exit_guarded.clear()
    _deferred_signal.clear()


_worker_exit_guarded: list[int] = []


def _flush_at_worker_exit() -> None:
    """In a multiprocessing worker (any start method, Pool, joblib), flush when it leaves.

    Workers end through ``os._exit`` after multiprocessing's own exit function,
    which runs ``multiprocessing.util.Finalize`` callbacks; a Pool's ``terminate()``
    (also leaving ``with Pool()``) sends SIGTERM, so a default SIGTERM disposition is
    replaced by one that flushes, then dies of SIGTERM as before.
    """
    if _worker_exit_guarded:
        return
    _worker_exit_guarded.append(os.getpid())
    mp = sys.modules.get("multiprocessing")
    if mp is None or mp.parent_process() is None:
        return  # not a multiprocessing worker: atexit covers it
    import signal
    from multiprocessing import util

    util.Finalize(None, flush_all, exitpriority=100)
    if threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _flush_then_terminate)


_deferred_signal: list[tuple[int, int]] = []  # (signal, thread whose write it waits for)


def _flush_then_terminate(signum: int, frame: object) -> None:
    """SIGTERM in a worker: flush, then die of the signal as the default disposition would."""
    import signal

    signal.signal(signum, signal.SIG_DFL)
    me = threading.get_ident()
    if any(recorder._flushing == me for recorder in list(_recorders)):
        # This thread is in the middle of a write: finish it first.
        _deferred_signal.append((signum, me))
        return
    flush_all(timeout=5.0)
    os.kill(os.getpid(), signum)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(flush_all)
