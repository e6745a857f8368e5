"""What an integration declares about itself: names, framework module, versions, settings, install."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fittrace.autologging.settings import AutologSettings

if TYPE_CHECKING:
    from fittrace.autologging.patching import Patcher


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class Integration:
    """One framework integration.

    - ``name``: what users pass to ``FITTRACE_AUTOLOG`` and what the run tag
      ``fittrace.autologging`` says; ``aliases`` are accepted too ("keras").
    - ``module``: the framework's top-level module(s). ``install(patcher)`` runs
      once per listed module, right after that module is imported (or at once
      if it already is); ``patcher.module`` says which one fired.
    - ``distribution`` and ``supported_versions`` (a PEP 440 specifier): outside
      the range autologging warns, or stays off with
      ``disable_for_unsupported_versions=True``.
    - ``settings_class``: an ``AutologSettings`` subclass with the integration's
      own options.
    """

    name: str
    module: str | tuple[str, ...]
    install: Callable[[Patcher], None]
    settings_class: type[AutologSettings] = AutologSettings
    distribution: str | None = None
    supported_versions: str | None = None
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.settings_class, type) or not issubclass(
            self.settings_class, AutologSettings
        ):
            raise TypeError(
                f"Integration {self.name!r}: settings_class must subclass AutologSettings"
            )

    @property
    def modules(self) -> tuple[str, ...]:
        return (self.module,) if isinstance(self.module, str) else tuple(self.module)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def autolog(self, **kwargs: Any) -> None:
        """Enable (or reconfigure, or with ``disable=True`` switch off) this integration."""
        from fittrace.autologging.registry import enable

        enable(self, **kwargs)
