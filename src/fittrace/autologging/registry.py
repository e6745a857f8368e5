"""Which integrations exist, their current settings and patches, and lazy activation at import.

Integrations come from the ``fittrace.autologgers`` entry-point group (built-in
ones too) or from ``register``. Enabling one stores its settings and asks to be
told when its framework module is imported (at once if it already is); only
then is ``Integration.install`` run, so ``autolog()`` imports no framework and
import order does not matter.
"""

from __future__ import annotations

import _thread  # not threading: this module must load within fittrace.autolog()'s few milliseconds
import sys

from fittrace.autologging import hooks
from fittrace.autologging.entry_points import entry_points
from fittrace.autologging.integration import Integration
from fittrace.autologging.settings import AutologSettings
from fittrace.exceptions import InvalidParameterError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import ModuleType
    from typing import Any

    from fittrace.autologging.patching import PatchRecord, Switch

ENTRY_POINT_GROUP = "fittrace.autologgers"

_lock = _thread.RLock()
_integrations: dict[str, Integration] = {}
_aliases: dict[str, str] = {}
_states: dict[str, _State] = {}
_discovered = False
_failed_entry_points: set[str] = set()
_orphans: list[PatchRecord] = []  # patches another patch sits on top of: retried on each unpatch


class _State:
    """One integration's live state: settings, the switch of its wrappers, its patches."""

    def __init__(self, integration: Integration) -> None:
        self.integration = integration
        self.settings: AutologSettings | None = None
        self.switch: Switch | None = None  # made at the first install
        self.records: list[PatchRecord] = []
        self.installed: set[str] = set()
        self.waiting: set[str] = set()
        self.version_checked = False

    def current_settings(self) -> AutologSettings:
        return self.settings or self.integration.settings_class()


# -- the table of integrations --------------------------------------------------------------
def register(integration: Integration) -> None:
    """Add an integration directly (no entry point needed); one of the same name is replaced."""
    if not isinstance(integration, Integration):
        raise TypeError(f"register() needs a fittrace.autologging.Integration, got {integration!r}")
    with _lock:
        if integration.name in _integrations and _integrations[integration.name] is not integration:
            unregister(integration.name)
        _integrations[integration.name] = integration
        for alias in integration.aliases:
            _aliases[alias] = integration.name


def unregister(name: str) -> None:
    """Unpatch and forget an integration (mostly for tests)."""
    with _lock:
        name = _aliases.get(name, name)
        if name in _states:
            unpatch(name)
            del _states[name]
        integration = _integrations.pop(name, None)
        for alias in integration.aliases if integration else ():
            _aliases.pop(alias, None)


def _discover() -> None:
    """Load the entry points once; one that fails to load warns once and is skipped."""
    global _discovered
    with _lock:
        if _discovered:
            return
        _discovered = True
        for ep in entry_points(ENTRY_POINT_GROUP):
            if ep.name in _integrations or ep.name in _failed_entry_points:
                continue
            try:
                integration = ep.load()
                if not isinstance(integration, Integration):
                    raise TypeError(
                        f"{ep.value} is {type(integration).__name__}, not an Integration"
                    )
            except Exception as exc:
                from fittrace.autologging import safety

                _failed_entry_points.add(ep.name)
                safety.warn(
                    f"fittrace autologging integration {ep.name!r} ({ep.value}, from {ep.distribution}) "
                    f"could not be loaded and stays off: {safety.describe(exc)}"
                )
                continue
            if integration.name not in _integrations:
                register(integration)


def list_integrations() -> dict[str, Integration]:
    """Every known integration by name (entry points and ``register``)."""
    _discover()
    with _lock:
        return dict(_integrations)


def get_integration(name: str) -> Integration:
    """The integration called ``name`` or one of its aliases; InvalidParameterError if unknown."""
    known = list_integrations()
    resolved = _aliases.get(name, name)
    if resolved not in known:
        names = sorted([*known, *_aliases])
        raise InvalidParameterError(
            f"unknown autolog integration {name!r}; known: {', '.join(names) or '(none installed)'}"
        )
    return known[resolved]


def get_settings(name: str) -> AutologSettings | None:
    """The settings an integration currently runs with, or None while it was never enabled or unpatched."""
    state = _states.get(_aliases.get(name, name))
    return state.settings if state is not None else None


def _state(integration: Integration) -> _State:
    with _lock:
        if _integrations.get(integration.name) is not integration:
            register(integration)
        state = _states.get(integration.name)
        if state is None:
            state = _states[integration.name] = _State(integration)
        return state


# -- enabling ---------------------------------------------------------------------------------
def enable(integration: Integration | str, **kwargs: Any) -> None:
    """Turn one integration on with these settings (``fittrace.<framework>.autolog(**kwargs)``).

    Settings replace the previous ones as a whole (unnamed options go back to
    their defaults); patches are applied once, when the framework is imported,
    and a second call only updates settings. ``disable=True`` switches the
    wrappers off at once, leaving the original behaviour. Unknown option: TypeError.
    """
    if isinstance(integration, str):
        integration = get_integration(integration)
    _apply(_state(integration), integration.settings_class(**kwargs))


