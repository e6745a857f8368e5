"""Tracking: the fluent API, the Client, the recorder and store resolution.

``Client`` and ``MlflowClient`` load on first access, so that importing one of the light
submodules (``environment``, ``gitinfo``) does not open the store machinery.
"""

from __future__ import annotations

__all__ = ["Client", "MlflowClient"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from fittrace.tracking import client

        return getattr(client, name)
    raise AttributeError(f"module 'fittrace.tracking' has no attribute {name!r}")
