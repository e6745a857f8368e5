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

# Steps and timestamps are stored as 64-bit signed integers (SQLite INTEGER, PostgreSQL BIGINT).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_KEY_RE = re.compile(r"^[\w\-. /:]+$")
valid_keys: set[str] = set()  # keys that passed validate_key (a bounded cache)


def validate_key(key: str, kind: str) -> str:
    """Return the key if it is a valid metric/param/tag name, else raise naming the rule it breaks."""
    try:
        if key in valid_keys:
            return key
    except TypeError:  # unhashable: not a string either
        pass
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
    if len(valid_keys) < 100_000:
        valid_keys.add(key)
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
    except OverflowError as e:
        raise InvalidParameterError(
            f"Metric {key!r} value {_short(value)} is too large for a 64-bit float"
        ) from e
    except Exception as e:  # a __float__ of the caller's that fails
        raise InvalidParameterError(f"Metric {key!r} must be a number, got {_short(value)}") from e


def integer(name: str, value: object) -> int:
    """A step or timestamp: an integer (or integral float) within the 64-bit signed range."""
    if type(value) is int:
        number = value
    elif isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if not (isinstance(value, float) and value.is_integer()):
            raise InvalidParameterError(f"{name} must be an integer, got {_short(value)}")
        number = int(value)
    else:
        number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise InvalidParameterError(
            f"{name} {_short(number)} is outside the 64-bit integer range "
            f"[{INT64_MIN}, {INT64_MAX}]"
        )
    return number


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}...({len(text)} characters)"


def _storable(what: str, text: str, limit: int) -> str:
    """Text every store can hold: within ``limit``, no NUL character, encodable as UTF-8."""
    if len(text) > limit:
        raise InvalidParameterError(f"{what} is {len(text)} characters; the limit is {limit}")
    if "\x00" in text:
        raise InvalidParameterError(f"{what} contains a NUL character, which stores cannot hold")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidParameterError(
                f"{what} is not valid Unicode text (it holds a lone surrogate at {e.start})"
            ) from None
    return text


def param_value(key: str, value: object) -> str:
    return _storable(f"Param {key!r} value", str(value), MAX_PARAM_VALUE_LENGTH)


def tag_value(key: str, value: object) -> str:
    return _storable(f"Tag {key!r} value", str(value), MAX_TAG_VALUE_LENGTH)


def tag_key(key: str) -> str:
    """Validate a tag key, mapping the ``fittrace.`` system-tag spelling to MLflow's ``mlflow.``."""
    return validate_key(tags.canonical(key), "Tag")


def run_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(f"run_name must be a non-empty string, got {name!r}")
    return _storable("run_name", name, MAX_RUN_NAME_LENGTH)
