"""Evaluation artifacts of a classifier: confusion matrix, ROC and precision-recall curves.

Written as compact JSON data: curves are exact points of scikit-learn's curves
(all of them for small data, a few hundred thresholds for large data; values
rounded to 5 decimals, the AUC exact as the ``training_roc_auc`` metric).
With ``log_plots`` (the default) each is also drawn as a PNG with MLflow's
name (``training_confusion_matrix.png``...) by ``render``, in fittrace's
figure helper process, so the fit does not wait for matplotlib.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fittrace.sklearn._metrics import Evaluation


def _rounded(*arrays: Any) -> list[list[Any]]:
    """Float arrays rounded to 5 decimals, as JSON-ready lists."""
    import numpy as np

    return [_json_floats(np.round(np.asarray(a, dtype=np.float64), 5)) for a in arrays]


def _json_floats(a: Any) -> list[Any]:
    """A float array as a list, with NaN and infinities as None (JSON has no spelling for them)."""
    import numpy as np

    values = a.tolist()
    for i in np.flatnonzero(~np.isfinite(a)).tolist():
        values[i] = None
    return values


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def evaluation_data(ev: Evaluation) -> dict[str, dict[str, Any]]:
    """Artifact base name -> JSON document for what ``ev`` holds."""
    docs: dict[str, dict[str, Any]] = {}
    if ev.confusion is not None:
        matrix = ev.confusion
        docs["confusion_matrix"] = {
            "labels": [_plain(v) for v in ev.labels],
            "matrix": matrix.tolist()
            if matrix.dtype.kind in "iu"
            else [_json_floats(row) for row in matrix],
            "rows": "true label",
            "columns": "predicted label",
        }
    curve = ev.curve
    if curve is not None:
        pos_label = _plain(curve.pos_label)
        fpr, tpr, thresholds = _rounded(curve.fpr, curve.tpr, curve.roc_thresholds)
        docs["roc_curve"] = {
            "pos_label": pos_label,
            "auc": curve.auc if math.isfinite(curve.auc) else None,
            "fpr": fpr,
            "tpr": tpr,
            "thresholds": thresholds,
        }
        # precision and recall end with the (recall=0, precision=1) point, which has no threshold
        precision, recall = _rounded(curve.precision, curve.recall)
        (thresholds,) = _rounded(curve.pr_thresholds)
        docs["precision_recall_curve"] = {
            "pos_label": pos_label,
            "precision": precision,
            "recall": recall,
            "thresholds": thresholds,
        }
    return docs


def json_files(docs: dict[str, dict[str, Any]], prefix: str) -> dict[str, bytes]:
    """Artifact file name (``<prefix><name>.json``) -> content."""
    return {
        f"{prefix}{name}.json": json.dumps(
            doc, separators=(",", ":"), default=str, allow_nan=False
        ).encode()
        for name, doc in docs.items()
    }


def render(doc: dict[str, Any]) -> Any:
    """The figure of one document of ``evaluation_data`` (its name as ``doc["kind"]``), for
    ``fittrace.autologging.figures``: drawn without pyplot, so no global figure state is touched."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4), dpi=120)
    fig.subplots_adjust(left=0.16, right=0.96, bottom=0.13, top=0.92)  # not "tight": a third faster
    _DRAW[doc["kind"]](fig.subplots(), doc)
    return fig


def _draw_confusion(ax: Any, doc: dict[str, Any]) -> None:
    import numpy as np

    matrix = np.asarray(doc["matrix"], dtype=float)
    labels = [str(v) for v in doc["labels"]]
    image = ax.imshow(matrix, cmap="Blues")
    ax.figure.colorbar(image, ax=ax)
    threshold = (matrix.max() + matrix.min()) / 2
    for (i, j), value in np.ndenumerate(matrix):
        text = f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"
        ax.text(
            j, i, text, ha="center", va="center", color="white" if value > threshold else "black"
        )
    ax.set(
        xticks=range(len(labels)), yticks=range(len(labels)), xticklabels=labels, yticklabels=labels
    )
    ax.set(xlabel="Predicted label", ylabel="True label", title="Training confusion matrix")


def _draw_roc(ax: Any, doc: dict[str, Any]) -> None:
    ax.plot(
        doc["fpr"], doc["tpr"], label=f"AUC = {doc['auc']:.3f}" if doc["auc"] is not None else None
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(
        xlabel=f"False positive rate (positive label: {doc['pos_label']})",
        ylabel="True positive rate",
    )
    ax.set(title="Training ROC curve", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower right")


def _draw_pr(ax: Any, doc: dict[str, Any]) -> None:
    ax.step(doc["recall"], doc["precision"], where="post")
    ax.set(xlabel=f"Recall (positive label: {doc['pos_label']})", ylabel="Precision")
    ax.set(title="Training precision-recall curve", xlim=(0, 1), ylim=(0, 1.02))


_DRAW = {
    "confusion_matrix": _draw_confusion,
    "roc_curve": _draw_roc,
    "precision_recall_curve": _draw_pr,
}
