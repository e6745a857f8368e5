"""Post-training metrics: metrics computed on an autologged model's predictions go to its run.

After ``model.fit`` is autologged, ``y_pred = model.predict(X_test)`` remembers
that ``y_pred`` came from ``model`` on ``X_test`` (by object identity, through
a weak reference: nothing is kept alive). A later ``accuracy_score(y_test,
y_pred)`` then logs ``accuracy_score_X_test`` into the model's run, and
``model.score(X_test, y_test)`` logs ``<ModelClass>_score_X_test``; a metric
computed again in the same run gets a call index (``accuracy_score-2_X_test``),
and ``metric_info.json`` maps every key to the call that produced it.

``sklearn.metrics`` functions are replaced *only in the ``sklearn.metrics``
namespace* by ``MetricFunction`` objects. The defining modules
(``sklearn.metrics._classification``...) keep the plain functions, so:

- a function imported before autolog (``from sklearn.metrics import
  accuracy_score``) keeps pickling by its defining module, and is not captured
  (nothing can reach an already bound name without rewriting its code);
- a ``MetricFunction`` pickles as "the current ``sklearn.metrics.<name>``"
  (``pkgutil.resolve_name``), which unpickles without fittrace, in any order;
- scikit-learn's own metric calls inside ``fit``/``score``/scorers run untouched.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import itertools
import pkgutil
import sys
import threading
import types
import weakref
from collections import defaultdict
from typing import Any

METRICS_MODULE = "sklearn.metrics"
FALLBACK_DATASET_NAME = "unknown_dataset"
_EXCLUDED = frozenset({"check_scoring", "get_scorer", "make_scorer", "get_scorer_names"})
_INTERNAL_PREFIXES = ("fittrace.", "wrapt", "functools", "contextlib")

# True while a stand-in metric function runs, so metrics it calls inside are not logged again.
_busy: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "fittrace_sklearn_metric_busy", default=False
)


# -- variable names --------------------------------------------------------------------
def _frame_args(frame: types.FrameType) -> list[Any]:
    """The argument values a frame's function received (``*args`` and ``**kwargs`` unpacked)."""
    code = frame.f_code
    if code.co_name == "<module>":
        return []
    names, local = code.co_varnames, frame.f_locals
    n = code.co_argcount + code.co_kwonlyargcount
    values = [local.get(name) for name in names[:n]]
    if code.co_flags & inspect.CO_VARARGS:
        values.extend(local.get(names[n]) or ())
        n += 1
    if code.co_flags & inspect.CO_VARKEYWORDS:
        values.extend((local.get(names[n]) or {}).values())
    return values


def variable_name(
    obj: Any, fallback: str = FALLBACK_DATASET_NAME, start: types.FrameType | None = None
) -> str:
    """The name the caller's code has for ``obj``.

    Walks out of fittrace and wrapt frames and of functions that received
    ``obj`` as an argument, then looks ``obj`` up among the first remaining
    frame's locals (``model.predict(X_test)`` -> ``"X_test"``; inside a
    scikit-learn scorer, its own ``y_pred``); ``fallback`` when it is an
    expression (``X[:10]``).
    """
    if obj is None:
        return fallback
    frame = start or sys._getframe(1)
    try:
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if module.startswith(_INTERNAL_PREFIXES) or any(a is obj for a in _frame_args(frame)):
                frame = frame.f_back
                continue
            for name, value in frame.f_locals.items():
                if value is obj and not name.startswith("_"):
                    return name
            return fallback
        return fallback
    finally:
        del frame


# -- bookkeeping -------------------------------------------------------------------------
class _Prediction:
    __slots__ = ("ref", "run_id", "dataset")

    def __init__(self, ref: weakref.ref, run_id: str, dataset: str) -> None:
        self.ref, self.run_id, self.dataset = ref, run_id, dataset


