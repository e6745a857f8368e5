"""CatBoost autologging: what ``fit`` of CatBoost, CatBoostClassifier, CatBoostRegressor and
CatBoostRanker (and subclasses) records.

- Params: the params as given (``get_params()``), and the other params as CatBoost resolved
  them (``get_all_params()`` after the fit: ``loss_function``, ``depth``...); the full
  resolved set is also ``all_params.json``.
- Metrics: every learn/validation metric per iteration from ``get_evals_result()`` as
  ``<learn|validation[_<i>]>-<metric>`` at step = iteration (written after the fit), and
  ``best_iteration`` when CatBoost chose one (a validation set was given).
- Artifacts: ``feature_importance.json`` (CatBoost's default importance, by feature name)
  and the model in CatBoost's ``cbm`` format (catboost flavor, pyfunc) with a signature
  inferred from the first rows of ``X`` (not for ``Pool`` data).
- The data (``X``/``y`` and ``eval_set``, unless given as ``Pool``) as run inputs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Generator
from typing import Any

from fittrace.autologging import Call, Patcher
from fittrace.entities import Metric

EXAMPLE_ROWS = 5
_UNSAFE = re.compile(r"[^\w.\- /:]")


def _loggable(value: Any) -> Any:
    if callable(value) and not isinstance(value, type):
        return getattr(value, "__qualname__", None) or type(value).__name__
    return value


def _is_pool(data: Any) -> bool:
    return type(data).__name__ == "Pool" and type(data).__module__.startswith("catboost")


def head(data: Any, rows: int = EXAMPLE_ROWS) -> Any:
    """The first rows of array-like ``X``; None for a ``Pool`` or a file path."""
    if data is None or _is_pool(data) or isinstance(data, (str, bytes)):
        return None
    return data.iloc[:rows] if hasattr(data, "iloc") else data[:rows]


def history_metrics(evals: dict[str, dict[str, list[float]]]) -> list[Metric]:
    """``get_evals_result()`` as metrics ``<data>-<metric>`` at step = iteration, stamped now."""
    now = time.time_ns() // 1_000_000
    return [
        Metric(_UNSAFE.sub("_", f"{data}-{metric}"), float(value), now, step)
        for data, metrics in evals.items()
        for metric, values in metrics.items()
        for step, value in enumerate(values)
    ]


def _eval_pairs(eval_set: Any) -> list[Any]:
    if eval_set is None:
        return []
    return list(eval_set) if isinstance(eval_set, list) else [eval_set]


def _log_datasets(call: Call, X: Any, y: Any) -> None:
    if not _is_pool(X):
        call.log_dataset(X, y, "train", "train")
    for index, pair in enumerate(_eval_pairs(call.get_arg("eval_set"))):
        if isinstance(pair, tuple) and not _is_pool(pair[0]):
            call.log_dataset(pair[0], pair[1], f"validation_{index}", "eval")


def _capture_fit(call: Call) -> Generator[None, Any, None]:
    model = call.instance
    given = {k: _loggable(v) for k, v in model.get_params().items()}
    call.log_params(given)
    X, y = call.get_arg("X", 0), call.get_arg("y", 1)
    if call.settings.log_datasets:
        with call.guard("logging datasets"):
            _log_datasets(call, X, y)
    yield
    with call.guard("resolved params"):
        resolved = model.get_all_params()
        call.log_params({k: v for k, v in resolved.items() if k not in given})
        call.log_text(json.dumps(resolved, indent=2, default=str), "all_params.json")
    with call.guard("iteration metrics"):
        rows = history_metrics(model.get_evals_result())
        for start in range(0, len(rows), 1000):
            call.client.log_batch(call.run_id, metrics=rows[start : start + 1000])
        best = model.get_best_iteration()
        if best is not None:
            call.log_metrics({"best_iteration": best})
    with call.guard("feature importance"):
        importance = model.get_feature_importance()
        names = model.feature_names_
        call.log_text(
            json.dumps(dict(zip(names, importance.tolist(), strict=True)), indent=2),
            "feature_importance.json",
        )
    if call.settings.log_models:
        from fittrace.catboost.flavor import log_model

        call.log_model(log_model, model, head(X))


def install(patcher: Patcher) -> None:
    import catboost

    patcher.patch_subclasses(catboost.CatBoost, "fit", _capture_fit)
