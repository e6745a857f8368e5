"""The model registry part of the SQL store: registered models, versions, tags and aliases.

A mixin of ``sql.SqlStore``, which provides ``_read()`` and ``_write()`` (one serialized
transaction) and ``_glob_like``. Version numbers are computed inside that transaction, so
concurrent registrations never share a number. Deleted versions keep their row (status ``DELETED_INTERNAL``, hidden from every read) so a number is
never reused for different files; deleting the registered model removes everything.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fittrace._lazy import lazy_module
from fittrace.exceptions import (
    InvalidParameterError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
)

if TYPE_CHECKING:
    from fittrace.entities.registry import ModelVersion, RegisteredModel

records = lazy_module("fittrace.entities.registry")  # built by registry calls, not by a fit

DELETED_STATUS = "DELETED_INTERNAL"
_ALIAS = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)
_ORDER_COLUMNS = {
    "name": "m.name",
    "creation_timestamp": "m.creation_time",
    "creation_time": "m.creation_time",
    "last_updated_timestamp": "m.last_updated_time",
    "last_updated_time": "m.last_updated_time",
}
_VERSION_ORDER_COLUMNS = {**_ORDER_COLUMNS, "version_number": "m.version", "version": "m.version"}
_MV_COLUMNS = "m.name, m.version, m.creation_time, m.last_updated_time, m.description, m.source, m.run_id, m.status"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(
            f"Registered model name must be a non-empty string, got {name!r}"
        )
    if "/" in name:
        raise InvalidParameterError(
            f"Registered model name {name!r} may not contain '/' (it would break models:/ URIs)"
        )
    return name


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidParameterError(f"Tag key must be a non-empty string, got {key!r}")
    return key


def _version_number(version: Any) -> int:
    try:
        number = int(str(version))
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise InvalidParameterError(f"Model version must be a positive integer, got {version!r}")
    return number


def _order_clause(order_by: Sequence[str] | None, columns: dict[str, str], default: str) -> str:
    terms = []
    for entry in order_by or ():
        field, _, direction = entry.strip().partition(" ")
        direction = direction.strip().upper() or "ASC"
        column = columns.get(field.strip().lower())
        if column is None or direction not in ("ASC", "DESC"):
            raise InvalidParameterError(
                f"Invalid order_by entry {entry!r}; use one of {sorted(columns)} followed by ASC or DESC"
            )
        terms.append(f"{column} {direction}")
    return "ORDER BY " + ", ".join([*terms, default])


class RegistryStore:
    """Registry methods for a SQL store (see the module docstring)."""

    _glob_like: bool

    # -- registered models ------------------------------------------------------------
    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel:
        _check_name(name)
        now = _now_ms()
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM registered_models WHERE name = ?", (name,)).fetchone():
                raise ResourceAlreadyExistsError(f"Registered model {name!r} already exists")
            conn.execute(
                "INSERT INTO registered_models (name, creation_time, last_updated_time, description)"
                " VALUES (?, ?, ?, ?)",
                (name, now, now, description or ""),
            )
            conn.executemany(
                "INSERT INTO registered_model_tags (name, key, value) VALUES (?, ?, ?)",
                [(name, _check_key(k), str(v)) for k, v in (tags or {}).items()],
            )
        return self.get_registered_model(name)

    def _registered_models(self, conn: Any, rows: list[Sequence[Any]]) -> list[RegisteredModel]:
        out = []
        for name, created, updated, description in rows:
            tags = dict(
                conn.execute("SELECT key, value FROM registered_model_tags WHERE name = ?", (name,))
            )
            aliases = {
                alias: int(version)
                for alias, version in conn.execute(
                    "SELECT alias, version FROM registered_model_aliases WHERE name = ? ORDER BY alias",
                    (name,),
                )
            }
            latest = self._versions(
                conn,
                "m.name = ? AND m.status != ? ORDER BY m.version DESC LIMIT 1",
                [name, DELETED_STATUS],
            )
            out.append(
                records.RegisteredModel(name, created, updated, description, tags, aliases, latest)
            )
        return out

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT name, creation_time, last_updated_time, description FROM registered_models WHERE name = ?",
                (name,),
            ).fetchall()
            if not rows:
                raise ResourceNotFoundError(f"No registered model named {name!r}")
            return self._registered_models(conn, rows)[0]

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
    ) -> list[RegisteredModel]:
        from fittrace.store.search import check_count, compile_registry_filter

        check_count("max_results", max_results)
        where, args = compile_registry_filter(
            filter_string, "registered_model", glob_like=self._glob_like
        )
        order = _order_clause(order_by, _ORDER_COLUMNS, "m.name ASC")
        with self._read() as conn:
            rows = conn.execute(
                "SELECT m.name, m.creation_time, m.last_updated_time, m.description FROM registered_models m"
                f" WHERE ({where}) {order} LIMIT ?",
                [*args, max_results],
            ).fetchall()
            return self._registered_models(conn, rows)

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE registered_models SET description = ?, last_updated_time = ? WHERE name = ?",
                (description or "", _now_ms(), name),
            )
            if cur.rowcount == 0:
                raise ResourceNotFoundError(f"No registered model named {name!r}")
        return self.get_registered_model(name)

    def delete_registered_model(self, name: str) -> None:
        with self._write() as conn:
            if not conn.execute(
                "SELECT 1 FROM registered_models WHERE name = ?", (name,)
            ).fetchone():
                raise ResourceNotFoundError(f"No registered model named {name!r}")
            for table in (
                "model_version_tags",
                "registered_model_aliases",
                "model_versions",
                "registered_model_tags",
            ):
                conn.execute(f"DELETE FROM {table} WHERE name = ?", (name,))
            conn.execute("DELETE FROM registered_models WHERE name = ?", (name,))

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        _check_key(key)
        with self._write() as conn:
            self._require_model(conn, name)
            conn.execute(
                "INSERT INTO registered_model_tags (name, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (name, key) DO UPDATE SET value = excluded.value",
                (name, key, value),
            )

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with self._write() as conn:
            self._require_model(conn, name)
            cur = conn.execute(
                "DELETE FROM registered_model_tags WHERE name = ? AND key = ?", (name, key)
            )
            if cur.rowcount == 0:
                raise ResourceNotFoundError(f"Registered model {name!r} has no tag {key!r}")

    @staticmethod
    def _require_model(conn: Any, name: str) -> None:
        if not conn.execute("SELECT 1 FROM registered_models WHERE name = ?", (name,)).fetchone():
            raise ResourceNotFoundError(f"No registered model named {name!r}")

    # -- model versions ---------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        if not isinstance(source, str) or not source:
            raise InvalidParameterError(
                f"Model version source must be a non-empty string, got {source!r}"
            )
        now = _now_ms()
        with self._write() as conn:
            self._require_model(conn, name)
            version = conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE name = ?", (name,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO model_versions (name, version, creation_time, last_updated_time, description,"
                " source, run_id, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'READY')",
                (name, version, now, now, description or "", source, run_id),
            )
            conn.executemany(
                "INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?)",
                [(name, version, _check_key(k), str(v)) for k, v in (tags or {}).items()],
            )
            conn.execute(
                "UPDATE registered_models SET last_updated_time = ? WHERE name = ?", (now, name)
            )
        return self.get_model_version(name, version)

    def _versions(self, conn: Any, where: str, args: Sequence[Any]) -> list[ModelVersion]:
        rows = conn.execute(
            f"SELECT {_MV_COLUMNS} FROM model_versions m WHERE {where}", list(args)
        ).fetchall()
        out = []
        for name, version, created, updated, description, source, run_id, status in rows:
            tags = dict(
                conn.execute(
                    "SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?",
                    (name, version),
                )
            )
            aliases = [
                a
                for (a,) in conn.execute(
                    "SELECT alias FROM registered_model_aliases WHERE name = ? AND version = ? ORDER BY alias",
                    (name, version),
                )
            ]
            out.append(
                records.ModelVersion(
                    name,
                    int(version),
                    created,
                    updated,
                    source,
                    run_id,
                    description,
                    status,
                    tags,
                    aliases,
                )
            )
        return out

    def _get_version(self, conn: Any, name: str, version: Any) -> ModelVersion:
        number = _version_number(version)
        found = self._versions(
            conn, "m.name = ? AND m.version = ? AND m.status != ?", [name, number, DELETED_STATUS]
        )
        if found:
            return found[0]
        self._require_model(conn, name)
        existing = [
            str(v)
            for (v,) in conn.execute(
                "SELECT version FROM model_versions WHERE name = ? AND status != ? ORDER BY version",
                (name, DELETED_STATUS),
            )
        ]
        raise ResourceNotFoundError(
            f"Registered model {name!r} has no version {number}"
            + (f" (versions: {', '.join(existing)})" if existing else " (it has no versions)")
        )

    def get_model_version(self, name: str, version: Any) -> ModelVersion:
        with self._read() as conn:
            return self._get_version(conn, name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10000,
        order_by: Sequence[str] | None = None,
    ) -> list[ModelVersion]:
        from fittrace.store.search import check_count, compile_registry_filter

        check_count("max_results", max_results)
        where, args = compile_registry_filter(
            filter_string, "model_version", glob_like=self._glob_like
        )
        order = _order_clause(order_by, _VERSION_ORDER_COLUMNS, "m.name ASC, m.version DESC")
        with self._read() as conn:
            return self._versions(
                conn,
                f"({where}) AND m.status != ? {order} LIMIT ?",
                [*args, DELETED_STATUS, max_results],
            )

    def update_model_version(self, name: str, version: Any, description: str) -> ModelVersion:
        number = _version_number(version)
        with self._write() as conn:
            self._get_version(conn, name, number)
            conn.execute(
                "UPDATE model_versions SET description = ?, last_updated_time = ? WHERE name = ? AND version = ?",
                (description or "", _now_ms(), name, number),
            )
        return self.get_model_version(name, number)

    def delete_model_version(self, name: str, version: Any) -> None:
        number = _version_number(version)
        with self._write() as conn:
            self._get_version(conn, name, number)
            conn.execute(
                "DELETE FROM model_version_tags WHERE name = ? AND version = ?", (name, number)
            )
            conn.execute(
                "DELETE FROM registered_model_aliases WHERE name = ? AND version = ?",
                (name, number),
            )
            conn.execute(
                "UPDATE model_versions SET status = ?, source = '', run_id = NULL, description = '',"
                " last_updated_time = ? WHERE name = ? AND version = ?",
                (DELETED_STATUS, _now_ms(), name, number),
            )

    def set_model_version_tag(self, name: str, version: Any, key: str, value: str) -> None:
        _check_key(key)
        number = _version_number(version)
        with self._write() as conn:
            self._get_version(conn, name, number)
            conn.execute(
                "INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value",
                (name, number, key, value),
            )

    def delete_model_version_tag(self, name: str, version: Any, key: str) -> None:
        number = _version_number(version)
        with self._write() as conn:
            self._get_version(conn, name, number)
            cur = conn.execute(
                "DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?",
                (name, number, key),
            )
            if cur.rowcount == 0:
                raise ResourceNotFoundError(f"Version {number} of {name!r} has no tag {key!r}")

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version (fittrace has no stages: every version is in stage 'None')."""
        with self._read() as conn:
            self._require_model(conn, name)
            if stages and not any(str(s).lower() == "none" for s in stages):
                return []
            return self._versions(
                conn,
                "m.name = ? AND m.status != ? ORDER BY m.version DESC LIMIT 1",
                [name, DELETED_STATUS],
            )

    # -- aliases ----------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        if not isinstance(alias, str) or not _ALIAS.match(alias) or _RESERVED_ALIAS.match(alias):
            raise InvalidParameterError(
                f"Invalid alias {alias!r}: use letters, digits, '_' and '-' (not 'latest' or 'v<number>')"
            )
        number = _version_number(version)
        with self._write() as conn:
            self._get_version(conn, name, number)
            conn.execute(
                "INSERT INTO registered_model_aliases (name, alias, version) VALUES (?, ?, ?)"
                " ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                (name, alias, number),
            )
            conn.execute(
                "UPDATE registered_models SET last_updated_time = ? WHERE name = ?",
                (_now_ms(), name),
            )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        with self._write() as conn:
            self._require_model(conn, name)
            cur = conn.execute(
                "DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?", (name, alias)
            )
            if cur.rowcount == 0:
                raise ResourceNotFoundError(f"Registered model {name!r} has no alias {alias!r}")

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self._read() as conn:
            row = conn.execute(
                "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                (name, alias),
            ).fetchone()
            if row is None:
                self._require_model(conn, name)
                known = [
                    a
                    for (a,) in conn.execute(
                        "SELECT alias FROM registered_model_aliases WHERE name = ?", (name,)
                    )
                ]
                raise ResourceNotFoundError(
                    f"Registered model {name!r} has no alias {alias!r}"
                    + (
                        f" (aliases: {', '.join(sorted(known))})"
                        if known
                        else " (it has no aliases)"
                    )
                )
            return self._get_version(conn, name, row[0])
