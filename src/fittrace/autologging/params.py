"""Param values as the store takes them: stringified and cut to its limits, so autologging never fails on length."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fittrace.tracking.validation import MAX_KEY_LENGTH, MAX_PARAM_VALUE_LENGTH

_TRUNCATION_MARK = "..."


def param_text(value: Any) -> str:
    """``str(value)`` cut to the store's param limit (the cut is marked with ``...``)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        text = text[: MAX_PARAM_VALUE_LENGTH - len(_TRUNCATION_MARK)] + _TRUNCATION_MARK
    return text


def stringify_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Params as the store takes them; keys longer than the store allows are left out."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = prefix + str(key)
        if len(name) <= MAX_KEY_LENGTH:
            out[name] = param_text(value)
    return out
