"""What one autologged fit records, in order of value: params and tags, training metrics,
dataset, search results, evaluation artifacts, then the model (the step most likely to fail,
e.g. on an unpicklable custom estimator, goes last so it cannot cost the rest) and
``estimator.html``, drawn from the logged model after the fit returns (see ``_html``).
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any

from fittrace.autologging import figures
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
            return getattr(estimator, method)(head(example))  # it may change its input
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


class Passed:
    """What the training data looked like when passed, noted before the fit (which may change it):
    the input example, and a DataFrame's columns."""

    def __init__(self, settings: Any, X: Any) -> None:
        wanted = settings.log_models and (
            settings.log_input_examples or settings.log_model_signatures
        )
        self.example = head(X) if wanted else None
        self.columns = getattr(X, "columns", None) if hasattr(X, "iloc") else None

    def data(self, X: Any) -> Any:
        """``X`` with the columns it was passed with (a fit that added columns to the caller's
        DataFrame, e.g. a transformer writing into its input, does not change what is evaluated)."""
        columns = self.columns
        if columns is None or X.columns is columns or X.columns.equals(columns):
            return X
        if not columns.isin(X.columns).all():
            return X
        return X.loc[:, columns]


def record_fit(call: Any, X: Any, y: Any, sample_weight: Any, result: Any, passed: Passed) -> None:
    """Everything recorded after a successful fit (the user's frames are still on the stack).

    Each part is a step of its own: one that fails (say, metrics on data the fit changed beyond
    repair) is reported, and the others are still recorded.
    """
    estimator, settings = call.instance, call.settings
    X = passed.data(X)
    y_pred = result if call.function == "fit_predict" else None
    ev = _metrics.Evaluation(y_pred=y_pred)
    is_search = _params.is_search_estimator(estimator)
    with call.guard("training metrics"):
        metrics, ev = _metrics.training_metrics(
            estimator, X, y, sample_weight, settings.pos_label, y_pred, passed.data
        )
        call.log_metrics(metrics)
    if is_search:
        with call.guard("search results"):
            call.log_params(_search.best_params(estimator))
            call.log_metrics(_search.best_metrics(estimator))
    train_inputs = []
    if settings.log_datasets and X is not None:
        with call.guard("datasets"):
            name = _post_training.variable_name(X, fallback="dataset")
            train_inputs.append(call.log_dataset(X, y, name, "train"))
    with call.guard("artifacts"):
        docs = _evaluation.evaluation_data(ev)
        files = _evaluation.json_files(docs, _metrics.PREFIX)
        if is_search and hasattr(estimator, "cv_results_"):
            files["cv_results.csv"] = _search.cv_results_csv(estimator.cv_results_)
            _search.log_child_runs(call, estimator, settings.max_tuning_runs, train_inputs)
        repository = call.client.artifact_repository(call.run_id)
        for name, data in files.items():
            repository.write_bytes(name, data)
        if settings.log_plots:
            for name, doc in docs.items():
                figures.submit(
                    call.client,
                    call.run_id,
                    f"{_metrics.PREFIX}{name}.png",
                    "fittrace.sklearn._evaluation:render",
                    {"kind": name, **doc},
                )
    logged = None
    if settings.log_models:
        with call.guard("model"):
            logged = _log_models(call, passed.example, ev, result)
    with call.guard(_html.FILE_NAME):
        repository = call.client.artifact_repository(call.run_id)
        if logged is not None and _html.snapshot_is_local(repository):
            _html.write_later(repository, call.run_id, logged)
        else:  # no logged snapshot on this machine: drawn now, from the estimator as the fit left it
            repository.write_bytes(_html.FILE_NAME, _html.estimator_html(estimator))


def _log_models(call: Any, example: Any, ev: _metrics.Evaluation, result: Any) -> Any:
    """Log the model (and a search's best estimator); return the model's ``ModelInfo``."""
    from fittrace.sklearn._flavor import log_model

    estimator, settings = call.instance, call.settings
    # neither predict nor transform (AgglomerativeClustering): logged, loadable, no signature
    method = next((m for m in ("predict", "transform") if hasattr(estimator, m)), "predict")
    signature = None
    if settings.log_model_signatures and example is not None and hasattr(estimator, method):
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
    info = log_model(estimator, "model", **options)
    if (
        _params.is_search_estimator(estimator)
        and getattr(estimator, "best_estimator_", None) is not None
    ):
        log_model(
            estimator.best_estimator_,
            "best_estimator",
            **{**options, "registered_model_name": None},
        )
    return info
