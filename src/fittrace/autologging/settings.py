"""Typed autolog settings: the common options and their parsing from keyword arguments or text."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from fittrace.exceptions import InvalidParameterError

_S = TypeVar("_S", bound="AutologSettings")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclasses.dataclass(frozen=True)
class AutologSettings:
    """Options every integration understands (MLflow's names and defaults).

    An integration adds its own options by subclassing with more fields, all
    with defaults. Settings are immutable: ``autolog(...)`` replaces them as a
    whole, and wrappers read the current object at call time.
    """

    log_models: bool = True
    log_input_examples: bool = False
    log_model_signatures: bool = True
    log_datasets: bool = True
    disable: bool = False
    exclusive: bool = False
    disable_for_unsupported_versions: bool = False
    silent: bool = False
    registered_model_name: str | None = None
    extra_tags: dict[str, str] | None = None

    def __post_init__(self) -> None:
        for name, hint in _hints(type(self)).items():
            value = getattr(self, name)
            if not _matches(value, hint):
                raise InvalidParameterError(
                    f"autolog option {name}={value!r} has the wrong type: expected {_describe(hint)}"
                )
        if self.extra_tags is not None:
            object.__setattr__(
                self, "extra_tags", {str(k): str(v) for k, v in self.extra_tags.items()}
            )

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The names ``autolog()`` accepts for this settings class."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_kwargs(cls: type[_S], kwargs: Mapping[str, Any]) -> _S:
        """Build settings from ``autolog(**kwargs)``; an unknown name raises TypeError naming it."""
        unknown = sorted(set(kwargs) - set(cls.option_names()))
        if unknown:
            raise TypeError(
                f"autolog() got unexpected option(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(cls.option_names())}"
            )
        return cls(**kwargs)

    @classmethod
    def parse_option(cls, name: str, text: str) -> Any:
        """Convert an option's text form (environment variable) to its declared type.

        Booleans accept 1/true/yes/on and 0/false/no/off, numbers parse as such,
        dicts and lists are JSON, optional values accept "" or "none" for None.
        Raises KeyError for an unknown option and ValueError for a bad value.
        """
        hint = _hints(cls)[name]
        text = text.strip()
        args = typing.get_args(hint)
        if type(None) in args:
            if text.lower() in ("", "none", "null"):
                return None
            hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint) or hint
        if origin is bool:
            low = text.lower()
            if low in _TRUE or low in _FALSE:
                return low in _TRUE
            raise ValueError(f"expected a boolean (true/false/1/0), got {text!r}")
        if origin in (int, float):
            return origin(text)
        if origin in (dict, list, tuple):
            value = json.loads(text)
            if not isinstance(value, dict if origin is dict else list):
                raise ValueError(
                    f"expected a JSON {'object' if origin is dict else 'array'}, got {text!r}"
                )
            return value
        return text


_hint_cache: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _hint_cache.get(cls)
    if hints is None:
        resolved = typing.get_type_hints(cls)
        hints = _hint_cache[cls] = {f.name: resolved[f.name] for f in dataclasses.fields(cls)}
    return hints


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    target = origin or hint
    if not isinstance(target, type):
        return True
    if target is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if target is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if target in (dict,):
        return isinstance(value, Mapping)
    if target in (list, tuple):
        return isinstance(value, (list, tuple))
    return isinstance(value, target)


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
