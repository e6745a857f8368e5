"""Metric histories as chart series: x axis choice, per-pixel-column downsampling, the JSON the
page's script draws with uPlot (embedded in the page, never executed), and CSV of the same data."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from fittrace.entities import Metric
from fittrace.ui.markup import Html, tag

COLUMNS = 1000  # pixel columns a chart is drawn in at most; each keeps its min and max point
X_AXES = {"step": "Step", "wall": "Time", "relative": "Relative time (s)"}


@dataclass
class Series:
    label: str
    x: list[float]
    y: list[float]


def x_axis(text: str) -> str:
    return text if text in X_AXES else "step"


def points(history: Sequence[Metric], axis: str, start_ms: int | None = None) -> list[tuple]:
    """(x, value) of the finite values in x order; wall time in seconds, relative time in seconds
    from ``start_ms`` (the run's start) or from the first point if that is earlier."""
    finite = [m for m in history if math.isfinite(m.value)]
    if axis == "step":
        pts = [(m.step, m.value) for m in finite]
    else:
        origin = 0
        if axis == "relative" and finite:
            first = min(m.timestamp for m in finite)
            origin = first if start_ms is None else min(first, start_ms)
        pts = [((m.timestamp - origin) / 1000, m.value) for m in finite]
    pts.sort(key=lambda p: p[0])
    return pts


def downsample(pts: list[tuple], columns: int = COLUMNS) -> list[tuple]:
    """At most about ``2 * columns`` points that draw like ``pts``: for each pixel column of the x
    range, its lowest and highest point (in x order), plus the first and the last point."""
    if len(pts) <= 2 * columns:
        return pts
    x0, x1 = pts[0][0], pts[-1][0]
    span = (x1 - x0) or 1
    kept: list[tuple] = [pts[0]]
    bucket = -1
    low = high = pts[0]
    for p in pts[1:-1]:
        column = min(int((p[0] - x0) / span * columns), columns - 1)
        if column != bucket:
            if bucket >= 0:
                kept.extend(sorted({low, high}, key=lambda q: q[0]))
            bucket, low, high = column, p, p
        elif p[1] < low[1]:
            low = p
        elif p[1] > high[1]:
            high = p
    kept.extend(sorted({low, high}, key=lambda q: q[0]))
    kept.append(pts[-1])
    return kept


def series(label: str, history: Sequence[Metric], axis: str, start_ms: int | None) -> Series:
    pts = downsample(points(history, axis, start_ms))
    return Series(label, [x for x, _ in pts], [y for _, y in pts])


def chart(chart_id: str, title: str, axis: str, lines: Sequence[Series]) -> Html:
    """A chart's data block and the element the script draws it in (nothing without points)."""
    if not any(s.x for s in lines):
        return Html("")
    spec = {
        "title": title,
        "xlabel": X_AXES[axis],
        "time": axis == "wall",
        "series": [{"label": s.label, "x": s.x, "y": s.y} for s in lines],
    }
    text = json.dumps(spec, separators=(",", ":")).replace("<", "\\u003c")
    data = tag("script", Html(text), type="application/json", id=chart_id)
    return data + tag("div", "", class_="uchart", data_source=chart_id)


def to_csv(key: str, axis: str, lines: Sequence[Series]) -> str:
    """The plotted points, one row each: run, x, value."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run", axis, key])
    for s in lines:
        writer.writerows((s.label, x, y) for x, y in zip(s.x, s.y, strict=True))
    return out.getvalue()
