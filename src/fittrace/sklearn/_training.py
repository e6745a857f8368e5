"""What one autologged fit records, in order of value: params and tags, training metrics,
dataset, search results, evaluation artifacts, then the model (the step most likely to fail,
e.g. on an unpicklable custom estimator, goes last so it cannot cost the rest).
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any

from fittrace.autologging import datasets
from fittrace.sklearn import (
    _evaluation,
    _html,
    _metrics,
    _params,
    _post_training,
    _search,
)

_logger = logging.getLogger("fittrace.sklearn")

INPUT_EXAMPLE_ROWS = 5
_SAMPLE_WEIGHT = "sample_weight"


@functools.lru_cache(maxsize=2048)
def _positional_names(function: Any) -> tuple[str, ...]:
    """Positional parameter names of an (unbound) method, ``self`` excluded."""
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return ()
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return tuple(p.name for p in params if p.kind in kinds)[1:]


def _method(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def fit_inputs(call: Any) -> tuple[Any, Any, Any]:
    """(X, y, sample_weight) of a fit-like call, by the method's own parameter names (``fit(X, Y)`` too)."""
    names = _positional_names(_method(type(call.instance), call.function))
    X = call.get_arg(names[0] if names else "X", 0)
    y = call.get_arg(names[1], 1) if len(names) > 1 else call.kwargs.get("y")
    position = names.index(_SAMPLE_WEIGHT) if _SAMPLE_WEIGHT in names else None
    return X, y, call.get_arg(_SAMPLE_WEIGHT, position)


def head(data: Any, rows: int = INPUT_EXAMPLE_ROWS) -> Any:
    """The first rows of array-like data as a small copy (None if it cannot be sliced)."""
    import copy

    try:
        part = data.iloc[:rows] if hasattr(data, "iloc") else data[:rows]
    except (TypeError, KeyError, IndexError):
        return None
    return part.copy() if hasattr(part, "copy") else copy.deepcopy(part)


def _model_output(
    estimator: Any, example: Any, ev: _metrics.Evaluation, function: str, result: Any
) -> Any:
    """The model's output on the example rows, reusing what training already computed."""
    if ev.y_pred is not None:
        return head(ev.y_pred)
    if (
        function in ("fit_predict", "fit_transform")
        and result is not None
        and result is not estimator
    ):
        return head(result)
    for method in ("predict", "transform"):
        if hasattr(estimator, method):
            return getattr(estimator, method)(example)
    return None


def _signature(example: Any, output: Any) -> Any:
    from fittrace.models import infer_signature

    if example is None:
        return None
    try:
        return infer_signature(example, output)
    except Exception as e:  # unusual input types: the model is still logged, without a signature
        _logger.debug("no signature inferred: %s", e)
        return None


def record_params(call: Any, estimator: Any) -> None:
    """Params and estimator tags, logged before the fit runs (a failed fit keeps them)."""
    call.log_params(_params.estimator_params(estimator))
    call.set_tags(_params.estimator_tags(estimator))


def record_fit(call: Any, X: Any, y: Any, sample_weight: Any, result: Any) -> None:
    """Everything recorded after a successful fit (the user's frames are still on the stack)."""
    from fittrace.sklearn._flavor import log_model

    estimator, settings = call.instance, call.settings
    y_pred = result if call.function == "fit_predict" else None
    metrics, ev = _metrics.training_metrics(
        estimator, X, y, sample_weight, settings.pos_label, y_pred
    )
    is_search = _params.is_search_estimator(estimator)
    if is_search:
        call.log_params(_search.best_params(estimator))
        metrics.update(_search.best_metrics(estimator))
    call.log_metrics(metrics)

    train_inputs = []
    if settings.log_datasets and X is not None:
        name = _post_training.variable_name(X, fallback="dataset")
        train_inputs.append(datasets.dataset_input(X, y, name, "train", _source_name()))
        call.client.log_inputs(call.run_id, train_inputs)

    files = _evaluation.evaluation_files(ev, _metrics.PREFIX, settings.log_plots)
    if is_search and hasattr(estimator, "cv_results_"):
        files["cv_results.csv"] = _search.cv_results_csv(estimator.cv_results_)
        _search.log_child_runs(call, estimator, settings.max_tuning_runs, train_inputs)
    files["estimator.html"] = _html.estimator_html(estimator)
    repository = call.client.artifact_repository(call.run_id)
    for name, data in files.items():
        repository.write_bytes(name, data)

    method = next((m for m in ("predict", "transform") if hasattr(estimator, m)), None)
    if settings.log_models and method is None:
        _logger.info(
            "%s has neither predict nor transform: no model logged", type(estimator).__name__
        )
    elif settings.log_models:
        example = head(X) if settings.log_input_examples or settings.log_model_signatures else None
        signature = None
        if settings.log_model_signatures and example is not None:
            signature = _signature(
                example, _model_output(estimator, example, ev, call.function, result)
            )
        options = {
            "signature": signature if signature is not None else False,
            "input_example": example if settings.log_input_examples else None,
            "serialization_format": settings.serialization_format,
            "pyfunc_predict_fn": method,
            "registered_model_name": settings.registered_model_name,
            "run_id": call.run_id,
        }
        log_model(estimator, "model", **options)
        if is_search and getattr(estimator, "best_estimator_", None) is not None:
            log_model(
                estimator.best_estimator_,
                "best_estimator",
                **{**options, "registered_model_name": None},
            )


def _source_name() -> str:
    from fittrace.tracking import context

    return context.source_name()
