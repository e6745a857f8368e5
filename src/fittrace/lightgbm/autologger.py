"""LightGBM autologging: what ``lightgbm.train``, ``lightgbm.cv`` and the scikit-learn API record.

``lightgbm.train``
    Params: the booster params plus the other arguments except data, functions and
    callbacks (``num_boost_round``, ``keep_training_booster``...), as in MLflow. Metrics:
    each validation entry as ``<data name>-<metric>`` at step = iteration (``@`` becomes
    ``_at_``), from a callback added to a *copy* of the caller's ``callbacks`` and written
    in batches. Early stopping (``booster.best_iteration > 0``) adds ``stopped_iteration``
    (iterations run) and ``best_iteration``, and logs the best iteration's values again
    at step ``stopped_iteration``, so each metric's latest value is its best (MLflow's
    convention). Artifacts: ``feature_importance_split.json`` and
    ``feature_importance_gain.json`` (PNG charts with ``log_plots=True``) and the model
    (lightgbm flavor, text format) with a signature inferred from the first rows of the
    training data (and those rows as input example when asked). The train and validation
    data are recorded as run inputs.

``lightgbm.cv``
    Params as for train (plus ``nfold``, ``stratified``, ...), metrics
    ``<data>-<metric>-mean`` and ``-stdv`` per iteration, and with early stopping
    ``best_iteration``/``stopped_iteration`` as for train.

scikit-learn API (LGBMClassifier, LGBMRegressor, LGBMRanker and subclasses)
    Params from ``get_params()``, tags ``estimator_name``/``estimator_class``, eval-set
    metrics per iteration, early stopping as above, fittrace.sklearn's ``training_*``
    metrics, importance, the fitted estimator as a lightgbm model and the data as inputs.
    ``fit`` calls ``lightgbm.train`` inside: one fit is one run.
"""

from __future__ import annotations

import inspect
import json
import re
import time
from collections.abc import Callable, Generator
from typing import Any

from fittrace.autologging import Call, Patcher
from fittrace.entities import Metric

# train/cv arguments that are data, functions or callbacks: not params (MLflow's list plus cv's own).
_NOT_PARAMS = frozenset(
    "params train_set valid_sets valid_names fobj feval init_model learning_rates callbacks "
    "folds fpreproc".split()
)
_UNSAFE = re.compile(r"[^\w.\- /:]")
EXAMPLE_ROWS = 5


def metric_key(*parts: str) -> str:
    """``<data>-<metric>[-mean|-stdv]``, ``@`` spelled ``_at_`` and other characters the store rejects as ``_``."""
    return _UNSAFE.sub("_", "-".join(parts).replace("@", "_at_"))


def _param_value(value: Any) -> Any:
    if callable(value) and not isinstance(value, type):
        return getattr(value, "__qualname__", None) or type(value).__name__
    return value


class MetricsRecorder:
    """A LightGBM callback turning each iteration's evaluation results into run metrics.

    Rows are written through ``sink`` (a list of ``Metric``) at most every
    ``flush_interval_s`` and by ``flush()``; a failing sink is reported once through
    ``on_error`` and never stops training. ``history`` maps each iteration to its values.
    Pickled, it keeps its history but writes nowhere.
    """

    order = 15  # before early stopping (30), which ends training by raising
    before_iteration = False

    def __init__(
        self,
        sink: Callable[[list[Metric]], None] | None,
        on_error: Callable[[BaseException], None] | None,
        flush_interval_s: float = 2.0,
    ) -> None:
        self._sink = sink
        self._on_error = on_error
        self._interval = flush_interval_s
        self._pending: list[Metric] = []
        self._next_flush = time.monotonic() + flush_interval_s
        self.history: dict[int, dict[str, float]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**vars(self), "_sink": None, "_on_error": None, "_pending": []}

    def __call__(self, env: Any) -> None:
        values: dict[str, float] = {}
        for item in env.evaluation_result_list or ():
            if len(item) == 5:  # cv: (data, metric, mean, higher_is_better, stdv)
                data, metric = item[1].split(" ", 1) if item[0] == "cv_agg" else item[:2]  # < 4.4
                values[metric_key(data, metric, "mean")] = float(item[2])
                values[metric_key(data, metric, "stdv")] = float(item[4])
            else:
                values[metric_key(item[0], item[1])] = float(item[2])
        self.history[env.iteration] = values
        stamp = time.time_ns() // 1_000_000
        self._pending.extend(Metric(k, v, stamp, env.iteration) for k, v in values.items())
        if time.monotonic() >= self._next_flush:
            self.flush()
            self._next_flush = time.monotonic() + self._interval

    def flush(self) -> None:
        """Write the rows not written yet; safe to call any number of times."""
        rows, self._pending = self._pending, []
        if not rows or self._sink is None:
            return
        try:
            for start in range(0, len(rows), 1000):
                self._sink(rows[start : start + 1000])
        except Exception as exc:  # never break the user's training
            self._sink = None
            if self._on_error is not None:
                self._on_error(exc)


