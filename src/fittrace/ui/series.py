"""Metric histories as chart series: x axis choice, per-pixel-column downsampling, the JSON the
page's script draws with uPlot (embedded in the page, never executed), and CSV of the same data."""

from __future__ import annotations

import csv
import io
import json
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from operator import le

from fittrace.entities import MetricHistory
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


def extremes(history: MetricHistory | None) -> tuple[float, float] | None:
    """The history's lowest and highest value, NaN left out; None when there is none."""
    values: Sequence[float] = history.values if history is not None else ()
    if any(map(math.isnan, values)):
        values = [v for v in values if v == v]
    return (min(values), max(values)) if len(values) else None


def _plotted(history: MetricHistory, axis: str) -> tuple[Sequence[int], Sequence[float]]:
    """The x (step, or timestamp in ms) and value of the finite points, in x order (ties in
    history order): a history is in step order already; on a time axis it is sorted only if its
    timestamps go back somewhere."""
    xs: Sequence[int] = history.steps if axis == "step" else history.timestamps
    ys: Sequence[float] = history.values
    if not all(map(math.isfinite, ys)):
        kept = [i for i, y in enumerate(ys) if math.isfinite(y)]
        xs, ys = [xs[i] for i in kept], [ys[i] for i in kept]
    if axis != "step" and not all(map(le, xs, islice(xs, 1, None))):
        order = sorted(range(len(xs)), key=xs.__getitem__)
        xs, ys = [xs[i] for i in order], [ys[i] for i in order]
    return xs, ys


def downsample(xs: Sequence[float], ys: Sequence[float], columns: int = COLUMNS) -> list[int]:
    """The indexes of at most about ``2 * columns`` points (``xs`` ascending) that draw like
    all of them: for each pixel column of the x range, its lowest and highest point (in x
    order), plus the first and the last point. Columns are found by bisection and their extremes
    by ``min``/``max`` over slices, so a long history costs little Python per point."""
    n = len(xs)
    if n <= 2 * columns:
        return list(range(n))
    x0, span = xs[0], (xs[-1] - xs[0]) or 1
    kept, lo = [0], 1
    for column in range(1, columns + 1):
        hi = (
            n - 1 if column == columns else bisect_left(xs, x0 + span * column / columns, lo, n - 1)
        )
        if hi > lo:
            part = ys[lo:hi]
            low, high = lo + part.index(min(part)), lo + part.index(max(part))
            kept.extend(sorted({low, high}))
            lo = hi
    kept.append(n - 1)
    return kept


def series(label: str, history: MetricHistory, axis: str, start_ms: int | None) -> Series:
    """The chart line of a history on ``axis``: wall time in seconds, relative time in seconds
    from ``start_ms`` (the run's start) or from the first point if that is earlier."""
    xs, ys = _plotted(history, axis)
    kept = downsample(xs, ys)
    if axis == "step":
        x = [xs[i] for i in kept]
    else:
        origin = 0
        if axis == "relative" and len(xs):
            origin = xs[0] if start_ms is None else min(xs[0], start_ms)
        x = [(xs[i] - origin) / 1000 for i in kept]
    return Series(label, x, [ys[i] for i in kept])


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
