"""wrapt wrappers that pickle, copy and compare like the functions they wrap.

wrapt's proxies refuse ``__reduce__``/``__copy__``/``__deepcopy__``, which is
how MLflow's patched ``sklearn.metrics`` functions broke pickling (mlflow
issue 6268). Here a patched function pickles by reference to its real name,
exactly as the unpatched one would (no fittrace needed to unpickle), a bound
method as ``getattr(instance_or_class, name)``, and copies return the function
itself (functions are immutable to ``copy``). Imported only once a framework
is, because importing wrapt is slow.
"""

from __future__ import annotations

import copy
import pkgutil
import sys
from typing import Any

import wrapt


class BoundFittraceWrapper(wrapt.BoundFunctionWrapper):
    """A patched method bound to an instance or a class."""

    def __reduce_ex__(self, protocol: int) -> Any:
        target = self._self_instance if self._self_instance is not None else self._self_owner
        return getattr, (target, self._self_parent._self_attribute)

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict) -> Any:
        if self._self_binding == "function" and self._self_instance is not None:
            return getattr(
                copy.deepcopy(self._self_instance, memo), self._self_parent._self_attribute
            )
        return self


class FittraceWrapper(wrapt.FunctionWrapper):
    """The object set on the owner in place of the original attribute.

    ``home`` is where it was installed, as ``"module:qualified.name"``.
    """

    __bound_function_wrapper__ = BoundFittraceWrapper

    def __init__(
        self, wrapped: Any, wrapper: Any, enabled: Any, attribute: str, home: str | None = None
    ) -> None:
        super().__init__(wrapped, wrapper, enabled)
        self._self_attribute = attribute
        self._self_home = home

    def __reduce_ex__(self, protocol: int) -> Any:
        module = sys.modules.get(getattr(self, "__module__", None) or "")
        target: Any = module
        for part in self.__qualname__.split("."):
            target = getattr(target, part, None)
        if target is self or self._self_home is None:
            return (
                self.__qualname__
            )  # a plain global reference, exactly like the unpatched function's
        # Installed under another name than its defining module's (e.g. sklearn.metrics re-exports):
        # resolved by name at load time with the standard library only.
        return pkgutil.resolve_name, (self._self_home,)

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict) -> Any:
        return self
