"""The model registry's records."""

from __future__ import annotations

from dataclasses import dataclass, field

from fittrace.entities import Record


@dataclass(frozen=True, repr=False, eq=False)
class ModelVersion(Record):
    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    source: str
    run_id: str | None = None
    description: str = ""
    status: str = "READY"
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True, repr=False, eq=False)
class RegisteredModel(Record):
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_versions: list[ModelVersion] = field(default_factory=list)
