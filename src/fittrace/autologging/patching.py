"""Patches as records: apply a wrapper to ``owner.attribute`` and revert it faithfully.

A record remembers the owner (class or module), the attribute, the original
value and whether the owner defined it itself (``attr in vars(owner)``).
Reverting restores the original, or deletes the attribute where the owner had
inherited it, so after a full unpatch every patched ``__dict__`` equals what
it was before. Each wrapper is a ``wrapt.FunctionWrapper`` whose ``enabled``
switch is read on every call: disabling takes effect at once, and a wrapper
somebody kept a reference to (``from x import f``) goes inert when reverted.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from fittrace.autologging import safety
from fittrace.autologging.settings import AutologSettings

if TYPE_CHECKING:
    from fittrace.autologging.call import Capture
    from fittrace.autologging.integration import Integration

_logger = logging.getLogger("fittrace.autologging")
RUN_POLICIES = ("managed", "model", "active")
_sequence = itertools.count()
_lock = threading.RLock()


class Switch:
    """The ``enabled`` callable of every wrapper of one installation of an integration.

    ``retired`` is set when that installation is unpatched: its wrappers and
    subclass hook stay inert even where they could not be removed.
    """

    __slots__ = ("on", "retired")

    def __init__(self, on: bool) -> None:
        self.on = on
        self.retired = False

    def __call__(self) -> bool:
        return self.on


class PatchSpec:
    """What a wrapper does on a call: whose capture, how runs are chosen, where settings come from."""

    __slots__ = ("integration", "attribute", "capture", "run", "settings")

    def __init__(
        self,
        integration: str,
        attribute: str,
        capture: Capture,
        run: str,
        settings: Callable[[], AutologSettings],
    ) -> None:
        self.integration = integration
        self.attribute = attribute
        self.capture = capture
        self.run = run
        self.settings = settings


_REPLACED_BY = "__fittrace_integration__"


class PatchRecord:
    """One applied patch, enough to undo it exactly."""

    def __init__(
        self,
        owner: Any,
        attribute: str,
        original: Any,
        defined_here: bool,
        wrapper: Any,
        integration: str,
    ):
        try:
            self._owner: Callable[[], Any] = weakref.ref(owner)
        except TypeError:
            self._owner = lambda: owner
        self.attribute = attribute
        self.original = original
        self.defined_here = defined_here
        self.wrapper = wrapper
        self.integration = integration
        self.sequence = next(_sequence)

    @property
    def owner(self) -> Any:
        return self._owner()

    def revert(self) -> bool:
        """Put back what was there; False (nothing done) where somebody replaced the attribute since."""
        owner = self.owner
        if owner is None:
            return True
        if vars(owner).get(self.attribute) is not self.wrapper:
            _logger.debug(
                "%r.%s was replaced after patching; left as is for now", owner, self.attribute
            )
            return False
        if self.defined_here:
            setattr(owner, self.attribute, self.original)
        else:
            delattr(owner, self.attribute)
        return True


def is_fittrace_wrapper(value: Any, integration: str | None = None) -> bool:
    """Whether ``value`` is a live wrapper set by fittrace (for ``integration``, if given)."""
    from fittrace.autologging._wrappers import FittraceWrapper

    if type(value) is not FittraceWrapper:
        return False
    return integration is None or value._self_integration == integration


def lookup(owner: Any, attribute: str) -> tuple[Any, bool]:
    """The raw attribute value (descriptor, not bound) and whether ``owner`` defines it itself."""
    if isinstance(owner, type):
        for klass in owner.__mro__:
            if attribute in vars(klass):
                return vars(klass)[attribute], klass is owner
    elif attribute in vars(owner):
        return vars(owner)[attribute], True
    raise AttributeError(f"{owner!r} has no attribute {attribute!r} to patch")


class Patcher:
    """Handed to ``Integration.install``; applies that integration's patches.

    ``module`` is the framework module whose import triggered ``install``;
    ``settings`` the integration's current settings.
    """

    def __init__(
        self,
        integration: Integration,
        module: ModuleType,
        records: list[PatchRecord],
        switch: Switch,
        settings: Callable[[], AutologSettings],
        foreign_modules: Callable[[], frozenset[str]],
    ) -> None:
        self.integration = integration
        self.module = module
        self._records = records
        self._switch = switch
        self._settings = settings
        self._foreign_modules = foreign_modules

    @property
    def settings(self) -> AutologSettings:
        return self._settings()

    @property
    def switch(self) -> Switch:
        """The integration's on/off switch (``switch.on``), for hot paths installed with ``replace``."""
        return self._switch

    def patch(self, owner: Any, attribute: str, capture: Capture, *, run: str = "managed") -> None:
        """Wrap ``owner.attribute`` (a method, classmethod or staticmethod of a class, or a module function).

        ``capture`` is a generator function (see ``fittrace.autologging``);
        ``run`` is "managed" (fit-like: log into the active run or a run of its
        own), "model" (log into the run the instance was fitted in, else the
        active run, else nothing) or "active" (only into an active run).
        Patching the same attribute twice for one integration does nothing.
        """
        import inspect

        if run not in RUN_POLICIES:
            raise ValueError(f"run={run!r} is not one of {', '.join(RUN_POLICIES)}")
        if not inspect.isgeneratorfunction(capture):
            raise TypeError(
                f"capture {capture!r} for {attribute!r} must be a generator function (use yield)"
            )
        with _lock:
            original, defined_here = lookup(owner, attribute)
            name = self.integration.name
            if is_fittrace_wrapper(original, name):
                return
            spec = PatchSpec(name, attribute, capture, run, self._settings)
            self._apply(owner, attribute, original, defined_here, _handler(original, spec))

    def wrap(
        self,
        owner: Any,
        attribute: str,
        wrapper: Callable[[Callable[..., Any], Any, tuple, dict], Any],
    ) -> None:
        """Install a plain wrapt ``wrapper(wrapped, instance, args, kwargs)``, without the capture protocol.

        For hot paths (a loss function, a data iterator) where a ``Call`` per
        call would cost too much. It shares the integration's switch and
        records (``disable`` and ``unpatch`` apply), but the wrapper must keep
        the safety contract itself: call ``wrapped`` exactly once, pass its
        result or exception through, and report its own errors with
        ``fittrace.autologging.safety.report``.
        """
        with _lock:
            original, defined_here = lookup(owner, attribute)
            if not is_fittrace_wrapper(original, self.integration.name):
                self._apply(owner, attribute, original, defined_here, wrapper)

    def replace(self, owner: Any, attribute: str, make: Callable[[Any, Switch], Any]) -> None:
        """Set ``owner.attribute`` to ``make(original, switch)``: a plain object, no wrapper, no ``Call``.

        For stand-ins that must look like the original (picklable metric
        functions), caches of framework internals, and hot paths called thousands
        of times per epoch. Recorded like every patch (``unpatch`` restores the
        original, ``disable`` flips ``switch.on``), applied once per integration;
        the replacement keeps the safety contract itself.
        """
        name = self.integration.name
        with _lock:
            original, defined_here = lookup(owner, attribute)
            if getattr(original, _REPLACED_BY, None) == name:
                return
            replacement = make(original, self._switch)
            setattr(replacement, _REPLACED_BY, name)
            setattr(owner, attribute, replacement)
            self._records.append(
                PatchRecord(owner, attribute, original, defined_here, replacement, name)
            )

    def _apply(
        self, owner: Any, attribute: str, original: Any, defined_here: bool, handler: Any
    ) -> None:
        from fittrace.autologging._wrappers import FittraceWrapper

        name = self.integration.name
        if isinstance(owner, type):
            home = f"{owner.__module__}:{owner.__qualname__}.{attribute}"
        else:
            home = f"{getattr(owner, '__name__', '')}:{attribute}"
        wrapper = FittraceWrapper(original, handler, self._switch, attribute, home)
        wrapper._self_integration = name
        setattr(owner, attribute, wrapper)
        self._records.append(PatchRecord(owner, attribute, original, defined_here, wrapper, name))

    def patch_subclasses(
        self,
        base: type,
        attribute: str,
        capture: Capture,
        *,
        run: str = "managed",
        include_base: bool = True,
        predicate: Callable[[type], bool] | None = None,
    ) -> None:
        """Patch ``attribute`` on ``base`` and on every subclass defining its own, now and later.

        Subclasses that define the attribute themselves (e.g. a user's
        estimator with its own ``fit``) are patched too, including classes
        created after autolog was enabled: a hook on ``base.__init_subclass__``
        (reverted with the rest) patches them as they are defined. Subclasses
        that inherit the attribute use the base's wrapper. ``predicate(cls)``
        can exclude classes; classes from another integration's framework
        (their top-level module is another integration's ``module``) are always
        left to that integration. A subclass whose own ``__init_subclass__``
        does not call ``super()`` hides its own subclasses from the hook.
        """
        if include_base:
            self.patch(base, attribute, capture, run=run)
        spec = (attribute, capture, run, predicate)
        with _lock:
            hook = _subclass_hook(base, self.integration.name)
            if hook is None:
                hook = self._install_subclass_hook(base)
            hook.specs.append(spec)
            for cls in _all_subclasses(base):
                self._patch_subclass(cls, spec)

    def _patch_subclass(self, cls: type, spec: tuple) -> None:
        attribute, capture, run, predicate = spec
        if (
            attribute not in vars(cls)
            or cls.__module__.partition(".")[0] in self._foreign_modules()
        ):
            return
        if predicate is None or predicate(cls):
            self.patch(cls, attribute, capture, run=run)

    def _install_subclass_hook(self, base: type) -> _SubclassHook:
        original, defined_here = lookup(base, "__init_subclass__")
        hook = _SubclassHook(self, base, original if defined_here else None)
        wrapper = classmethod(hook)
        base.__init_subclass__ = wrapper
        self._records.append(
            PatchRecord(
                base, "__init_subclass__", original, defined_here, wrapper, self.integration.name
            )
        )
        return hook