def _recorder(call: Call) -> MetricsRecorder:
    client, run_id = call.client, call.run_id
    return MetricsRecorder(
        lambda rows: client.log_batch(run_id, metrics=rows),
        lambda exc: call.record_error("logging iteration metrics", exc),  # type: ignore[arg-type]
    )


def _log_call_params(call: Call, arguments: dict[str, Any]) -> None:
    params = {str(k): _param_value(v) for k, v in (arguments.get("params") or {}).items()}
    params.update(
        (name, _param_value(value))
        for name, value in arguments.items()
        if name not in _NOT_PARAMS and name != "kwargs"
    )
    call.log_params(params)


def _add_recorder(call: Call, function: Callable[..., Any], recorder: MetricsRecorder) -> None:
    """Pass a new callbacks list with ``recorder`` appended; the caller's list stays as it was.

    A ``fit`` of a subclass without a ``callbacks`` parameter is left as it is (no iteration
    metrics): passing one could break the call.
    """
    names = [p for p in inspect.signature(function).parameters if p != "self"]
    if "callbacks" not in names:
        return
    position = names.index("callbacks")
    callbacks = call.get_arg("callbacks", position)
    call.replace_arg("callbacks", position, [*(callbacks or ()), recorder])


def _log_early_stopping(call: Call, recorder: MetricsRecorder, best_iteration: int) -> None:
    """MLflow's summary: iterations run, the best one, and its values again at step ``stopped``."""
    if best_iteration <= 0 or not recorder.history:
        return
    stopped = len(recorder.history)
    call.log_metrics({"stopped_iteration": stopped, "best_iteration": best_iteration})
    first = min(recorder.history)
    best_values = recorder.history.get(first + best_iteration - 1)
    if best_values:
        call.log_metrics(best_values, step=stopped)


def _log_importance(call: Call, booster: Any) -> None:
    names = booster.feature_name()
    for kind in ("split", "gain"):
        values = booster.feature_importance(importance_type=kind).tolist()
        call.log_text(
            json.dumps(dict(zip(names, values, strict=True)), indent=2),
            f"feature_importance_{kind}.json",
        )
        if call.settings.log_plots:  # type: ignore[attr-defined]
            call.log_figure(
                _importance_figure(names, values, kind), f"feature_importance_{kind}.png"
            )


def _importance_figure(names: list[str], values: list[float], kind: str) -> Any:
    from matplotlib.figure import Figure

    ordered = sorted(zip(values, names, strict=True))
    figure = Figure(figsize=(6.4, max(2.0, 0.3 * len(ordered) + 1.0)))
    axes = figure.subplots()
    axes.barh(range(len(ordered)), [v for v, _ in ordered], align="center", height=0.5)
    axes.set_yticks(range(len(ordered)), labels=[n for _, n in ordered])
    axes.set_xlabel("Importance")
    axes.set_title(f"Feature Importance ({kind})")
    figure.tight_layout()
    return figure


def head(data: Any, rows: int = EXAMPLE_ROWS) -> Any:
    """The first rows of array-like data (pandas, numpy, scipy sparse, lists); None for a file path."""
    if data is None or isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        return None
    if hasattr(data, "iloc"):
        return data.iloc[:rows]
    if hasattr(data, "tocsr"):
        return data.tocsr()[:rows].toarray()
    return data[:rows]


def _log_lgb_datasets(call: Call, train_set: Any, valid_sets: Any, valid_names: Any) -> None:
    """The raw data behind ``lightgbm.Dataset`` objects (read before training frees it)."""
    sets = [(train_set, "train", "train")]
    names = list(valid_names or ())
    for index, data in enumerate(valid_sets or ()):
        if data is not train_set:
            name = names[index] if index < len(names) else f"valid_{index}"
            sets.append((data, name, "eval"))
    for data, name, context in sets:
        if head(data.data) is not None:
            call.log_dataset(data.data, data.label, name, context)


