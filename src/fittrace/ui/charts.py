"""Inline SVG line charts of a metric's history (step on x, value on y)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from fittrace.entities import Metric

WIDTH, HEIGHT = 320, 120
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 8, 8, 18  # room for the axis labels
_MAX_POINTS = 1000


def _finite(history: Sequence[Metric]) -> list[tuple[int, float]]:
    """(x, y) points of the finite values; x is the step, or the position when every step is equal."""
    points = [(m.step, m.value) for m in history if math.isfinite(m.value)]
    if len({x for x, _ in points}) == 1:
        points = [(i, y) for i, (_, y) in enumerate(points)]
    if len(points) > _MAX_POINTS:  # keep the page small: an even sample plus the last point
        stride = math.ceil(len(points) / _MAX_POINTS)
        points = points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])
    return points


def _scale(value: float, low: float, high: float, start: float, length: float) -> float:
    return start + (value - low) / (high - low) * length if high > low else start + length / 2


def _label(value: float) -> str:
    return f"{value:.4g}"


def line_chart(history: Sequence[Metric]) -> str:
    """An SVG chart of ``history``, or "" when fewer than two finite points remain."""
    points = _finite(history)
    if len(points) < 2:
        return ""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    coords = " ".join(
        f"{_scale(x, x0, x1, _LEFT, plot_w):.1f},{_scale(y, y0, y1, HEIGHT - _BOTTOM, -plot_h):.1f}"
        for x, y in points
    )
    bottom, right = HEIGHT - _BOTTOM, WIDTH - _RIGHT
    return (
        f'<svg class="chart" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}"'
        ' xmlns="http://www.w3.org/2000/svg" role="img">'
        f'<path d="M{_LEFT} {_TOP}V{bottom}H{right}" fill="none" stroke="#999"/>'
        f'<polyline points="{coords}" fill="none" stroke="#1f6feb" stroke-width="1.5"/>'
        f'<text x="{_LEFT - 4}" y="{_TOP + 8}" text-anchor="end">{_label(y1)}</text>'
        f'<text x="{_LEFT - 4}" y="{bottom}" text-anchor="end">{_label(y0)}</text>'
        f'<text x="{_LEFT}" y="{HEIGHT - 4}">{x0}</text>'
        f'<text x="{right}" y="{HEIGHT - 4}" text-anchor="end">{x1}</text>'
        "</svg>"
    )
