"""``Call``: what a capture sees of one autologged call, and the helpers it logs with."""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from fittrace.autologging import runs
from fittrace.autologging.settings import AutologSettings

if TYPE_CHECKING:
    from fittrace.autologging.patching import PatchSpec

Capture = Callable[["Call"], Generator[None, Any, None]]
"""A generator function: code before ``yield`` runs before the original, ``result = yield`` after."""

_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "fittrace_autolog_call", default=None
)


def current_call() -> Call | None:
    """The outermost autologged call running in this thread or asyncio task, if any."""
    return _current.get()


def appended(items: Iterable[Any] | None, item: Any) -> list[Any]:
    """A new list: ``items`` (None, a single object or an iterable) followed by ``item``.

    For captures that add e.g. a callback without mutating the caller's list::

        call.replace_arg("callbacks", 5, appended(call.get_arg("callbacks", 5), cb))
    """
    if items is None:
        return [item]
    if isinstance(items, (list, tuple)):
        return [*items, item]
    return [items, item]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _RunWriter:
    """Logging helpers bound to one run id (``run_id``), through a fittrace Client."""

    _client_obj: Any = None

    @property
    def run_id(self) -> str:
        raise NotImplementedError

    @property
    def client(self) -> Any:
        """A ``fittrace.tracking.Client`` for the current tracking URI."""
        if self._client_obj is None:
            self._client_obj = runs.recorder.client()
        return self._client_obj

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        from fittrace.autologging.params import stringify_params
        from fittrace.entities import Param

        if params:
            self.client.log_batch(
                self.run_id, params=[Param(k, v) for k, v in stringify_params(params).items()]
            )

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.log_metrics({key: value}, step=step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from fittrace.entities import Metric

        if metrics:
            ts = _now_ms()
            rows = [Metric(str(k), v, ts, 0 if step is None else step) for k, v in metrics.items()]
            self.client.log_batch(self.run_id, metrics=rows)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from fittrace.entities import RunTag

        if tags:
            self.client.log_batch(
                self.run_id, tags=[RunTag(str(k), _text(v)) for k, v in tags.items()]
            )

    def log_dict(self, dictionary: Any, artifact_file: str) -> None:
        self.client.log_dict(self.run_id, dictionary, artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        self.client.log_figure(self.run_id, figure, artifact_file)

    def log_artifact(self, local_path: str, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, local_path, artifact_path)

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, local_dir, artifact_path)

    def log_dataset(self, X: Any, y: Any, name: str, context: str) -> Any:
        """Record ``(X, y)`` as a run input (shape, schema, digest; see ``autologging.datasets``)
        and return it (a ``DatasetInput``, e.g. for child runs to record too).

        ``context`` is "train" or "eval"; the source is the running script, as for the built-ins.
        """
        from fittrace.autologging.datasets import dataset_input
        from fittrace.tracking.context import source_name

        dataset = dataset_input(X, y, name, context, source_name())
        self.client.log_inputs(self.run_id, [dataset])
        return dataset


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


class ChildRun(_RunWriter):
    """A run created under the call's run by ``Call.start_child_run``; a context manager.

    Leaving the ``with`` block ends it FINISHED (FAILED on an exception, which
    propagates); children still open when the call ends are ended with it.
    """

    def __init__(self, run_id: str, client: Any) -> None:
        self._run_id = run_id
        self._client_obj = client
        self.ended = False

    @property
    def run_id(self) -> str:
        return self._run_id

    def end(self, status: str = "FINISHED") -> None:
        if not self.ended:
            self.ended = True
            self.client.set_terminated(self._run_id, status=status)

    @contextlib.contextmanager
    def activate(self) -> Iterator[ChildRun]:
        """Make this child the active run of the current thread/task for the ``with`` block.

        Inside, autologged calls are outermost again: a framework fit in a tuner's
        objective logs into this child (the first one; later ones become its
        children) and ``fittrace.log_metric`` writes here. Leaving the block does
        not end the child.
        """
        token = _current.set(None)
        try:
            with runs.recorder.activated(self._run_id):
                yield self
        finally:
            _current.reset(token)

    def __enter__(self) -> ChildRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.end("FINISHED" if exc_type is None else "FAILED")


class Call(_RunWriter):
    """One outermost autologged call, as its capture sees it.

    Attributes: ``integration`` (name), ``settings`` (the integration's
    settings object at call time), ``function`` (patched attribute name),
    ``instance`` (``self`` for methods, the class for classmethods, None for
    functions and staticmethods), ``args`` / ``kwargs`` (what the original will
    be called with: assign new objects, never mutate the caller's).

    ``run_id`` is the run this call records into; for fit-like patches it is
    started on first use (reading ``run_id`` or logging), so a capture that
    returns before yielding starts no run.
    """

    def __init__(
        self,
        spec: PatchSpec,
        settings: AutologSettings,
        instance: Any,
        args: tuple,
        kwargs: dict[str, Any],
    ) -> None:
        self._spec = spec
        self.integration: str = spec.integration
        self.function: str = spec.attribute
        self.settings = settings
        self.instance = instance
        self.args: tuple = args
        self.kwargs: dict[str, Any] = kwargs
        self._caller = (args, kwargs)
        self._run_id: str | None = None
        self._owns_run = False
        self._user_run: str | None = None
        self._errors: list[str] = []
        self._children: list[ChildRun] = []

    # -- arguments -------------------------------------------------------------------
    def get_arg(self, name: str, position: int | None = None, default: Any = None) -> Any:
        """The argument ``name`` (or at ``position`` among the positional args, ``self`` excluded)."""
        if name in self.kwargs:
            return self.kwargs[name]
        if position is not None and position < len(self.args):
            return self.args[position]
        return default

    def arguments(self, function: Callable[..., Any]) -> dict[str, Any] | None:
        """The call's arguments bound to ``function``'s signature by name, defaults filled in.

        None when they do not fit (the original will raise about it). Pass the unpatched
        function (``lightgbm.engine.train`` rather than ``lightgbm.train``).
        """
        import inspect

        try:
            bound = inspect.signature(function).bind(*self.args, **self.kwargs)
        except TypeError:
            return None
        bound.apply_defaults()
        return dict(bound.arguments)

    def replace_arg(self, name: str, position: int | None, value: Any) -> None:
        """Pass ``value`` for argument ``name`` to the original: new ``args``/``kwargs``, caller's untouched."""
        if position is not None and position < len(self.args) and name not in self.kwargs:
            self.args = (*self.args[:position], value, *self.args[position + 1 :])
        else:
            self.kwargs = {**self.kwargs, name: value}

    # -- runs --------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        if self._run_id is None:
            self._start_run()
        return self._run_id  # type: ignore[return-value]

    def _start_run(self) -> None:
        tags = {runs.AUTOLOGGING_TAG: self.integration, **(self.settings.extra_tags or {})}
        # Re-read: the capture may have ended the run active at call start (a plain loop's implicit run).
        user_run = runs.recorder.active_run_id() if self._user_run is not None else None
        if user_run is not None and runs.claim_user_run(user_run):
            self._run_id = user_run
            return
        self._run_id = runs.recorder.start_run(tags, nested=user_run is not None)
        self._owns_run = True
        runs.recorder.sample_system_metrics(self._run_id, self.settings.log_system_metrics)

    def log_model(
        self, log_model: Callable[..., Any], model: Any, example: Any = None, **options: Any
    ) -> Any:
        """Log ``model`` as ``model`` with a flavor's ``log_model``, as the settings ask.

        The signature is inferred from ``example`` and ``model.predict(example)``
        (``log_model_signatures``; one that cannot be inferred is left out and reported,
        not the model), ``example`` is saved with ``log_input_examples``, and the model is
        registered as ``registered_model_name``. ``options`` go to ``log_model``.
        """
        from fittrace.models.signature import infer_signature

        settings = self.settings
        signature = None
        if example is not None and settings.log_model_signatures:
            with self.guard("inferring the model signature"):
                signature = infer_signature(example, model.predict(example))
        return log_model(
            model,
            "model",
            signature=signature or False,
            input_example=example if settings.log_input_examples else None,
            registered_model_name=settings.registered_model_name,
            run_id=self.run_id,
            **options,
        )

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Run a recording step whose error must not stop the next ones: it goes to ``record_error``.

        For code of the capture that runs outside the capture protocol too (a
        callback or a wrapped function it handed to the framework)::

            with call.guard("feature importance"):
                call.log_dict(importance(model), "feature_importance.json")
        """
        try:
            yield
        except Exception as exc:
            self.record_error(what, exc)

    def record_error(self, what: str, exc: Exception) -> None:
        """Report an error a capture caught itself (e.g. in a callback it added): warned once, tagged on the run."""
        from fittrace.autologging import safety

        self._errors.append(
            (safety.report(self.integration, what, exc, silent=self.settings.silent), exc)
        )

    def remember_run(self, obj: object) -> None:
        """Later ``run="model"`` patches on ``obj`` (evaluate, score) log into this call's run."""
        runs.remember_run(obj, self.run_id)

    def start_child_run(
        self, run_name: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> ChildRun:
        """Create a child run of this call's run (e.g. one per hyperparameter candidate)."""
        child_tags = {runs.AUTOLOGGING_TAG: self.integration, **(self.settings.extra_tags or {})}
        child_tags.update({str(k): _text(v) for k, v in (tags or {}).items()})
        child = ChildRun(
            runs.recorder.create_child_run(self.run_id, child_tags, run_name), self.client
        )
        self._children.append(child)
        return child

    def __reduce__(self) -> tuple[Any, ...]:
        """A copy (pickle, ``copy.deepcopy``) is a ``RunHandle`` on the same run.

        Objects fittrace attaches to a user's trainer or callbacks hold their ``Call``; this is
        what lets them travel into ``spawn`` / ``ddp_spawn`` processes and ``torch.save``.
        """
        return (
            RunHandle,
            (self.run_id, self.client.tracking_uri, self.integration, self.settings),
        )


class _FlushingClient:
    """A Client whose ``log_batch`` writes through at once (see ``RunHandle``)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def log_batch(self, *args: Any, **kwargs: Any) -> None:
        self._client.log_batch(*args, **kwargs)
        self._client.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class RunHandle(_RunWriter):
    """A picklable writer for one run: what a ``Call`` becomes in a copy or another process.

    Every write is flushed at once, because a ``multiprocessing`` child exits without running
    ``atexit`` (where buffered writes are otherwise flushed). ``record_error`` reports like a
    ``Call`` does (one warning per cause, the run's errors tag; a raise in testing mode).
    """

    def __init__(
        self, run_id: str, tracking_uri: str, integration: str, settings: AutologSettings
    ) -> None:
        self._run_id = run_id
        self.tracking_uri = tracking_uri
        self.integration = integration
        self.settings = settings

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def client(self) -> Any:
        if self._client_obj is None:
            from fittrace.tracking.client import Client

            self._client_obj = _FlushingClient(Client(self.tracking_uri))
        return self._client_obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (RunHandle, (self._run_id, self.tracking_uri, self.integration, self.settings))

    def record_error(self, what: str, exc: Exception) -> None:
        from fittrace.autologging import safety

        brief = safety.report(self.integration, what, exc, silent=self.settings.silent)
        if safety.testing():
            raise safety.testing_error(self.integration, brief, exc) from exc
        self.set_tags({safety.ERRORS_TAG: brief})
