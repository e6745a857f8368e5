"""Feature importance of a trained booster: the booster's own scores, as JSON and as a bar chart."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

ImportanceScores = Mapping[str, Any]


def importance_scores(booster: Any, importance_types: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{importance_type: booster.get_score(importance_type=...)}`` for each type the booster defines.

    Linear boosters (``gblinear``) define only "weight"; their values are floats, or lists of
    floats (one per output) for several outputs.
    """
    if json.loads(booster.save_config())["learner"]["gradient_booster"]["name"] == "gblinear":
        importance_types = [kind for kind in importance_types if kind == "weight"]
    return {kind: dict(booster.get_score(importance_type=kind)) for kind in importance_types}


def importance_json(scores: ImportanceScores) -> str:
    """The scores as a JSON object, highest first (feature name -> score)."""
    ordered = sorted(scores.items(), key=lambda item: -_magnitude(item[1]))
    return json.dumps(dict(ordered), indent=2)


def importance_figure(
    scores: ImportanceScores, importance_type: str, max_features: int = 30
) -> Any:
    """A horizontal bar chart (matplotlib ``Figure``) of the largest ``max_features`` scores."""
    from matplotlib.figure import Figure

    ordered = sorted(scores.items(), key=lambda item: _magnitude(item[1]))[-max_features:]
    names = [name for name, _ in ordered]
    values = [_magnitude(value) for _, value in ordered]
    figure = Figure(figsize=(6.4, max(2.0, 0.3 * len(names) + 1.0)))
    axes = figure.subplots()
    axes.barh(range(len(names)), values, align="center", height=0.6)
    axes.set_yticks(range(len(names)), labels=names)
    axes.set_xlabel(importance_type)
    axes.set_title(f"Feature importance ({importance_type})")
    figure.tight_layout()
    return figure


def render(doc: dict[str, Any]) -> Any:
    """The chart of ``{"kind", "scores"}``, for ``fittrace.autologging.figures``."""
    return importance_figure(doc["scores"], doc["kind"])


def _magnitude(value: Any) -> float:
    """A sortable size for a score: the value, or the sum of absolute values for per-output lists."""
    if isinstance(value, (list, tuple)):
        return float(sum(abs(v) for v in value))
    return float(value)
