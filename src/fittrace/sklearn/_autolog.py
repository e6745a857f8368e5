"""scikit-learn autologging: what to capture; the patching, guarding and runs are fittrace.autologging's.

Patched (lazily, when scikit-learn is imported):

- ``fit``, ``fit_transform`` and ``fit_predict`` of every ``BaseEstimator``
  subclass defining them — user classes defined later included — and of the
  ``TransformerMixin``/``ClusterMixin``/``OutlierMixin`` defaults. As in MLflow,
  scikit-learn's data preparation classes (``sklearn.preprocessing``, ``impute``,
  ``feature_extraction``, ``feature_selection``, ``ColumnTransformer``) are
  recorded only as part of a Pipeline or search, not on their own. The
  outermost call records (``Pipeline.fit -> step.fit``, a search's clone fits
  and its refit run the original only); a fit running inside one of
  scikit-learn's parallel jobs (``cross_val_score``, ``learning_curve``, the
  searches' candidates, in threads or loky workers) or inside
  ``permutation_test_score`` records nothing, whatever the import order.
- after an estimator class was autologged, its inference methods (``predict``,
  ``predict_proba``, ``predict_log_proba``, ``decision_function``, ``score``,
  wherever in its MRO they are defined) — for post-training metrics; the data
  an autologged model predicts on becomes a run input with context ``eval``
  (``log_datasets``), once per data object.
- the metric functions of ``sklearn.metrics`` (when that module is imported),
  with picklable stand-ins (see ``_post_training``);
- the docstring lookup of scikit-learn's HTML view, memoized (see ``_html``).

Repeated autologged fits inside one user-started run become child runs of it
(hyper-parameter tuners); ``exclusive=True`` leaves user runs alone.

XGBoost's scikit-learn classes belong to the xgboost integration when it is
registered (the machinery leaves other frameworks' classes to their own
integration); post-training metrics still work on them (their inference
methods are patched here when ``xgboost.sklearn`` is imported).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Generator
from typing import Any

from fittrace.autologging import Call
from fittrace.sklearn import INTEGRATION

FIT_METHODS = ("fit", "fit_transform", "fit_predict")
# Data preparation routines, not models (as in MLflow): recorded only inside a Pipeline or search.
# scikit-learn also fits some of them inside its metric functions (LabelEncoder, LabelBinarizer).
_NOT_RECORDED_MODULES = (
    "sklearn.preprocessing.",
    "sklearn.impute.",
    "sklearn.feature_extraction.",
    "sklearn.feature_selection.",
    "sklearn.compose._column_transformer",
)
INFERENCE_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "score")
_NAME = INTEGRATION.name


# -- captures -----------------------------------------------------------------------------
def _unwrapped_code(function: Any) -> Any:
    while hasattr(
        function, "__wrapped__"
    ):  # scikit-learn's parameter validation wraps its functions
        function = function.__wrapped__
    return getattr(function, "__code__", None)


def _not_recorded_codes() -> set[Any]:
    """Code objects whose fits record nothing: a task of scikit-learn's ``Parallel`` (any backend,
    any process) and ``permutation_test_score``, which also fits its first clone outside one."""
    wrapper = getattr(sys.modules.get("sklearn.utils.parallel"), "_FuncWrapper", None)
    validation = sys.modules.get("sklearn.model_selection._validation")
    codes = {
        _unwrapped_code(vars(wrapper).get("__call__") if isinstance(wrapper, type) else None),
        _unwrapped_code(getattr(validation, "permutation_test_score", None)),
    }
    codes.discard(None)
    return codes


def _in_unrecorded_helper() -> bool:
    """Whether this fit runs inside a parallel job or a helper like ``permutation_test_score``."""
    codes = _not_recorded_codes()
    frame = sys._getframe(2) if codes else None
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


def _records_fits(cls: type) -> bool:
    return not cls.__module__.startswith(_NOT_RECORDED_MODULES)


def _capture_fit(call: Call) -> Generator[None, Any, None]:
    from fittrace.sklearn import _training

    if call.instance is None or not _records_fits(type(call.instance)) or _in_unrecorded_helper():
        return
    X, y, sample_weight = _training.fit_inputs(call)
    _training.record_params(call, call.instance)
    passed = _training.Passed(call.settings, X)
    result = yield
    _training.record_fit(call, X, y, sample_weight, result, passed)
    if call.settings.log_post_training_metrics:
        call.remember_run(call.instance)
        _patch_inference(type(call.instance))


def _capture_predict(call: Call) -> Generator[None, Any, None]:
    from fittrace.autologging import run_for
    from fittrace.sklearn._post_training import tracker, variable_name

    run_id = run_for(call.instance) if call.settings.log_post_training_metrics else None
    if run_id is None:
        return
    X = call.get_arg("X", 0)
    dataset, first = tracker.dataset_name(run_id, X, variable_name(X))
    result = yield
    tracker.add_prediction(result, run_id, dataset)
    if (
        first and call.settings.log_datasets and X is not None
    ):  # the eval data, as MLflow records it
        with call.guard("eval dataset"):
            call.log_dataset(X, None, dataset, "eval")


def _capture_score(call: Call) -> Generator[None, Any, None]:
    from fittrace.autologging import run_for
    from fittrace.sklearn import _post_training

    run_id = run_for(call.instance) if call.settings.log_post_training_metrics else None
    if run_id is None:
        return
    X = call.get_arg("X", 0)
    dataset, _ = _post_training.tracker.dataset_name(run_id, X, _post_training.variable_name(X))
    name = type(call.instance).__name__
    command = _post_training.describe_call(
        f"{name}.score", call.instance.score, call.args, call.kwargs, sys._getframe(1)
    )
    value = yield
    if _post_training.loggable(value):
        _post_training.log_metric(run_id, f"{name}_score", dataset, value, command)


# -- patching -----------------------------------------------------------------------------
_patcher: Any = None
_inference_patched: set[type] = set()


def _patch_inference(cls: type) -> None:
    """Patch the inference methods ``cls`` uses, on whichever class of its MRO defines them."""
    patcher = _patcher
    if patcher is None or cls in _inference_patched:
        return
    for attribute in INFERENCE_METHODS:
        owner = next((k for k in cls.__mro__ if attribute in vars(k)), None)
        if owner is not None and owner is not object:
            capture = _capture_score if attribute == "score" else _capture_predict
            patcher.patch(owner, attribute, capture, run="model")
    _inference_patched.add(cls)


def _post_training_enabled() -> bool:
    from fittrace.autologging import get_settings

    settings = get_settings(_NAME)
    return settings is not None and not settings.disable and settings.log_post_training_metrics


def _on_metric_result(name: str, function: Any, args: tuple, kwargs: dict, value: Any) -> None:
    """A ``sklearn.metrics`` function returned ``value``: log it if it was computed on a tracked prediction."""
    from fittrace.autologging import get_settings, safety
    from fittrace.sklearn import _post_training

    try:
        if not _post_training.loggable(value):
            return
        entry = _post_training.tracker.find_prediction(itertools.chain(args, kwargs.values()))
        if entry is None:
            return
        command = _post_training.describe_call(name, function, args, kwargs, sys._getframe(1))
        _post_training.log_metric(entry.run_id, name, entry.dataset, value, command)
    except Exception as exc:
        settings = get_settings(_NAME)
        brief = safety.report(
            _NAME, f"post-training metric {name}", exc, silent=bool(settings and settings.silent)
        )
        if safety.testing():
            raise safety.testing_error(_NAME, brief, exc) from exc


def _install_metric_functions(patcher: Any) -> None:
    """Put picklable stand-ins for the metric functions into the ``sklearn.metrics`` namespace.

    Not ``patcher.patch``: its wrappers pickle by the wrapped function's defining
    module, which would not find them there (the defining modules keep the plain
    functions on purpose). ``patcher.replace`` records them, so ``unpatch()``
    restores the namespace like every other patch.
    """
    from fittrace.sklearn._post_training import MetricFunction, metric_names

    for name in metric_names(patcher.module):
        patcher.replace(
            patcher.module,
            name,
            lambda original, _switch, name=name: MetricFunction(
                original, name, _post_training_enabled, _on_metric_result
            ),
        )


def _install_xgboost_inference(patcher: Any) -> None:
    """Post-training metrics for XGBoost's scikit-learn models, whichever integration recorded their fit."""
    from fittrace.autologging import get_settings, hooks

    def patch_models(module: Any) -> None:
        if _patcher is not patcher or get_settings(_NAME) is None:
            return  # sklearn autologging was unpatched or re-installed since
        base = getattr(module, "XGBModel", None)
        if isinstance(base, type):
            for cls in [base, *type.__subclasses__(base)]:
                _patch_inference(cls)

    hooks.when_imported("xgboost.sklearn", patch_models)


def install(patcher: Any) -> None:
    global _patcher
    if patcher.module.__name__ == "sklearn.metrics":
        _install_metric_functions(patcher)
        return
    from sklearn.base import BaseEstimator, ClusterMixin, OutlierMixin, TransformerMixin

    from fittrace.sklearn import _html

    _patcher = patcher
    _inference_patched.clear()
    for method in FIT_METHODS:
        patcher.patch_subclasses(
            BaseEstimator, method, _capture_fit, include_base=False, predicate=_records_fits
        )
    patcher.patch(TransformerMixin, "fit_transform", _capture_fit)
    patcher.patch(ClusterMixin, "fit_predict", _capture_fit)
    patcher.patch(OutlierMixin, "fit_predict", _capture_fit)
    _install_xgboost_inference(patcher)
    _html.memoize_docstrings(patcher)
