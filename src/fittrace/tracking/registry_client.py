"""Model registry methods of ``Client`` (a mixin: the Client provides ``self._store``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fittrace.entities.registry import ModelVersion, RegisteredModel


def _tag_value(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _tags(tags: dict[str, Any] | None) -> dict[str, str]:
    return {k: _tag_value(v) for k, v in (tags or {}).items()}


class RegistryClient:
    """Registered models, their numbered versions, tags and aliases (``champion`` -> version 3).

    Rolling back is moving an alias to an earlier version.
    """

    _store: Any

    # -- registered models ------------------------------------------------------------
    def create_registered_model(
        self, name: str, tags: dict[str, Any] | None = None, description: str | None = None
    ) -> RegisteredModel:
        return self._store.create_registered_model(name, _tags(tags), description)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._store.get_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
    ) -> list[RegisteredModel]:
        """Filter on ``name`` (``=``, ``LIKE``, ``ILIKE``) and ``tags.<key>``."""
        return self._store.search_registered_models(filter_string, max_results, order_by)

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        return self._store.update_registered_model(name, description or "")

    def delete_registered_model(self, name: str) -> None:
        self._store.delete_registered_model(name)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self._store.set_registered_model_tag(name, key, _tag_value(value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._store.delete_registered_model_tag(name, key)

    # -- versions -----------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Add the model at ``source`` as the next version (1, 2, ...) of registered model ``name``."""
        return self._store.create_model_version(name, source, run_id, _tags(tags), description)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        return self._store.get_model_version(name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10000,
        order_by: Sequence[str] | None = None,
    ) -> list[ModelVersion]:
        """Filter on ``name``, ``version``, ``run_id``, ``source`` and ``tags.<key>``."""
        return self._store.search_model_versions(filter_string, max_results, order_by)

    def update_model_version(
        self, name: str, version: str | int, description: str | None = None
    ) -> ModelVersion:
        return self._store.update_model_version(name, version, description or "")

    def delete_model_version(self, name: str, version: str | int) -> None:
        self._store.delete_model_version(name, version)

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: Any) -> None:
        self._store.set_model_version_tag(name, version, key, _tag_value(value))

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        self._store.delete_model_version_tag(name, version, key)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        return self._store.get_latest_versions(name, stages)

    # -- aliases ------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point ``alias`` at ``version`` (moving it if it pointed elsewhere)."""
        self._store.set_registered_model_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._store.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self._store.get_model_version_by_alias(name, alias)
