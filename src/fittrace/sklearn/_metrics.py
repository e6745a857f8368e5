"""Training metrics with MLflow's names, from one pass of ``predict`` (and ``predict_proba``) over the data.

Predictions are made over bounded chunks of rows and folded into running totals
(per-class counts, the confusion matrix, summed losses; for binary classifiers
the positive-class score of every row, one float each), so autologging a fit on
a large ``X`` holds no full-size prediction arrays. With at most one chunk of
rows the totals are computed with scikit-learn's own formulas and equal its
functions' results; over several chunks only the summation order differs.

For the common case — a classifier with sorted ``classes_`` and 1-D labels —
this avoids scikit-learn's per-function re-validation and label re-derivation.
Anything else (multilabel or multioutput targets, labels outside ``classes_``,
unsortable labels) goes through ``sklearn.metrics`` itself on full predictions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fittrace.sklearn._curves import BinaryCurve, binary_curve

_logger = logging.getLogger("fittrace.sklearn")

PREFIX = "training_"
CHUNK_BYTES = 8 << 20
MIN_CHUNK_ROWS = 1024
MAX_CHUNK_ROWS = 1 << 16


def _unchanged(X: Any) -> Any:
    return X


class Evaluation:
    """What training-time evaluation computed, reused for metrics, artifacts and the signature.

    ``y_pred``: predictions for the first rows at least (all rows when they fit one chunk);
    ``fresh``: the data as each estimator call should see it, since a fit (or a predict) that
    writes into its input frame would otherwise make the next call see its own additions.
    """

    __slots__ = ("y_pred", "labels", "confusion", "curve", "fresh")

    def __init__(self, y_pred: Any = None) -> None:
        self.y_pred = y_pred
        self.labels: Any = None
        self.confusion: Any = None
        self.curve: BinaryCurve | None = None
        self.fresh: Callable[[Any], Any] = _unchanged


def _unwrap(func: Any) -> Any:
    while hasattr(func, "__wrapped__"):
        func = func.__wrapped__
    return func


def _score_is(estimator: Any, mixin_name: str) -> bool:
    """Whether ``estimator.score`` is the plain mixin's (accuracy / r2 of ``predict``)."""
    import sklearn.base

    mixin_score = getattr(sklearn.base, mixin_name).score
    return _unwrap(getattr(type(estimator), "score", None)) is _unwrap(mixin_score)


# -- chunks of rows ---------------------------------------------------------------------------
def _num_rows(X: Any) -> int:
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape else len(X)


