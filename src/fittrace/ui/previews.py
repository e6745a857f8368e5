"""In-page previews of artifact files and the charts of evaluation data autologgers record.

Files are read from a local copy (the server downloads remote ones); text previews stop at
``TEXT_BYTES``, CSV tables at ``CSV_ROWS`` rows. Images and HTML are shown from the artifact
URL itself, HTML in a sandboxed frame (the artifact response also carries a sandbox CSP).
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from typing import Any

from fittrace.ui import plots
from fittrace.ui.markup import Html, join, tag

TEXT_BYTES = 256 * 1024
CSV_ROWS = 1000
IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")
TEXTS = (".txt", ".json", ".yaml", ".yml", ".log", ".md", ".py", ".toml", ".cfg", ".ini")
EVALUATION = ("confusion_matrix.json", "roc_curve.json", "precision_recall_curve.json")


def kind(path: str) -> str | None:
    """How a file is previewed: image, html, csv, text, or None (download only)."""
    name = posixpath.basename(path).lower()
    if name.endswith(IMAGES):
        return "image"
    if name.endswith((".html", ".htm")):
        return "html"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith(TEXTS) or name in ("mlmodel", "requirements.txt", "conda.yaml", "license"):
        return "text"
    return None


def is_evaluation(path: str) -> bool:
    name = posixpath.basename(path)
    return name.endswith(EVALUATION) or (
        name.startswith("feature_importance_") and name.endswith(".json")
    )


def _read(local: str) -> tuple[str, bool]:
    with open(local, "rb") as f:
        data = f.read(TEXT_BYTES + 1)
    return data[:TEXT_BYTES].decode("utf-8", "replace"), len(data) > TEXT_BYTES


def text(local: str) -> Html:
    content, cut = _read(local)
    note = tag("p", f"First {TEXT_BYTES // 1024} KiB shown.", class_="muted") if cut else Html("")
    return tag("pre", content) + note


def csv_table(local: str, name: str) -> Html:
    content, _ = _read(local)
    delimiter = "\t" if name.lower().endswith(".tsv") else ","
    rows = []
    for i, row in enumerate(csv.reader(io.StringIO(content), delimiter=delimiter)):
        if i > CSV_ROWS:
            break
        rows.append(row)
    if not rows:
        return tag("p", "Empty file.", class_="muted")
    head = tag("tr", join(tag("th", c) for c in rows[0]))
    body = join(tag("tr", join(tag("td", c) for c in row)) for row in rows[1:])
    shown = len(rows) - 1
    note = tag(
        "p",
        f"{shown} rows shown" + (f" (the first {CSV_ROWS})" if shown >= CSV_ROWS else "") + ".",
        class_="muted",
    )
    return note + tag(
        "div", tag("table", tag("thead", head) + tag("tbody", body), class_="csv"), class_="scroll"
    )


def image(href: str, name: str) -> Html:
    return tag("img", "", src=href, alt=name, class_="preview")


def html_frame(href: str, name: str) -> Html:
    return tag("iframe", "", src=href, sandbox="", title=name, class_="preview")


def _confusion(doc: dict[str, Any]) -> Html:
    labels, matrix = doc.get("labels") or [], doc.get("matrix") or []
    top = max((v or 0 for row in matrix for v in row), default=0) or 1
    head = tag("tr", tag("th", "true \\ predicted") + join(tag("th", label) for label in labels))
    rows = []
    for label, row in zip(labels, matrix, strict=False):
        cells = join(
            tag(
                "td",
                "" if v is None else f"{v:.4g}",
                style=f"background:rgba(31,119,180,{(v or 0) / top * 0.8:.2f})",
            )
            for v in row
        )
        rows.append(tag("tr", tag("th", label) + cells))
    return tag("table", tag("thead", head) + tag("tbody", join(rows)), class_="confusion")


def evaluation_chart(local: str, name: str) -> Html:
    """The chart of one evaluation JSON document, or nothing when it is not one."""
    try:
        with open(local, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return Html("")
    if not isinstance(doc, dict):
        return Html("")
    try:
        if name.endswith("confusion_matrix.json"):
            return _confusion(doc)
        if name.endswith("roc_curve.json"):
            auc = doc.get("auc")
            title = "ROC" + (f" (AUC {auc:.3f})" if isinstance(auc, float) else "")
            return plots.curve(
                doc["fpr"], doc["tpr"], "false positive rate", "true positive rate", title, True
            )
        if name.endswith("precision_recall_curve.json"):
            return plots.curve(
                doc["recall"], doc["precision"], "recall", "precision", "Precision–recall", False
            )
        items = [(str(k), float(v)) for k, v in doc.items() if isinstance(v, (int, float))]
        return plots.bars(items, name.removesuffix(".json").replace("_", " "))
    except (KeyError, TypeError, ValueError):
        return Html("")
