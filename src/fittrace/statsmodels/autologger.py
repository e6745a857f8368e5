"""statsmodels autologging: what ``fit`` of every ``statsmodels.base.model.Model`` records.

- Params: the ``fit`` arguments as passed (MLflow's ``log_fn_args_as_params``: ``method``,
  ``cov_type``, ``maxiter``...; arrays are left out), plus ``model_class``, ``nobs`` and,
  for formula models, ``formula``.
- Metrics: MLflow's list where the results have it and it is a number: ``aic``, ``bic``,
  ``centered_tss``, ``condition_number``, ``df_model``, ``df_resid``, ``ess``, ``f_pvalue``,
  ``fvalue``, ``llf``, ``mse_model``, ``mse_resid``, ``mse_total``, ``rsquared``,
  ``rsquared_adj``, ``scale``, ``ssr``, ``uncentered_tss``.
- Artifacts: ``model_summary.txt`` (``summary().as_text()``), ``coefficients.csv`` (one row
  per coefficient: ``coef``, ``std_err``, ``t_or_z``, ``p_value``, ``ci_lower``,
  ``ci_upper``, where the results have them) and the results object as a statsmodels
  model (pickle, as in MLflow).
- The model's data (``endog``, ``exog``) as a run input.

Fits made inside a fit (GLM's IRLS calling WLS, a formula model refitting) are not recorded.
"""

from __future__ import annotations

import inspect
import numbers
import warnings
from collections.abc import Generator
from typing import Any

from fittrace.autologging import Call, Patcher

METRICS = (
    "aic bic centered_tss condition_number df_model df_resid ess f_pvalue fvalue llf "
    "mse_model mse_resid mse_total rsquared rsquared_adj scale ssr uncentered_tss"
).split()


def _is_data(value: Any) -> bool:
    return hasattr(value, "shape") or (isinstance(value, (list, tuple)) and len(value) > 10)


def _fit_params(call: Call) -> dict[str, Any]:
    """The fit's arguments by name as the caller passed them (arrays and callables left out)."""
    try:
        bound = inspect.signature(type(call.instance).fit).bind_partial(
            call.instance, *call.args, **call.kwargs
        )
    except TypeError:
        return {}
    params: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if name == "self" or _is_data(value) or callable(value):
            continue
        if name == "kwargs" and isinstance(value, dict):
            params.update((k, v) for k, v in value.items() if not _is_data(v) and not callable(v))
        else:
            params[name] = value
    return params


def _model_params(model: Any) -> dict[str, Any]:
    cls = type(model)
    params: dict[str, Any] = {"model_class": f"{cls.__module__}.{cls.__qualname__}"}
    nobs = getattr(model, "nobs", None)
    if isinstance(nobs, numbers.Number):
        params["nobs"] = nobs
    formula = getattr(model, "formula", None)
    if isinstance(formula, str):
        params["formula"] = formula
    return params


def summary_metrics(results: Any) -> dict[str, float]:
    """MLflow's summary statistics of a results object, those it has and that are numbers."""
    metrics: dict[str, float] = {}
    for name in METRICS:
        try:
            with warnings.catch_warnings():  # e.g. GLM's bic FutureWarning: not the user's doing
                warnings.simplefilter("ignore")
                value = getattr(results, name)
        except Exception:  # some statistics are lazily computed and undefined for some models
            continue
        if isinstance(value, numbers.Number) and not isinstance(value, bool):
            metrics[name] = float(value)
    return metrics


def coefficients_table(results: Any) -> str:
    """The estimated coefficients with their standard errors, tests and intervals, as CSV."""
    import numpy as np
    import pandas as pd

    params = results.params
    columns: dict[str, Any] = {"coef": np.asarray(params).ravel()}
    size = len(columns["coef"])
    names = next(
        (
            list(candidate)
            for candidate in (
                getattr(params, "index", None),
                getattr(results.model, "param_names", None),  # time series models
                getattr(results.model, "exog_names", None),
            )
            if candidate is not None and len(candidate) == size
        ),
        range(size),
    )
    for column, attribute in (("std_err", "bse"), ("t_or_z", "tvalues"), ("p_value", "pvalues")):
        try:
            columns[column] = np.asarray(getattr(results, attribute)).ravel()
        except Exception:  # not every results class defines every statistic
            continue
    try:
        interval = np.asarray(results.conf_int()).reshape(-1, 2)
        columns["ci_lower"], columns["ci_upper"] = interval[:, 0], interval[:, 1]
    except Exception:
        pass
    frame = pd.DataFrame(
        {k: v for k, v in columns.items() if len(v) == size}, index=[str(n) for n in names]
    )
    return frame.to_csv(index_label="name")


def _capture_fit(call: Call) -> Generator[None, Any, None]:
    model = call.instance
    call.log_params({**_fit_params(call), **_model_params(model)})
    results = yield
    if not hasattr(results, "params"):
        return
    with call.guard("summary statistics"):
        call.log_metrics(summary_metrics(results))
    with call.guard("model summary"):
        call.log_text(results.summary().as_text(), "model_summary.txt")
    with call.guard("coefficients table"):
        call.log_text(coefficients_table(results), "coefficients.csv")
    if call.settings.log_datasets:
        with call.guard("logging the dataset"):
            exog, endog = getattr(model, "exog", None), getattr(model, "endog", None)
            if exog is None:  # a time series model without regressors
                exog, endog = endog, None
            call.log_dataset(exog, endog, "train", "train")
    if call.settings.log_models:
        from fittrace.statsmodels.flavor import log_model

        log_model(
            results,
            "model",
            registered_model_name=call.settings.registered_model_name,
            run_id=call.run_id,
        )


def install(patcher: Patcher) -> None:
    from statsmodels.base.model import Model

    patcher.patch_subclasses(Model, "fit", _capture_fit)
