"""What an integration declares about itself: names, framework modules, versions, settings, install."""

from __future__ import annotations

from fittrace.autologging.settings import AutologSettings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from fittrace.autologging.patching import Patcher


class Integration:
    """One framework integration; a declaration, immutable once made.

    - ``name``: what users pass to ``FITTRACE_AUTOLOG`` and what the run tag
      ``fittrace.autologging`` says; ``aliases`` are accepted too ("keras").
    - ``module``: the framework's top-level module(s). ``install(patcher)`` runs
      once per listed module, right after that module is imported (or at once
      if it already is); ``patcher.module`` says which one fired.
    - ``install``: a function, or ``"package.module:function"`` imported only
      when the framework is, so the declaration stays cheap to load.
    - ``distribution`` and ``supported_versions`` (a PEP 440 specifier): outside
      the range autologging warns, or stays off with
      ``disable_for_unsupported_versions=True``.
    - ``settings_class``: an ``AutologSettings`` subclass with the integration's
      own options.
    """

    __slots__ = (
        "name",
        "module",
        "modules",
        "settings_class",
        "distribution",
        "supported_versions",
        "aliases",
        "_install",
    )

    def __init__(
        self,
        *,
        name: str,
        module: str | tuple[str, ...],
        install: Callable[[Patcher], None] | str,
        settings_class: type[AutologSettings] = AutologSettings,
        distribution: str | None = None,
        supported_versions: str | None = None,
        aliases: tuple[str, ...] = (),
    ) -> None:
        if not isinstance(settings_class, type) or not issubclass(settings_class, AutologSettings):
            raise TypeError(f"Integration {name!r}: settings_class must subclass AutologSettings")
        if not callable(install) and not (isinstance(install, str) and ":" in install):
            raise TypeError(
                f"Integration {name!r}: install must be a function or 'module:function', got {install!r}"
            )
        values = {
            "name": name,
            "module": module,
            "modules": (module,) if isinstance(module, str) else tuple(module),
            "settings_class": settings_class,
            "distribution": distribution,
            "supported_versions": supported_versions,
            "aliases": tuple(aliases),
            "_install": install,
        }
        for attr, value in values.items():
            object.__setattr__(self, attr, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Integration {self.name!r} is immutable")

    def __repr__(self) -> str:
        return f"Integration(name={self.name!r}, module={self.module!r})"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def install(self, patcher: Patcher) -> None:
        """Apply the patches for ``patcher.module`` (called by the machinery on import)."""
        install = self._install
        if isinstance(install, str):
            import importlib

            module_name, _, attr = install.partition(":")
            install = getattr(importlib.import_module(module_name.strip()), attr.strip())
        install(patcher)

    def autolog(self, **kwargs: Any) -> None:
        """Enable (or reconfigure, or with ``disable=True`` switch off) this integration."""
        from fittrace.autologging.registry import enable

        enable(self, **kwargs)
