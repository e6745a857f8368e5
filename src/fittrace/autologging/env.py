"""Autologging switched on by environment variables, for scripts whose code is not changed.

- ``FITTRACE_AUTOLOG``: ``1``/``true``/``all`` for every installed
  integration, or a comma list of names or aliases (``sklearn,xgboost``);
  unset, empty, ``0`` or ``false`` leaves autologging off.
- ``FITTRACE_AUTOLOG_DISABLED``: a comma list of integrations to leave off.
- ``FITTRACE_AUTOLOG_<OPTION>``: a common option, e.g.
  ``FITTRACE_AUTOLOG_LOG_MODELS=false``, ``FITTRACE_AUTOLOG_EXTRA_TAGS='{"team": "a"}'``
  (booleans as true/false/1/0, dicts as JSON);
  ``FITTRACE_AUTOLOG_<INTEGRATION>_<OPTION>`` sets an integration's own option.

Three ways read them: the ``fittrace_autolog.pth`` file the wheel installs
(costs one ``os.environ`` lookup while ``FITTRACE_AUTOLOG`` is unset),
``import fittrace.auto``, and ``fittrace run <command>``. A wrong name or value
gives one warning naming it; the script runs regardless.
"""

from __future__ import annotations

import os

from fittrace.autologging import registry, safety
from fittrace.autologging.settings import AutologSettings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

PREFIX = "FITTRACE_AUTOLOG_"
RESERVED = frozenset(
    {"FITTRACE_AUTOLOG_DISABLED", "FITTRACE_AUTOLOG_SUBPROCESSES", "FITTRACE_AUTOLOG_BOOTSTRAP"}
)
_OFF = frozenset({"", "0", "false", "no", "off", "none"})
_ALL = frozenset({"1", "true", "yes", "on", "all"})


def enable_from_environment(
    environ: Mapping[str, str] | None = None, default: str | None = None
) -> None:
    """Enable the integrations and options the environment asks for; never raises.

    ``default`` stands in for an unset ``FITTRACE_AUTOLOG`` (``import
    fittrace.auto`` passes "all": importing it is the opt-in).
    """
    env = os.environ if environ is None else environ
    try:
        _enable(env, env.get("FITTRACE_AUTOLOG", default))
    except Exception as exc:
        safety.warn(
            f"fittrace autologging from the environment failed and stays off: {safety.describe(exc)}"
        )


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _enable(env: Mapping[str, str], value: str | None) -> None:
    if value is None or value.strip().lower() in _OFF:
        return
    known = registry.list_integrations()
    aliases = {alias.lower(): i.name for i in known.values() for alias in i.names}

    def resolve(names: list[str], variable: str) -> set[str]:
        resolved = set()
        for name in names:
            if name.lower() in aliases:
                resolved.add(aliases[name.lower()])
            else:
                safety.warn(
                    f"{variable} names unknown autolog integration {name!r}; "
                    f"known: {', '.join(sorted(aliases)) or '(none installed)'}"
                )
        return resolved

    wanted = (
        set(known) if value.strip().lower() in _ALL else resolve(_names(value), "FITTRACE_AUTOLOG")
    )
    wanted -= resolve(_names(env.get("FITTRACE_AUTOLOG_DISABLED", "")), "FITTRACE_AUTOLOG_DISABLED")
    common, own = _options(env, known)
    for name in sorted(wanted):
        integration = known[name]
        options = {**common, **own.get(name, {})}
        try:
            registry.enable(integration, **options)
        except Exception as exc:
            safety.warn(
                f"fittrace autologging for {name!r} stays off: bad options from the environment: {exc}"
            )


def _options(
    env: Mapping[str, str], known: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Parse ``FITTRACE_AUTOLOG_<OPTION>`` and ``FITTRACE_AUTOLOG_<INTEGRATION>_<OPTION>`` variables."""
    common: dict[str, Any] = {}
    own: dict[str, dict[str, Any]] = {}
    for variable, text in env.items():
        if not variable.startswith(PREFIX) or variable in RESERVED:
            continue
        option = variable[len(PREFIX) :].lower()
        target, settings_class = common, AutologSettings
        if option not in AutologSettings.option_names():
            for name, integration in known.items():
                head = name.lower() + "_"
                if (
                    option.startswith(head)
                    and option[len(head) :] in integration.settings_class.option_names()
                ):
                    option, settings_class = option[len(head) :], integration.settings_class
                    target = own.setdefault(name, {})
                    break
            else:
                safety.warn(
                    f"{variable} is not an autolog option and is ignored; options: "
                    f"{', '.join(PREFIX + o.upper() for o in AutologSettings.option_names())}"
                )
                continue
        try:
            value = settings_class.parse_option(option, text)
            settings_class(**{option: value})
        except Exception as exc:
            safety.warn(f"{variable}={text!r} is ignored: {exc}")
            continue
        target[option] = value
    return common, own