class _SubclassHook:
    """``base.__init_subclass__`` while patched: chains to the original, then patches the new class."""

    def __init__(self, patcher: Patcher, base: type, original: Any) -> None:
        self.patcher = patcher
        self.base = base
        self.original = original
        self.specs: list[tuple] = []
        self.integration = patcher.integration.name

    def __call__(self, cls: type, **kwargs: Any) -> None:
        if self.original is None:
            super(self.base, cls).__init_subclass__(**kwargs)
        elif hasattr(self.original, "__get__"):
            self.original.__get__(None, cls)(**kwargs)
        else:
            self.original(cls, **kwargs)
        if self.patcher._switch.retired:
            return
        for spec in self.specs:
            try:
                self.patcher._patch_subclass(cls, spec)
            except Exception as exc:
                safety.report(self.integration, f"patching {cls.__qualname__}.{spec[0]}", exc)


def _subclass_hook(base: type, integration: str) -> _SubclassHook | None:
    value = vars(base).get("__init_subclass__")
    hook = getattr(value, "__func__", None)
    while isinstance(hook, _SubclassHook):
        if hook.integration == integration and not hook.patcher._switch.retired:
            return hook
        value = hook.original
        hook = getattr(value, "__func__", None)
    return None


def _all_subclasses(base: type) -> list[type]:
    seen: dict[type, None] = {}
    stack = list(type.__subclasses__(base))
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen[cls] = None
            stack.extend(type.__subclasses__(cls))
    return list(seen)


def _handler(original: Any, spec: PatchSpec) -> Any:
    import inspect

    from fittrace.autologging import execution

    function = getattr(original, "__func__", original)
    if inspect.iscoroutinefunction(function):
        return execution.async_handler(spec)
    return execution.handler(spec)
