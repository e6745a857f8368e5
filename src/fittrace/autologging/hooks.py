"""Post-import hooks: run a function right after a module is imported, by any import mechanism.

Same contract as ``wrapt.register_post_import_hook`` (a ``sys.meta_path``
finder, so ``importlib.import_module`` and ``__import__`` are caught too),
kept here because importing wrapt 2.x costs ~60 ms (it pulls in asyncio,
inspect and importlib.metadata) while ``fittrace.autolog()`` must stay within
a few milliseconds when no framework is imported yet. wrapt itself is only
imported when a framework is, to build the wrappers.
"""

from __future__ import annotations

import _thread  # threading, typing and collections would cost more than this whole module
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

    Hook = Callable[[ModuleType], None]

_pending: dict[str, list[Hook]] = {}
_lock = _thread.RLock()
_finder: _HookFinder | None = None


def when_imported(name: str, hook: Hook) -> None:
    """Call ``hook(module)`` once ``name`` is imported; at once if it already is."""
    global _finder
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            if _finder is None:
                _finder = _HookFinder()
                sys.meta_path.insert(0, _finder)
            _pending.setdefault(name, []).append(hook)
            return
    hook(module)


def _fire(name: str, module: ModuleType) -> None:
    with _lock:
        hooks = _pending.pop(name, [])
    for hook in hooks:
        hook(module)


class _HookFinder:
    """Finds nothing itself: wraps the loader the other finders return for a watched module."""

    _searching = _thread._local()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in _pending or getattr(self._searching, "name", None) == fullname:
            return None
        self._searching.name = fullname
        try:
            spec = None
            for finder in sys.meta_path:
                find = getattr(finder, "find_spec", None)
                if finder is self or find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._searching.name = None
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _HookLoader(spec.loader, fullname)
        return spec


class _HookLoader:
    """Delegates to the real loader, puts it back on the module, then fires the hooks."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader = loader
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._loader, attr)

    def create_module(self, spec: Any) -> Any:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _fire(self._name, sys.modules.get(self._name, module))
