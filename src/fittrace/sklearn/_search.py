"""Hyper-parameter searches (GridSearchCV, RandomizedSearchCV, the halving searches).

The parent run gets ``best_<param>`` params, ``best_cv_score`` and
``cv_results.csv``; the best ``max_tuning_runs`` candidates (all with None)
become child runs with their params and their mean/std scores and times.
The search's own clone fits never create runs (they are nested calls, or run
in scikit-learn's parallel jobs).
"""

from __future__ import annotations

import csv
import io
import logging
import numbers
from typing import Any

from fittrace.autologging.params import stringify_params
from fittrace.sklearn._params import estimator_params, estimator_tags

_logger = logging.getLogger("fittrace.sklearn")

_NOT_METRICS = ("param_", "split", "params")


def best_params(search: Any) -> dict[str, str]:
    """``best_<param>`` for every tuned param of the best candidate (none without refit)."""
    return stringify_params(getattr(search, "best_params_", None) or {}, prefix="best_")


def best_metrics(search: Any) -> dict[str, float]:
    score = getattr(search, "best_score_", None)
    return {"best_cv_score": float(score)} if isinstance(score, numbers.Real) else {}


def _column(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def cv_results_csv(cv_results: dict[str, Any]) -> bytes:
    """``cv_results_`` as CSV (one row per candidate, masked cells empty) without pandas."""
    columns = {key: _column(values) for key, values in cv_results.items()}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    return out.getvalue().encode()


def _rank_column(search: Any, cv_results: dict[str, Any]) -> str | None:
    if "rank_test_score" in cv_results:
        return "rank_test_score"
    refit = getattr(search, "refit", None)
    if isinstance(refit, str) and f"rank_test_{refit}" in cv_results:
        return f"rank_test_{refit}"
    return next((key for key in cv_results if key.startswith("rank_test_")), None)


def top_candidates(search: Any, max_tuning_runs: int | None) -> list[int]:
    """Indices of the best candidates by rank (ties in result order); all with ``max_tuning_runs=None``."""
    cv_results = search.cv_results_
    n = len(cv_results["params"])
    rank = _rank_column(search, cv_results)
    if max_tuning_runs is None or rank is None:
        return list(range(n if max_tuning_runs is None else min(n, max_tuning_runs)))
    ranks = _column(cv_results[rank])
    return sorted(range(n), key=lambda i: (ranks[i], i))[:max_tuning_runs]


def candidate_metrics(cv_results: dict[str, Any], index: int) -> dict[str, float]:
    """The aggregate numbers of one candidate: mean/std test (and train) scores, fit and score times, rank."""
    metrics = {}
    for key, values in cv_results.items():
        if key.startswith(_NOT_METRICS):
            continue
        value = values[index]
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            metrics[key] = float(value)
    return metrics


def log_child_runs(
    call: Any, search: Any, max_tuning_runs: int | None, train_inputs: list[Any]
) -> int:
    """One finished child run of ``call``'s run per top candidate, each with the search's
    training data as input (as MLflow records it); returns how many."""
    cv_results = search.cv_results_
    seed = search.estimator
    base = estimator_params(seed)
    tags = estimator_tags(seed)
    indices = top_candidates(search, max_tuning_runs)
    for index in indices:
        with call.start_child_run(tags=tags) as child:
            child.log_params({**base, **stringify_params(cv_results["params"][index])})
            child.log_metrics(candidate_metrics(cv_results, index))
            if train_inputs:
                call.client.log_inputs(child.run_id, train_inputs)
    omitted = len(cv_results["params"]) - len(indices)
    _logger.info(
        "Logged %d child runs for %s; %d candidates omitted",
        len(indices),
        type(search).__name__,
        omitted,
    )
    return len(indices)
