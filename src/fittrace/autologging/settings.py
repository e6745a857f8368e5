"""Typed autolog settings: the common options, an integration's own, and their parsing from text.

Deliberately free of ``dataclasses`` and ``typing``: ``fittrace.autolog()``
builds every integration's settings before any framework is imported, and
those two modules alone cost more than its whole start-up budget.
"""

from __future__ import annotations

import sys

from fittrace.exceptions import InvalidParameterError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_UNION = type(int | None)
_NONE = type(None)


class AutologSettings:
    """Options every integration understands (MLflow's names and defaults).

    An integration adds its own options by subclassing with annotated class
    attributes, each with a default, and may check values in ``validate``::

        class SklearnSettings(AutologSettings):
            max_tuning_runs: int | None = 5

    Annotations are builtin types, ``X | None`` and ``dict``/``list``/``tuple``
    (parameters are not checked). Settings are immutable: ``autolog(...)``
    replaces them as a whole, and wrappers read the current object at call time.
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
    log_system_metrics: bool | None = None

    def __init__(self, **options: Any) -> None:
        """Unknown option: TypeError naming it; a value of the wrong type: InvalidParameterError."""
        fields = _fields(type(self))
        unknown = sorted(set(options) - set(fields))
        if unknown:
            raise TypeError(
                f"autolog() got unexpected option(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(fields)}"
            )
        for name, (hint, default) in fields.items():
            value = options.get(name, default)
            if not _matches(value, hint):
                raise InvalidParameterError(
                    f"autolog option {name}={value!r} has the wrong type: expected {_describe(hint)}"
                )
            object.__setattr__(self, name, value)
        if self.extra_tags is not None:
            from fittrace.tracking import validation  # only here: autolog() start-up stays light

            tags = {str(k): str(v) for k, v in self.extra_tags.items()}
            for key, value in tags.items():
                validation.tag_value(validation.tag_key(key), value)
            self._normalize("extra_tags", tags)
        self.validate()

    def validate(self) -> None:
        """Check values beyond their types (raise InvalidParameterError); subclasses extend it."""

    def _normalize(self, name: str, value: Any) -> None:
        """Replace an option's value by its canonical form (from ``validate``)."""
        object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; call autolog() with new options")

    __delattr__ = __setattr__  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"{type(self).__name__}({values})"

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The names ``autolog()`` accepts for this settings class."""
        return tuple(_fields(cls))

    @classmethod
    def parse_option(cls, name: str, text: str) -> Any:
        """Convert an option's text form (environment variable) to its declared type.

        Booleans accept 1/true/yes/on and 0/false/no/off, numbers parse as such,
        dicts and lists are JSON, optional values accept "" or "none" for None.
        Raises KeyError for an unknown option and ValueError for a bad value.
        """
        hint = _fields(cls)[name][0]
        text = text.strip()
        args = _union_args(hint)
        if args:
            if _NONE in args and text.lower() in ("", "none", "null"):
                return None
            hint = next(a for a in args if a is not _NONE)
        origin = getattr(hint, "__origin__", hint)
        if origin is bool:
            low = text.lower()
            if low in _TRUE or low in _FALSE:
                return low in _TRUE
            raise ValueError(f"expected a boolean (true/false/1/0), got {text!r}")
        if origin in (int, float):
            return origin(text)
        if origin in (dict, list, tuple):
            import json

            value = json.loads(text)
            if not isinstance(value, dict if origin is dict else list):
                raise ValueError(
                    f"expected a JSON {'object' if origin is dict else 'array'}, got {text!r}"
                )
            return value
        return text


def _fields(cls: type) -> dict[str, tuple[Any, Any]]:
    """Every option of a settings class (bases first): name -> (evaluated annotation, default)."""
    fields = cls.__dict__.get("_fittrace_fields")
    if fields is None:
        fields = {}
        for klass in reversed(cls.__mro__):
            namespace = vars(sys.modules[klass.__module__])
            for name, hint in vars(klass).get("__annotations__", {}).items():
                if name.startswith("_"):
                    continue
                if name not in vars(klass):
                    raise TypeError(
                        f"{klass.__name__}.{name}: every autolog option needs a default"
                    )
                fields[name] = (_evaluate(hint, namespace, f"{klass.__name__}.{name}"), None)
        fields = {name: (hint, getattr(cls, name)) for name, (hint, _) in fields.items()}
        type.__setattr__(cls, "_fittrace_fields", fields)
    return fields


def _evaluate(hint: Any, namespace: dict[str, Any], where: str) -> Any:
    """An annotation written as text (``from __future__ import annotations``), evaluated."""
    if not isinstance(hint, str):
        return hint
    try:
        return eval(hint, namespace)
    except Exception as e:
        raise TypeError(f"{where}: cannot evaluate the annotation {hint!r} ({e})") from e


def _union_args(hint: Any) -> tuple[Any, ...]:
    """The members of ``X | Y`` or ``typing.Union[X, Y]``; () for anything else."""
    if isinstance(hint, _UNION) or repr(getattr(hint, "__origin__", None)) == "typing.Union":
        return hint.__args__
    return ()


def _matches(value: Any, hint: Any) -> bool:
    args = _union_args(hint)
    if args:
        return any(_matches(value, a) for a in args)
    if hint is None or hint is _NONE:
        return value is None
    target = getattr(hint, "__origin__", hint)
    if not isinstance(target, type):
        return True  # typing.Any, Literal[...] and the like are not checked
    if target is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if target is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if target is dict:
        return callable(getattr(value, "items", None))  # any mapping
    if target in (list, tuple):
        return isinstance(value, (list, tuple))
    return isinstance(value, target)


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
