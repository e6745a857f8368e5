"""Synchronous checks on everything written to a run, so bad input fails at the call site."""

from __future__ import annotations

import numbers
import re

from fittrace import tags
from fittrace.exceptions import InvalidParameterError

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_RUN_NAME_LENGTH = 250

_KEY_RE = re.compile(r"^[\w\-. /:]+$")
_valid_keys: set[str] = set()


def validate_key(key: str, kind: str) -> str:
    """Return the key if it is a valid metric/param/tag name, else raise naming the rule it breaks."""
    if key in _valid_keys:
        return key
    if not isinstance(key, str) or not key:
        raise InvalidParameterError(f"{kind} key must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidParameterError(
            f"{kind} key {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_LENGTH}"
        )
    if not _KEY_RE.match(key):
        bad = sorted({c for c in key if not re.match(r"[\w\-. /:]", c)})
        raise InvalidParameterError(
            f"{kind} key {key!r} contains {''.join(bad)!r}; allowed are letters, digits, "
            "'_', '-', '.', ' ', '/' and ':'"
        )
    if key.startswith("/") or ".." in key.split("/"):
        raise InvalidParameterError(
            f"{kind} key {key!r} may not start with '/' or contain a '..' segment"
        )
    if len(_valid_keys) < 100_000:
        _valid_keys.add(key)
    return key


def metric_value(key: str, value: object) -> float:
    """Convert a metric value to float; NaN and infinities are allowed."""
    if isinstance(value, float):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
            raise InvalidParameterError(
                f"Metric {key!r} must be a number, got {type(value).__name__} {value!r}"
            )
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise InvalidParameterError(f"Metric {key!r} must be a number, got {value!r}") from e


def integer(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise InvalidParameterError(f"{name} must be an integer, got {value!r}")
    return int(value)


def param_value(key: str, value: object) -> str:
    text = str(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidParameterError(
            f"Param {key!r} value is {len(text)} characters; the limit is {MAX_PARAM_VALUE_LENGTH}"
        )
    return text


def tag_value(key: str, value: object) -> str:
    text = str(value)
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidParameterError(
            f"Tag {key!r} value is {len(text)} characters; the limit is {MAX_TAG_VALUE_LENGTH}"
        )
    return text


def tag_key(key: str) -> str:
    """Validate a tag key, mapping the ``fittrace.`` system-tag spelling to MLflow's ``mlflow.``."""
    return validate_key(tags.canonical(key), "Tag")


def run_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(f"run_name must be a non-empty string, got {name!r}")
    if len(name) > MAX_RUN_NAME_LENGTH:
        raise InvalidParameterError(
            f"run_name is {len(name)} characters; the limit is {MAX_RUN_NAME_LENGTH}"
        )
    return name
