"""XGBoost autologging: what ``xgboost.train``, ``xgboost.cv`` and the scikit-learn API record.

``xgboost.train``
    Params: the booster params plus ``num_boost_round``, ``early_stopping_rounds``,
    ``maximize``, ``verbose_eval`` and the names of a custom ``obj`` /
    ``custom_metric`` (``feval``); data objects are not params. Metrics: every
    ``evals`` entry as ``<eval name>-<metric>`` at step = boosting round,
    collected by a callback appended to a *copy* of the caller's ``callbacks``
    and written in batches (see ``_callback``). Artifacts: feature importance
    per ``importance_types`` (``feature_importance_<type>.json``, and ``.png``
    bar charts drawn in fittrace's figure helper process unless
    ``log_plots=False``), the model (xgboost flavor, UBJSON by default) with
    its signature and, when asked, an input example, registered
    as ``registered_model_name`` when set; the DMatrices as run inputs.

``xgboost.cv``
    Params as for train (plus ``nfold``, ``metrics``, ``seed``...), metrics
    ``<data>-<metric>-mean`` and ``-std`` per round, and ``best_iteration``.

scikit-learn API (XGBClassifier, XGBRegressor, XGBRanker, XGBRF*)
    Params from ``get_params()``, eval-set metrics per iteration from
    ``evals_result_`` (written after fit returns, all with the fit's end
    time), estimator tags, importance, the fitted estimator as an xgboost
    model (signature and input example from the rows as passed, noted before
    the fit), and the run remembered for ``fittrace.sklearn``'s post-training
    metrics. As in MLflow, no ``training_*`` metrics: the eval sets are
    XGBoost's own measure of a fit (pass the training data as one to see it). ``fit`` calls ``xgboost.train``
    internally: one fit is one run (the autolog machinery runs nested calls
    untouched). With ``fittrace.sklearn.autolog()`` on too, xgboost estimators
    stay with this integration, so nothing is recorded twice.

Early stopping (``early_stopping_rounds`` or an ``xgboost.callback.EarlyStopping``
in ``callbacks``) adds metrics ``best_iteration`` and ``stopped_iteration``
(step 0) and logs the best iteration's value of every eval metric once more at
step ``stopped_iteration + 1``. So each metric's latest value (``run.data.metrics``)
is its value at the best iteration, while its history still shows every round
as trained. For cv, the same is done at the best round.

Distributed training: only the driver records. Dask and Spark workers train
through xgboost's internal reference to the unpatched ``train``, so they never
record; a patched ``xgboost.train`` called inside a collective
(``xgboost.collective``, e.g. a hand-rolled multi-worker job) records only on
rank 0. On the Dask client, ``xgboost.dask.train`` and the Dask estimators
(``DaskXGBClassifier``...) record params, the eval history returned by the
workers (written after training), early stopping, importance and the model,
without signature, input example, training metrics or datasets (the data lives
on the cluster). Spark estimators (``xgboost.spark``) are not recorded.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Generator, Mapping
from dataclasses import replace
from typing import Any

from fittrace.autologging import Call, Patcher
from fittrace.xgboost import XGBoostSettings

_MAXIMIZED_METRICS = ("auc", "aucpr", "pre", "map", "ndcg")


# -- shared pieces -----------------------------------------------------------------------------
def _is_secondary_worker() -> bool:
    """Whether this process is a non-zero rank of an xgboost collective (it must not record)."""
    from xgboost import collective

    return bool(collective.is_distributed()) and collective.get_rank() != 0


@functools.cache
def _signature_of(function: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(function)


def _arguments(function: Callable[..., Any], call: Call) -> dict[str, Any] | None:
    """The call's arguments by name, defaults filled in; None if they do not fit (the original will say why)."""
    try:
        bound = _signature_of(function).bind(*call.args, **call.kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    return dict(bound.arguments)


def _has_early_stopping(callbacks: Any) -> bool:
    from xgboost.callback import EarlyStopping

    return any(isinstance(cb, EarlyStopping) for cb in callbacks or ())


def _metrics_callback(call: Call) -> Any:
    from fittrace.xgboost._callback import MetricsCallback

    client, run_id = call.client, call.run_id
    return MetricsCallback(
        lambda batch: client.log_batch(run_id, metrics=batch),
        lambda exc: call.record_error("per-round metrics", exc),
    )


def _log_history(call: Call, history: Mapping[str, Any], starting_round: int) -> None:
    from fittrace.xgboost._callback import history_metrics

    metrics = history_metrics(history, starting_round)
    for start in range(0, len(metrics), 1000):
        call.client.log_batch(call.run_id, metrics=metrics[start : start + 1000])


def _log_best(
    call: Call, history: Mapping[str, Any], best: int, stopped: int, starting_round: int
) -> None:
    """``best_iteration``, ``stopped_iteration``, and the best round's values at step ``stopped + 1``."""
    from fittrace.xgboost._callback import metrics_at

    call.log_metrics({"best_iteration": best, "stopped_iteration": stopped})
    call.log_metrics(metrics_at(history, best - starting_round), step=stopped + 1)


def _log_evals_result(
    call: Call,
    booster: Any,
    history: Mapping[str, Any],
    starting_round: int,
    early_stopping: bool,
) -> None:
    """A finished training's evals log, and with early stopping its best iteration (see the module docstring)."""
    with call.guard("eval history"):
        _log_history(call, history, starting_round)
    if early_stopping and history:
        with call.guard("early stopping"):
            best = booster.attr("best_iteration")
            if best is not None:
                rounds = max(
                    len(values) for metrics in history.values() for values in metrics.values()
                )
                _log_best(call, history, int(best), starting_round + rounds - 1, starting_round)


def _log_importance(call: Call, booster: Any) -> None:
    from fittrace.autologging import figures
    from fittrace.xgboost._importance import importance_json, importance_scores

    settings: XGBoostSettings = call.settings  # type: ignore[assignment]
    for kind, scores in importance_scores(booster, settings.importance_types).items():
        call.log_text(importance_json(scores), f"feature_importance_{kind}.json")
        if settings.log_plots and scores:
            figures.submit(
                call.client,
                call.run_id,
                f"feature_importance_{kind}.png",
                "fittrace.xgboost._importance:render",
                {"kind": kind, "scores": scores},
            )


def _log_model(
    call: Call, model: Any, signature: Callable[[], Any], example: Callable[[], Any]
) -> None:
    """Log ``model``; a signature or example that cannot be made is left out (and reported), not the model."""
    from fittrace.xgboost._flavor import log_model

    settings: XGBoostSettings = call.settings  # type: ignore[assignment]
    model_signature = input_example = None
    if settings.log_model_signatures:
        with call.guard("model signature"):
            model_signature = signature()
    if settings.log_input_examples:
        with call.guard("input example"):
            input_example = example()
    with call.guard("model"):
        log_model(
            model,
            "model",
            signature=model_signature or False,
            input_example=input_example,
            registered_model_name=settings.registered_model_name,
            run_id=call.run_id,
            model_format=settings.model_format,
        )


# -- xgboost.train -----------------------------------------------------------------------------
def _capture_train(call: Call) -> Generator[None, Any, None]:
    import xgboost

    from fittrace.xgboost._params import TRAIN_ARGS, booster_params, call_params

    if _is_secondary_worker():
        return
    arguments = _arguments(xgboost.training.train, call)
    if arguments is None:
        return
    call.log_params({**booster_params(arguments["params"]), **call_params(arguments, TRAIN_ARGS)})
    recorder = _metrics_callback(call)
    call.replace_arg("callbacks", None, [recorder, *(arguments.get("callbacks") or ())])
    try:
        booster = yield
    finally:
        recorder.flush()  # also keeps the rounds done before a failure
    settings: XGBoostSettings = call.settings  # type: ignore[assignment]
    dtrain, evals = arguments["dtrain"], list(arguments.get("evals") or ())
    if arguments.get("early_stopping_rounds") or _has_early_stopping(arguments.get("callbacks")):
        with call.guard("early stopping"):
            best = booster.attr("best_iteration")
            if best is not None and recorder.stopped_iteration is not None:
                _log_best(
                    call,
                    recorder.history,
                    int(best),
                    recorder.stopped_iteration,
                    recorder.starting_round,
                )
    with call.guard("feature importance"):
        _log_importance(call, booster)
    if settings.log_datasets:
        with call.guard("datasets"):
            _log_dmatrix_inputs(call, dtrain, evals)
    if settings.log_models:
        from fittrace.xgboost._model import dmatrix_example, dmatrix_signature

        _log_model(
            call,
            booster,
            lambda: dmatrix_signature(booster, dtrain),
            lambda: dmatrix_example(dtrain),
        )


def _log_dmatrix_inputs(call: Call, dtrain: Any, evals: list[tuple[Any, str]]) -> None:
    from fittrace.tracking.context import source_name
    from fittrace.xgboost._datasets import dmatrix_input

    source = source_name()
    train = dmatrix_input(dtrain, "train", "train", source)
    inputs = [train]
    for data, name in evals:  # the training set used as an eval set is recorded as one, too
        if data is dtrain:
            inputs.append(replace(train, name=name, context="eval"))
        else:
            inputs.append(dmatrix_input(data, name, "eval", source))
    call.client.log_inputs(call.run_id, inputs)


# -- xgboost.cv --------------------------------------------------------------------------------
def _best_round(history: Mapping[str, Any], maximize: bool | None) -> int | None:
    """The round with the best mean of the last metric of the last data set (xgboost's stopping choice)."""
    if not history:
        return None
    metrics = history[list(history)[-1]]
    name = list(metrics)[-1]
    means = [value[0] for value in metrics[name]]
    if maximize is None:
        maximize = name != "mape" and name.startswith(_MAXIMIZED_METRICS)
    pick = max if maximize else min
    return pick(range(len(means)), key=means.__getitem__) if means else None


def _capture_cv(call: Call) -> Generator[None, Any, None]:
    import xgboost

    from fittrace.xgboost._params import CV_ARGS, booster_params, call_params

    if _is_secondary_worker():
        return
    arguments = _arguments(xgboost.training.cv, call)
    if arguments is None:
        return
    call.log_params({**booster_params(arguments["params"]), **call_params(arguments, CV_ARGS)})
    recorder = _metrics_callback(call)
    call.replace_arg("callbacks", None, [recorder, *(arguments.get("callbacks") or ())])
    try:
        result = yield
    finally:
        recorder.flush()
    with call.guard("early stopping"):
        stopped = recorder.stopped_iteration
        if arguments.get("early_stopping_rounds") or _has_early_stopping(
            arguments.get("callbacks")
        ):
            best: int | None = (
                len(next(iter(result.values())) if isinstance(result, dict) else result) - 1
            )
        else:
            best = _best_round(recorder.history, arguments.get("maximize"))
        if best is not None and stopped is not None:
            _log_best(call, recorder.history, best, stopped, 0)


# -- scikit-learn API --------------------------------------------------------------------------
def _is_dask(estimator: Any) -> bool:
    return type(estimator).__module__.startswith("xgboost.dask")


def _starting_round(xgb_model: Any) -> int:
    """The size of the model a fit continues from (``xgb_model=``); 0 for a fresh fit or a model file."""
    if hasattr(xgb_model, "get_booster"):
        xgb_model = xgb_model.get_booster()
    return int(xgb_model.num_boosted_rounds()) if hasattr(xgb_model, "num_boosted_rounds") else 0


def _capture_fit(call: Call) -> Generator[None, Any, None]:
    from fittrace.sklearn._params import estimator_tags
    from fittrace.sklearn._training import head
    from fittrace.xgboost._params import estimator_params

    if _is_secondary_worker():
        return
    estimator = call.instance
    call.log_params(estimator_params(estimator.get_params()))
    call.set_tags(estimator_tags(estimator))
    X, y = call.get_arg("X", 0), call.get_arg("y", 1)
    starting_round = _starting_round(call.get_arg("xgb_model"))
    settings: XGBoostSettings = call.settings  # type: ignore[assignment]
    local = not _is_dask(estimator)
    # taken before the fit, which may change the caller's data (as it was passed is what to describe)
    example = head(X) if local and settings.log_models else None
    yield
    booster = estimator.get_booster()
    early = bool(
        estimator.early_stopping_rounds or call.get_arg("early_stopping_rounds")
    ) or _has_early_stopping(estimator.callbacks or call.get_arg("callbacks"))
    _log_evals_result(
        call, booster, getattr(estimator, "evals_result_", None) or {}, starting_round, early
    )
    with call.guard("feature importance"):
        _log_importance(call, booster)
    if settings.log_datasets and local:
        with call.guard("datasets"):
            _log_array_inputs(call, X, y)
    if settings.log_models:
        from fittrace.xgboost._model import estimator_signature

        _log_model(
            call,
            estimator,
            lambda: estimator_signature(estimator, example) if example is not None else None,
            lambda: example,
        )
    with call.guard("post-training metrics"):
        call.remember_run(estimator)


def _log_array_inputs(call: Call, X: Any, y: Any) -> None:
    from fittrace.autologging.datasets import dataset_input
    from fittrace.tracking.context import source_name

    source = source_name()
    train = dataset_input(X, y, "train", "train", source)
    inputs = [train]
    for index, pair in enumerate(call.get_arg("eval_set") or ()):
        name = f"validation_{index}"
        if pair[0] is X and pair[1] is y:
            inputs.append(replace(train, name=name, context="eval"))
        else:
            inputs.append(dataset_input(pair[0], pair[1], name, "eval", source))
    call.client.log_inputs(call.run_id, inputs)


# -- xgboost.dask.train (on the client) -----------------------------------------------------------
def _capture_dask_train(call: Call) -> Generator[None, Any, None]:
    """Driver side of ``xgboost.dask.train``: the workers' history and booster come back in its result."""
    from xgboost import dask as dxgb

    from fittrace.xgboost._params import TRAIN_ARGS, booster_params, call_params

    arguments = _arguments(dxgb.train, call)
    if arguments is None:
        return
    call.log_params({**booster_params(arguments["params"]), **call_params(arguments, TRAIN_ARGS)})
    starting_round = _starting_round(arguments.get("xgb_model"))
    output = yield
    booster = output["booster"]
    early = bool(arguments.get("early_stopping_rounds")) or _has_early_stopping(
        arguments.get("callbacks")
    )
    _log_evals_result(call, booster, output["history"], starting_round, early)
    with call.guard("feature importance"):
        _log_importance(call, booster)
    if call.settings.log_models:
        _log_model(call, booster, lambda: None, lambda: None)


# -- the integration ---------------------------------------------------------------------------
def install(patcher: Patcher) -> None:
    # xgboost.dask is imported on its own (only where dask is installed) and installs separately
    if patcher.module.__name__ == "xgboost.dask":
        patcher.patch(patcher.module, "train", _capture_dask_train)
        return
    import xgboost

    patcher.patch(xgboost, "train", _capture_train)
    patcher.patch(xgboost, "cv", _capture_cv)
    patcher.patch_subclasses(xgboost.XGBModel, "fit", _capture_fit)
