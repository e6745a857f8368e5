"""ROC AUC and thinned ROC / precision-recall curves from the sorted scores of each class.

Only the positive-class scores of the positives and of the negatives are kept
(one float per training row, no index arrays), sorted in place. The AUC is the
Mann-Whitney statistic (ties count half), which equals the trapezoidal area
``sklearn.metrics.roc_auc_score`` computes; curve points are exact points of
``sklearn.metrics.roc_curve`` / ``precision_recall_curve`` (a sample of their
thresholds).
"""

from __future__ import annotations

from typing import Any, NamedTuple

CURVE_THRESHOLDS = 200
_SEARCH_CHUNK = 1 << 16


class BinaryCurve(NamedTuple):  # a NamedTuple: a dataclass costs a fit 0.4 ms to define
    """Curve points by threshold: ``fpr``/``tpr`` start at (0, 0) for threshold +inf;
    ``precision``/``recall`` are listed by increasing threshold and end with (1, 0)."""

    pos_label: Any
    auc: float
    roc_thresholds: Any
    fpr: Any
    tpr: Any
    pr_thresholds: Any
    precision: Any
    recall: Any


def _sorted(scores: Any, weights: Any) -> tuple[Any, Any]:
    import numpy as np

    if weights is None:
        scores.sort()
        return scores, None
    order = np.argsort(scores, kind="stable")
    return scores[order], weights[order]


def _cumulative(weights: Any) -> Any:
    import numpy as np

    return np.concatenate(([0.0], np.cumsum(weights)))


def _at_or_above(sorted_scores: Any, cumulative: Any, total: float, thresholds: Any) -> Any:
    """Total weight (or count) of scores >= each threshold."""
    import numpy as np

    below = np.searchsorted(sorted_scores, thresholds, side="left")
    return total - (below if cumulative is None else cumulative[below])


def _mann_whitney(pos: Any, pos_w: Any, neg: Any, neg_cum: Any) -> float:
    """Sum over positives of (weight of negatives scored lower + half of those tied)."""
    import numpy as np

    total = 0.0
    for start in range(0, len(pos), _SEARCH_CHUNK):
        chunk = pos[start : start + _SEARCH_CHUNK]
        lo = np.searchsorted(neg, chunk, side="left")
        hi = np.searchsorted(neg, chunk, side="right")
        if neg_cum is None:
            total += float(lo.sum()) + 0.5 * float((hi - lo).sum())
        else:
            credit = neg_cum[lo] + 0.5 * (neg_cum[hi] - neg_cum[lo])
            total += float(np.dot(pos_w[start : start + _SEARCH_CHUNK], credit))
    return total


def binary_curve(pos: Any, neg: Any, pos_w: Any, neg_w: Any, pos_label: Any) -> BinaryCurve | None:
    """The curve of positive-class scores ``pos`` (rows whose label is ``pos_label``) against ``neg``.

    ``pos`` and ``neg`` are sorted in place when unweighted; ``pos_w``/``neg_w`` are the
    rows' sample weights or None. None when one class has no (weighted) rows.
    """
    import numpy as np

    pos, pos_w = _sorted(pos, pos_w)
    neg, neg_w = _sorted(neg, neg_w)
    pos_cum = None if pos_w is None else _cumulative(pos_w)
    neg_cum = None if neg_w is None else _cumulative(neg_w)
    total_pos = float(len(pos) if pos_cum is None else pos_cum[-1])
    total_neg = float(len(neg) if neg_cum is None else neg_cum[-1])
    if total_pos <= 0 or total_neg <= 0:
        return None
    auc = _mann_whitney(pos, pos_w, neg, neg_cum) / (total_pos * total_neg)

    def sample(values: Any) -> Any:
        if len(values) == 0:
            return values
        return values[
            np.linspace(0, len(values) - 1, min(len(values), CURVE_THRESHOLDS)).astype(np.intp)
        ]

    thresholds = np.unique(np.concatenate((sample(pos), sample(neg))))[::-1]  # descending
    tps = _at_or_above(pos, pos_cum, total_pos, thresholds)
    fps = _at_or_above(neg, neg_cum, total_neg, thresholds)
    # scikit-learn's drop_intermediate rules: collinear ROC points, repeated recalls
    roc = _keep_ends(np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), len(tps))
    pr = _keep_ends(np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:])), len(tps))
    predicted = tps[pr] + fps[pr]
    precision = np.divide(tps[pr], predicted, out=np.zeros(len(predicted)), where=predicted > 0)
    return BinaryCurve(
        pos_label=pos_label,
        auc=auc,
        roc_thresholds=np.concatenate(([np.inf], thresholds[roc])),
        fpr=np.concatenate(([0.0], fps[roc] / total_neg)),
        tpr=np.concatenate(([0.0], tps[roc] / total_pos)),
        pr_thresholds=thresholds[pr][::-1],
        precision=np.concatenate((precision[::-1], [1.0])),
        recall=np.concatenate(((tps[pr] / total_pos)[::-1], [0.0])),
    )


def _keep_ends(inner: Any, n: int) -> Any:
    """A mask keeping the first and last of ``n`` points and the inner ones flagged in ``inner``."""
    import numpy as np

    if n <= 2:
        return np.ones(n, dtype=bool)
    return np.concatenate(([True], inner, [True]))