# -- lightgbm.train / lightgbm.cv -----------------------------------------------------------
def _capture_train(call: Call) -> Generator[None, Any, None]:
    import lightgbm

    arguments = call.arguments(lightgbm.engine.train)
    if arguments is None:
        return
    _log_call_params(call, arguments)
    train_set = arguments["train_set"]
    example = head(train_set.data)
    if call.settings.log_datasets:
        with call.guard("logging datasets"):
            _log_lgb_datasets(call, train_set, arguments["valid_sets"], arguments["valid_names"])
    recorder = _recorder(call)
    _add_recorder(call, lightgbm.engine.train, recorder)
    try:
        booster = yield
    finally:
        recorder.flush()  # also keeps the iterations done before a failure
    with call.guard("early stopping summary"):
        _log_early_stopping(call, recorder, booster.best_iteration)
    with call.guard("feature importance"):
        _log_importance(call, booster)
    if call.settings.log_models:
        from fittrace.lightgbm.flavor import log_model

        call.log_model(log_model, booster, example)


def _capture_cv(call: Call) -> Generator[None, Any, None]:
    import lightgbm

    arguments = call.arguments(lightgbm.engine.cv)
    if arguments is None:
        return
    _log_call_params(call, arguments)
    recorder = _recorder(call)
    _add_recorder(call, lightgbm.engine.cv, recorder)
    try:
        result = yield
    finally:
        recorder.flush()
    stopping = any(getattr(cb, "stopping_rounds", 0) for cb in arguments["callbacks"] or ())
    if stopping or (arguments["params"] or {}).get("early_stopping_round"):
        with call.guard("early stopping summary"):
            _log_early_stopping(call, recorder, len(next(iter(result.values()))))


# -- scikit-learn API ------------------------------------------------------------------------
def _eval_pairs(call: Call) -> list[tuple[Any, Any]]:
    """``eval_set``, or lightgbm 4.7's ``eval_X``/``eval_y``, as (X, y) pairs."""
    eval_set = call.get_arg("eval_set")
    if eval_set is None and call.get_arg("eval_X") is not None:
        eval_X, eval_y = call.get_arg("eval_X"), call.get_arg("eval_y")
        if not isinstance(eval_X, (list, tuple)):
            eval_X, eval_y = [eval_X], [eval_y]
        eval_set = list(zip(eval_X, eval_y, strict=False))
    if isinstance(eval_set, tuple):
        eval_set = [eval_set]
    return list(eval_set or ())


def _capture_fit(call: Call) -> Generator[None, Any, None]:
    estimator = call.instance
    cls = type(estimator)
    call.log_params({k: _param_value(v) for k, v in estimator.get_params().items()})
    call.set_tags(
        {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__name__}"}
    )
    X, y = call.get_arg("X", 0), call.get_arg("y", 1)
    if call.settings.log_datasets:
        with call.guard("logging datasets"):
            call.log_dataset(X, y, "train", "train")
            for index, (X_eval, y_eval) in enumerate(_eval_pairs(call)):
                if X_eval is not X:
                    call.log_dataset(X_eval, y_eval, f"valid_{index}", "eval")
    recorder = _recorder(call)
    _add_recorder(call, cls.fit, recorder)
    try:
        yield
    finally:
        recorder.flush()
    booster = estimator.booster_
    with call.guard("early stopping summary"):
        _log_early_stopping(call, recorder, booster.best_iteration)
    with call.guard("training metrics"):
        from fittrace.sklearn import training_metrics

        call.log_metrics(training_metrics(estimator, X, y, call.get_arg("sample_weight"))[0])
    with call.guard("feature importance"):
        _log_importance(call, booster)
    if call.settings.log_models:
        from fittrace.lightgbm.flavor import log_model

        with call.guard("logging the model"):
            call.log_model(log_model, estimator, head(X))
    call.remember_run(estimator)


def install(patcher: Patcher) -> None:
    import lightgbm

    patcher.patch(lightgbm, "train", _capture_train)
    patcher.patch(lightgbm, "cv", _capture_cv)
    patcher.patch_subclasses(lightgbm.LGBMModel, "fit", _capture_fit)