class Tracker:
    """Which objects are predictions of autologged models, and what each run has logged.

    Holds ids and weak references only, never user data.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._predictions: dict[int, _Prediction] = {}
        self._datasets: dict[str, dict[str, list[int]]] = defaultdict(dict)
        self._calls: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(dict)
        self._inputs: dict[str, set[int]] = defaultdict(set)

    def dataset_name(self, run_id: str, dataset: Any, name: str) -> tuple[str, bool]:
        """``name``, or ``name-2``, ``name-3``... when other objects of this run had that name;
        and whether this is the first time the run sees ``dataset``."""
        with self._lock:
            ids = self._datasets[run_id].setdefault(name, [])
            first = id(dataset) not in ids
            if first:
                ids.append(id(dataset))
            index = ids.index(id(dataset))
        return _indexed(name, index), first

    def add_prediction(self, result: Any, run_id: str, dataset: str) -> None:
        key = id(result)
        try:
            ref = weakref.ref(result, functools.partial(self._drop, key))
        except TypeError:  # tuples, lists: cannot be tracked by identity safely
            return
        with self._lock:
            self._predictions[key] = _Prediction(ref, run_id, dataset)

    def _drop(self, key: int, ref: weakref.ref) -> None:
        with self._lock:
            entry = self._predictions.get(key)
            if entry is not None and entry.ref is ref:
                del self._predictions[key]

    def find_prediction(self, values: Any) -> _Prediction | None:
        for value in values:
            entry = self._predictions.get(id(value))
            if entry is not None and entry.ref() is value:
                return entry
        return None

    def metric_key(
        self, run_id: str, metric: str, dataset: str, command: str
    ) -> tuple[str, dict[str, str]]:
        """The next key for ``metric`` in this run, and every key -> call command logged there so far."""
        with self._lock:
            calls = self._calls[run_id].setdefault(metric, [])
            key = f"{_indexed(metric, len(calls))}_{dataset}"
            calls.append((key, command))
            info = dict(sorted(itertools.chain.from_iterable(self._calls[run_id].values())))
        return key, info

    def clear(self) -> None:
        with self._lock:
            self._predictions.clear()
            self._datasets.clear()
            self._calls.clear()
            self._inputs.clear()


def _indexed(name: str, index: int) -> str:
    return name if index == 0 else f"{name}-{index + 1}"


tracker = Tracker()


# -- logging a metric value ----------------------------------------------------------------
def loggable(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def describe_call(
    name: str, signature_of: Any, args: tuple, kwargs: dict, start: types.FrameType
) -> str:
    """``accuracy_score(y_true=y_test, y_pred=y_pred)``: arguments named as the caller's code names them."""
    try:
        params = [p for p in inspect.signature(signature_of).parameters if p != "self"]
    except (TypeError, ValueError):
        params = []

    def show(value: Any) -> str:
        if value is None or isinstance(value, (bool, int, float, str)):
            text = repr(value)
            return text if len(text) <= 40 else text[:37] + "..."
        return variable_name(value, fallback=f"<{type(value).__name__}>", start=start)

    parts = [f"{p}={show(a)}" for p, a in zip(params, args, strict=False)] + [
        f"{k}={show(v)}" for k, v in kwargs.items()
    ]
    return f"{name}({', '.join(parts)})"


def log_metric(run_id: str, metric: str, dataset: str, value: Any, command: str) -> None:
    """Log one post-training metric into ``run_id`` and refresh its ``metric_info.json``."""
    from fittrace.autologging import runs

    key, info = tracker.metric_key(run_id, metric, dataset, command)
    client = runs.recorder.client()
    client.log_metric(run_id, key, float(value))
    client.log_dict(run_id, info, "metric_info.json")


# -- the sklearn.metrics replacement --------------------------------------------------------
class MetricFunction:
    """Stands in for one ``sklearn.metrics`` function; behaves and pickles like it.

    ``on_result(name, function, args, kwargs, value)`` is called after a call made
    outside any autologged call while ``enabled()`` is true.
    """

    def __init__(self, function: Any, name: str, enabled: Any, on_result: Any) -> None:
        functools.update_wrapper(self, function)
        self._fittrace_name = name
        self._fittrace_enabled = enabled
        self._fittrace_on_result = on_result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from fittrace.autologging import current_call

        function = self.__wrapped__
        if _busy.get() or current_call() is not None or not self._fittrace_enabled():
            return function(*args, **kwargs)
        token = _busy.set(True)
        try:
            value = function(*args, **kwargs)
        finally:
            _busy.reset(token)
        self._fittrace_on_result(self._fittrace_name, function, args, kwargs, value)
        return value

    def __get__(self, instance: Any, owner: Any = None) -> Any:  # bind like a function would
        return self if instance is None else types.MethodType(self, instance)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return pkgutil.resolve_name, (f"{METRICS_MODULE}:{self._fittrace_name}",)

    def __copy__(self) -> MetricFunction:
        return self

    def __deepcopy__(self, memo: dict) -> MetricFunction:
        return self

    def __repr__(self) -> str:
        return repr(self.__wrapped__)


def metric_names(metrics_module: Any) -> list[str]:
    """The public metric functions of ``sklearn.metrics`` (not classes, plotting or scorer helpers)."""
    names = []
    for name in getattr(metrics_module, "__all__", ()):
        value = getattr(metrics_module, name, None)
        if (
            name in _EXCLUDED
            or name.startswith("plot_")
            or inspect.isclass(value)
            or not callable(value)
        ):
            continue
        if isinstance(value, MetricFunction) or inspect.isfunction(value):
            names.append(name)
    return names