def autolog(*, exclude_flavors: Iterable[str] | None = None, **options: Any) -> None:
    """Enable every installed integration with the common options (``fittrace.autolog``).

    ``options`` are ``AutologSettings`` fields (log_models, log_input_examples,
    log_model_signatures, log_datasets, disable, exclusive,
    disable_for_unsupported_versions, silent, registered_model_name,
    extra_tags); an unknown one raises TypeError naming it. Integrations are
    installed lazily when their framework is imported. ``exclude_flavors``
    names integrations (or aliases) to leave as they are.
    """
    AutologSettings(**options)
    excluded = {_aliases.get(n, n) for n in exclude_flavors or ()}
    for name, integration in list_integrations().items():
        if name not in excluded:
            _apply(_state(integration), integration.settings_class(**options))


def _apply(state: _State, settings: AutologSettings) -> None:
    with _lock:
        state.settings = settings
        if state.switch is not None:
            state.switch.on = not settings.disable
        if settings.disable:
            return
        for module in state.integration.modules:
            _watch(state, module)


def _watch(state: _State, module_name: str) -> None:
    if module_name in state.installed or module_name in state.waiting:
        return
    module = sys.modules.get(module_name)
    if module is not None:
        _install(state, module)
        return
    state.waiting.add(module_name)
    name = state.integration.name
    hooks.when_imported(module_name, lambda module: _on_import(name, module))


def _on_import(name: str, module: ModuleType) -> None:
    with _lock:
        state = _states.get(name)
        if state is None:
            return
        state.waiting.discard(module.__name__)
        if state.settings is not None and not state.settings.disable:
            _install(state, module)


def _install(state: _State, module: ModuleType) -> None:
    """Run ``install`` for a freshly imported framework module (guarded; version checked once)."""
    integration = state.integration
    if getattr(module, "__file__", None) is None:
        return  # a namespace package (a folder named like the framework on sys.path), not the framework
    settings = state.current_settings()
    with _lock:
        if module.__name__ in state.installed:
            return
        try:
            if not _version_ok(state, settings, module.__name__):
                return
            from fittrace.autologging.patching import Patcher, Switch

            state.installed.add(module.__name__)
            if state.switch is None:
                state.switch = Switch(not settings.disable)
            patcher = Patcher(
                integration,
                module,
                state.records,
                state.switch,
                state.current_settings,
                lambda: _foreign_modules(integration.name),
            )
            integration.install(patcher)
        except Exception as exc:
            from fittrace.autologging import safety

            brief = safety.report(
                integration.name,
                f"installing patches for {module.__name__}",
                exc,
                silent=settings.silent,
            )
            if safety.testing():
                raise safety.testing_error(integration.name, brief, exc) from exc


def _version_ok(state: _State, settings: AutologSettings, module_name: str) -> bool:
    from fittrace.autologging import safety
    from fittrace.autologging.versions import installed_version, version_matches

    integration = state.integration
    if not integration.supported_versions or module_name != integration.modules[0]:
        return True
    version = installed_version(integration.distribution, module_name)
    if version is None or version_matches(version, integration.supported_versions):
        return True
    if not state.version_checked and not settings.silent:
        state.version_checked = True
        effect = (
            "autologging stays off (disable_for_unsupported_versions=True)"
            if settings.disable_for_unsupported_versions
            else "autologging may not work as expected"
        )
        safety.warn(
            f"fittrace autologging for {integration.name!r} supports "
            f"{integration.distribution or module_name} {integration.supported_versions}, "
            f"but {version} is installed: {effect}"
        )
    return not settings.disable_for_unsupported_versions


def _foreign_modules(name: str) -> frozenset[str]:
    with _lock:
        return frozenset(
            module.partition(".")[0]
            for other in _integrations.values()
            if other.name != name
            for module in other.modules
        )


# -- unpatching ---------------------------------------------------------------------------
def unpatch(name: str | None = None) -> None:
    """Remove the patches of one integration (all if ``name`` is None) and turn it off.

    Patches are reverted newest first, restoring every patched ``__dict__``;
    wrappers somebody still holds go inert. A patch that another one was
    applied on top of stays (inert) until that one is removed, and is removed
    by a later ``unpatch``. ``autolog()`` afterwards patches again.
    """
    from fittrace.autologging import safety

    with _lock:
        names = [_aliases.get(name, name)] if name is not None else list(_states)
        states = [_states[n] for n in names if n in _states]
        records = [r for s in states for r in s.records] + _orphans
        _orphans.clear()
        for record in sorted(records, key=lambda r: r.sequence, reverse=True):
            try:
                if not record.revert():
                    _orphans.append(record)
            except Exception as exc:
                safety.report(record.integration, f"unpatching {record.attribute}", exc)
        for state in states:
            if state.switch is not None:
                state.switch.on = False
                state.switch.retired = True
            state.switch = None
            state.records.clear()
            state.installed.clear()
            state.settings = None