def row_chunks(X: Any) -> list[slice]:
    """Row slices of about ``CHUNK_BYTES`` of ``X`` each."""
    n = _num_rows(X)
    shape = getattr(X, "shape", None)
    if hasattr(X, "nnz"):
        row_bytes = 12 * X.nnz // max(n, 1)
    elif shape is not None and len(shape) > 1:
        row_bytes = 8 * max(1, int(shape[1]))
    else:
        row_bytes = 8
    step = min(MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, CHUNK_BYTES // max(row_bytes, 1)))
    return [slice(start, min(n, start + step)) for start in range(0, n, step)] or [slice(0, 0)]


def rows(data: Any, part: slice) -> Any:
    if part.start == 0 and part.stop >= _num_rows(data):
        return data
    return data.iloc[part] if hasattr(data, "iloc") else data[part]


# -- classifiers ------------------------------------------------------------------------------
def _encode(classes: Any, values: Any) -> Any:
    """Indices of ``values`` in sorted ``classes``, or None when some value is not a class."""
    import numpy as np

    if len(classes) == 2:
        second = values == classes[1]
        if np.count_nonzero(second) + np.count_nonzero(values == classes[0]) != len(values):
            return None
        return second.astype(np.intp)
    idx = np.searchsorted(classes, values)
    np.clip(idx, 0, len(classes) - 1, out=idx)
    return idx if np.array_equal(classes[idx], values) else None


class _ClassifierTotals:
    """Running per-class sums of one pass over the chunks."""

    def __init__(self, k: int, weighted: bool, binary_rows: tuple[int, int] | None) -> None:
        import numpy as np

        dtype = np.float64 if weighted else np.int64
        self.k = k
        self.true = np.zeros(k, dtype)
        self.pred = np.zeros(k, dtype)
        self.hit = np.zeros(k, dtype)
        self.confusion = np.zeros(k * k, dtype)
        self.correct = 0.0
        self.weight = 0.0
        self.loss = 0.0
        self.scores = None
        if binary_rows is not None:
            self.scores = [np.empty(binary_rows[0]), np.empty(binary_rows[1])]
            self.score_weights = (
                [np.empty(binary_rows[0]), np.empty(binary_rows[1])] if weighted else None
            )
            self.filled = [0, 0]

    def add(self, y_enc: Any, p_enc: Any, w: Any, proba: Any) -> None:
        import numpy as np

        k = self.k
        hit = y_enc == p_enc
        self.true += np.bincount(y_enc, weights=w, minlength=k).astype(self.true.dtype, copy=False)
        self.pred += np.bincount(p_enc, weights=w, minlength=k).astype(self.pred.dtype, copy=False)
        hit_w = None if w is None else w[hit]
        self.hit += np.bincount(y_enc[hit], weights=hit_w, minlength=k).astype(
            self.hit.dtype, copy=False
        )
        self.confusion += np.bincount(y_enc * k + p_enc, weights=w, minlength=k * k).astype(
            self.confusion.dtype, copy=False
        )
        # np.average's arithmetic, as sklearn's accuracy_score and log_loss use it
        self.correct += float(hit.sum() if w is None else (hit * w).sum())
        self.weight += float(len(y_enc) if w is None else w.sum())
        if proba is None:
            return
        eps = np.finfo(proba.dtype).eps
        loss = -np.log(np.clip(proba[np.arange(len(y_enc)), y_enc], eps, 1 - eps))
        self.loss += float(loss.sum() if w is None else (loss * w).sum())
        if self.scores is not None:
            for slot, rows_of_class in enumerate((y_enc == 1, y_enc == 0)):  # positives, negatives
                start = self.filled[slot]
                end = start + int(rows_of_class.sum())
                self.scores[slot][start:end] = proba[rows_of_class, 1]
                if self.score_weights is not None:
                    self.score_weights[slot][start:end] = w[rows_of_class]
                self.filled[slot] = end


def _fast_classifier(
    estimator: Any, X: Any, y: Any, weight: Any, pos_label: Any, ev: Evaluation, with_proba: bool
) -> dict[str, float] | None:
    import numpy as np

    classes = getattr(estimator, "classes_", None)
    if not isinstance(classes, np.ndarray) or classes.ndim != 1 or len(classes) < 2:
        return None
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1 or (weight is not None and weight.shape != y.shape):
        return None
    try:
        if np.any(classes[1:] < classes[:-1]):
            return None
        if pos_label is not None and (len(classes) != 2 or not np.any(classes == pos_label)):
            return None  # scikit-learn decides (and refuses) these
        positives = int(np.count_nonzero(y == classes[1])) if len(classes) == 2 else None
    except TypeError:  # labels that do not compare
        return None
    k = len(classes)
    totals = None
    for part in row_chunks(X):
        X_part = rows(X, part)
        predicted = np.asarray(estimator.predict(ev.fresh(X_part)))
        if ev.y_pred is None:
            ev.y_pred = predicted
        y_enc = _encode(classes, y[part])
        p_enc = _encode(classes, predicted) if predicted.shape == y[part].shape else None
        if y_enc is None or p_enc is None:
            return None
        proba = _predict_proba(estimator, ev.fresh(X_part)) if with_proba else None
        if totals is None:  # the first chunk tells whether predict_proba really works
            with_proba = proba is not None and proba.shape == (len(y_enc), k)
            binary_rows = (positives, len(y) - positives) if with_proba and k == 2 else None
            totals = _ClassifierTotals(k, weight is not None, binary_rows)
        elif with_proba and (proba is None or proba.shape != (len(y_enc), k)):
            return None
        totals.add(
            y_enc, p_enc, None if weight is None else weight[part], proba if with_proba else None
        )
    return _classifier_results(totals, classes, pos_label, ev, with_proba)


def _classifier_results(
    totals: _ClassifierTotals, classes: Any, pos_label: Any, ev: Evaluation, with_proba: bool
) -> dict[str, float]:
    """scikit-learn's precision/recall/F1 (zero where undefined), accuracy, log loss and ROC AUC."""
    import numpy as np

    k = totals.k
    true, pred, hit = totals.true, totals.pred, totals.hit
    precision = np.divide(hit, pred, out=np.zeros(k), where=pred != 0)
    recall = np.divide(hit, true, out=np.zeros(k), where=true != 0)
    denominator = 1.0 * true.astype(np.float64) + pred
    f1 = np.divide(2.0 * hit, denominator, out=np.zeros(k), where=denominator != 0)
    if pos_label is None:
        p, r, f = (float(np.average(v, weights=true)) for v in (precision, recall, f1))
    else:
        c = int(np.flatnonzero(classes == pos_label)[0])
        p, r, f = float(precision[c]), float(recall[c]), float(f1[c])
    metrics = {
        "precision_score": p,
        "recall_score": r,
        "f1_score": f,
        "accuracy_score": totals.correct / totals.weight,
    }
    ev.labels = classes
    ev.confusion = totals.confusion.reshape(k, k)
    if with_proba and np.all(true > 0):
        metrics["log_loss"] = totals.loss / totals.weight
    if totals.scores is not None:
        weights = totals.score_weights or (None, None)
        ev.curve = binary_curve(
            totals.scores[0], totals.scores[1], weights[0], weights[1], classes[1]
        )
        if ev.curve is not None:
            metrics["roc_auc"] = ev.curve.auc
    return metrics


def _sklearn_classifier(
    y: Any, y_pred: Any, proba: Any, sample_weight: Any, pos_label: Any
) -> dict[str, float]:
    """The same metrics through ``sklearn.metrics`` (multilabel, odd labels, ...)."""
    from sklearn.metrics._classification import (
        accuracy_score,
        log_loss,
        precision_recall_fscore_support,
    )

    average = "weighted" if pos_label is None else "binary"
    prf_kwargs = {"average": average, "sample_weight": sample_weight, "zero_division": 0}
    if pos_label is not None:
        prf_kwargs["pos_label"] = pos_label
    calls = {
        "accuracy_score": lambda: accuracy_score(y, y_pred, sample_weight=sample_weight),
        "prf": lambda: precision_recall_fscore_support(y, y_pred, **prf_kwargs)[:3],
    }
    if proba is not None:
        calls["log_loss"] = lambda: log_loss(y, proba, sample_weight=sample_weight)
        calls["roc_auc"] = lambda: _roc_auc(y, proba, sample_weight)
    metrics: dict[str, float] = {}
    for name, compute in calls.items():
        try:
            value = compute()
        except (ValueError, TypeError) as e:
            _logger.debug("training metric %s not computed: %s", name, e)
            continue
        if name == "prf":
            metrics.update(
                zip(("precision_score", "recall_score", "f1_score"), map(float, value), strict=True)
            )
        else:
            metrics[name] = float(value)
    return metrics


def _roc_auc(y: Any, proba: Any, sample_weight: Any) -> float:
    """MLflow's ``training_roc_auc``: positive-class AUC, or weighted one-vs-one for multiclass."""
    from sklearn.metrics._ranking import roc_auc_score

    score = proba[:, 1] if getattr(proba, "ndim", 0) == 2 and proba.shape[1] == 2 else proba
    return float(
        roc_auc_score(y, score, average="weighted", multi_class="ovo", sample_weight=sample_weight)
    )


def _predict_proba(estimator: Any, X: Any) -> Any:
    """``predict_proba(X)``, or None where the estimator has none that works (e.g. SVC without probability)."""
    import numpy as np

    if not hasattr(estimator, "predict_proba"):
        return None
    try:
        return np.asarray(estimator.predict_proba(X))
    except (AttributeError, NotImplementedError, ValueError) as e:
        _logger.debug("predict_proba unavailable for training metrics: %s", e)
        return None


def classifier_metrics(
    estimator: Any, X: Any, y: Any, sample_weight: Any, pos_label: Any, ev: Evaluation
) -> dict[str, float]:
    """Accuracy, weighted (or ``pos_label``) precision/recall/F1, log loss and ROC AUC when probabilities exist."""
    import numpy as np

    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    metrics = _fast_classifier(
        estimator, X, y, weight, pos_label, ev, hasattr(estimator, "predict_proba")
    )
    if metrics is None:
        ev.y_pred = estimator.predict(ev.fresh(X))
        proba = _predict_proba(estimator, ev.fresh(X))
        metrics = _sklearn_classifier(y, ev.y_pred, proba, sample_weight, pos_label)
    elif "log_loss" in metrics and len(ev.labels) > 2:
        try:
            metrics["roc_auc"] = _roc_auc(y, _predict_proba(estimator, ev.fresh(X)), sample_weight)
        except (ValueError, TypeError) as e:  # e.g. no weighted one-vs-one AUC in scikit-learn
            _logger.debug("training metric roc_auc not computed: %s", e)
    if _score_is(estimator, "ClassifierMixin") and "accuracy_score" in metrics:
        metrics["score"] = metrics["accuracy_score"]
    return metrics


# -- regressors --------------------------------------------------------------------------------
def regressor_metrics(
    estimator: Any, X: Any, y: Any, sample_weight: Any, ev: Evaluation
) -> dict[str, float]:
    """MSE, RMSE, MAE and R² averaged uniformly over outputs, with scikit-learn's formulas."""
    import math

    import numpy as np

    y = np.asarray(y, dtype=np.float64)
    y2 = y.reshape(len(y), -1)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mean = np.average(y2, axis=0, weights=w)
    squared = absolute = total = 0.0
    for part in row_chunks(X):
        predicted = np.asarray(estimator.predict(ev.fresh(rows(X, part))), dtype=np.float64)
        if ev.y_pred is None:
            ev.y_pred = predicted
        diff = y2[part] - predicted.reshape(len(predicted), -1)
        wp = 1.0 if w is None else w[part][:, None]
        squared = squared + (wp * diff**2).sum(axis=0)
        absolute = absolute + (wp * np.abs(diff)).sum(axis=0)
        total = total + (wp * (y2[part] - mean) ** 2).sum(axis=0)
    weight_sum = len(y) if w is None else w.sum()
    # r2_score's finite convention: 1 for a perfect fit, 0 for a constant target predicted wrong
    r2 = np.where(squared == 0, 1.0, 0.0)
    np.subtract(
        1.0, squared / np.where(total != 0, total, 1.0), out=r2, where=(total != 0) & (squared != 0)
    )
    mse = float(np.mean(squared / weight_sum))
    metrics = {
        "mean_squared_error": mse,
        "root_mean_squared_error": math.sqrt(mse),
        "mean_absolute_error": float(np.mean(absolute / weight_sum)),
        "r2_score": float(np.mean(r2)),
    }
    if _score_is(estimator, "RegressorMixin"):
        metrics["score"] = metrics["r2_score"]
    return metrics


# -- everything else ---------------------------------------------------------------------------
def _call_score(estimator: Any, X: Any, y: Any, sample_weight: Any) -> float | None:
    import inspect

    try:
        params = inspect.signature(estimator.score).parameters
        weighted = sample_weight is not None and "sample_weight" in params
        value = estimator.score(X, y, **({"sample_weight": sample_weight} if weighted else {}))
        return float(value)
    except (ValueError, TypeError, AttributeError, NotImplementedError) as e:
        _logger.debug("training_score not computed for %s: %s", type(estimator).__name__, e)
        return None


def training_metrics(
    estimator: Any,
    X: Any,
    y: Any,
    sample_weight: Any,
    pos_label: Any = None,
    y_pred: Any = None,
    fresh: Callable[[Any], Any] | None = None,
) -> tuple[dict[str, float], Evaluation]:
    """``training_*`` metrics of a fitted estimator on its training data, and what they were computed from.

    Every metric needs labels, as in MLflow: a fit without ``y`` (``KMeans().fit(X)``)
    logs none; other estimators with a ``score`` fitted with ``y`` get ``training_score``.
    ``y_pred`` (e.g. from ``fit_predict``) is kept for the signature; ``fresh`` gives the data
    as each estimator call should see it (see ``Evaluation.fresh``).
    """
    from sklearn.base import is_classifier, is_regressor

    ev = Evaluation(y_pred=y_pred)
    if fresh is not None:
        ev.fresh = fresh
    metrics: dict[str, float] = {}
    if y is not None and is_classifier(estimator) and hasattr(estimator, "predict"):
        metrics = classifier_metrics(estimator, X, y, sample_weight, pos_label, ev)
    elif y is not None and is_regressor(estimator) and hasattr(estimator, "predict"):
        metrics = regressor_metrics(estimator, X, y, sample_weight, ev)
    if y is not None and "score" not in metrics and hasattr(estimator, "score"):
        score = _call_score(estimator, ev.fresh(X), y, sample_weight)
        if score is not None:
            metrics["score"] = score
    return {PREFIX + k: v for k, v in metrics.items()}, ev
