"""Static SVG plots drawn on the server: parallel coordinates, scatter, curves and bars (no
script needed; each point or line carries a hover title)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from fittrace.ui.markup import Html, h, tag

W, H, PAD = 640, 300, 40
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def _svg(content: Html, title: str, width: int = W, height: int = H) -> Html:
    return tag(
        "svg",
        tag("title", title) + content,
        class_="chart",
        width=width,
        height=height,
        viewBox=f"0 0 {width} {height}",
        xmlns="http://www.w3.org/2000/svg",
        role="img",
    )


def _text(x: float, y: float, text: str, anchor: str = "middle") -> Html:
    return tag("text", text[:24], x=f"{x:.1f}", y=f"{y:.1f}", text_anchor=anchor)


def _as_number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _positions(values: Sequence[object]) -> tuple[list[float | None], list[str]]:
    """Each value as a 0..1 position on its axis (numbers by value, else by sorted category),
    with the axis' end labels."""
    numbers = [_as_number(v) for v in values]
    present = [v for v in values if v is not None]
    if present and all(
        n is not None for v, n in zip(values, numbers, strict=True) if v is not None
    ):
        low = min(n for n in numbers if n is not None)
        high = max(n for n in numbers if n is not None)
        span = high - low
        return [None if n is None else ((n - low) / span if span else 0.5) for n in numbers], [
            f"{low:.4g}",
            f"{high:.4g}",
        ]
    categories = sorted({str(v) for v in present})
    index = {c: i for i, c in enumerate(categories)}
    last = max(len(categories) - 1, 1)
    positions = [None if v is None else index[str(v)] / last for v in values]
    return positions, [categories[0], categories[-1]] if categories else ["", ""]


def parallel_coordinates(
    axes: Sequence[tuple[str, Sequence[object]]], labels: Sequence[str]
) -> Html:
    """One vertical axis per (name, value per run); one polyline per run."""
    if len(axes) < 2 or not labels:
        return Html("")
    gap = (W - 2 * PAD) / (len(axes) - 1)
    top, bottom = PAD, H - PAD
    columns = [_positions(values) for _, values in axes]
    parts = []
    for i, (name, _) in enumerate(axes):
        x = PAD + i * gap
        low, high = columns[i][1]
        parts.append(Html(f'<path d="M{x:.1f} {top}V{bottom}" stroke="#999"/>'))
        parts.append(
            _text(x, top - 22, name) + _text(x, top - 8, high) + _text(x, bottom + 14, low)
        )
    for run, label in enumerate(labels):
        coords = [
            f"{PAD + i * gap:.1f},{bottom - pos * (bottom - top):.1f}"
            for i, (positions, _) in enumerate(columns)
            if (pos := positions[run]) is not None
        ]
        color = COLORS[run % len(COLORS)]
        parts.append(
            tag(
                "polyline",
                tag("title", label),
                points=" ".join(coords),
                fill="none",
                stroke=color,
                stroke_width="2",
            )
        )
    return _svg(Html("".join(parts)), "Parallel coordinates")


def scatter(points: Sequence[tuple[str, object, object]], x_name: str, y_name: str) -> Html:
    """(label, x, y) points, each axis numeric or categorical."""
    if not points:
        return Html("")
    xs, x_ends = _positions([p[1] for p in points])
    ys, y_ends = _positions([p[2] for p in points])
    left, right, top, bottom = PAD + 20, W - PAD, PAD // 2, H - PAD
    parts = [Html(f'<path d="M{left} {top}V{bottom}H{right}" fill="none" stroke="#999"/>')]
    parts += [
        _text((left + right) / 2, H - 6, x_name),
        _text(left, bottom + 14, x_ends[0]),
        _text(right, bottom + 14, x_ends[1], "end"),
        _text(left - 4, bottom, y_ends[0], "end"),
        _text(left - 4, top + 8, y_ends[1], "end"),
        _text(left - 4, top - 4, y_name, "start"),
    ]
    for i, ((label, x, y), px, py) in enumerate(zip(points, xs, ys, strict=True)):
        if px is None or py is None:
            continue
        cx, cy = left + px * (right - left), bottom - py * (bottom - top)
        parts.append(
            tag(
                "circle",
                tag("title", f"{label}: {x_name}={x}, {y_name}={y}"),
                cx=f"{cx:.1f}",
                cy=f"{cy:.1f}",
                r="5",
                fill=COLORS[i % len(COLORS)],
            )
        )
    return _svg(Html("".join(parts)), f"{y_name} against {x_name}")


def curve(
    x: Sequence[float], y: Sequence[float], x_name: str, y_name: str, title: str, diagonal: bool
) -> Html:
    """A line from 0..1 to 0..1 (ROC, precision-recall), with the chance diagonal if asked."""
    size, pad = 300, 36
    span = size - 2 * pad

    def at(px: float, py: float) -> str:
        return f"{pad + px * span:.1f},{size - pad - py * span:.1f}"

    coords = " ".join(
        at(a, b) for a, b in zip(x, y, strict=False) if a is not None and b is not None
    )
    parts = Html(f'<path d="M{pad} {pad}V{size - pad}H{size - pad}" fill="none" stroke="#999"/>')
    if diagonal:
        parts += Html(f'<path d="M{at(0, 0)}L{at(1, 1)}" stroke="#ccc" stroke-dasharray="4"/>')
    parts += tag("polyline", "", points=coords, fill="none", stroke=COLORS[0], stroke_width="2")
    parts += _text(size / 2, size - 6, x_name) + _text(4, pad - 8, y_name, "start")
    parts += _text(size / 2, 14, title)
    return _svg(parts, title, size, size)


def bars(items: Sequence[tuple[str, float]], title: str) -> Html:
    """Horizontal bars, largest first (feature importance)."""
    items = sorted(items, key=lambda kv: -kv[1])[:30]
    if not items:
        return Html("")
    top = max(v for _, v in items) or 1
    row, label_w, width = 18, 160, 560
    height = row * len(items) + 24
    parts = [_text(width / 2, 14, title)]
    for i, (name, value) in enumerate(items):
        y = 20 + i * row
        length = max(value, 0) / top * (width - label_w - 60)
        parts.append(_text(label_w - 4, y + 12, name, "end"))
        parts.append(
            tag(
                "rect",
                tag("title", f"{name}: {value:.4g}"),
                x=label_w,
                y=y,
                width=f"{length:.1f}",
                height=row - 4,
                fill=COLORS[0],
            )
        )
        parts.append(_text(label_w + length + 4, y + 12, f"{value:.3g}", "start"))
    return _svg(Html("".join(parts)), h(title), width, height)
