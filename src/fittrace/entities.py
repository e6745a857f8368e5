"""Plain frozen records the store returns and the APIs hand to users.

Attribute names follow the MLflow vocabulary users already know
(``run.info.run_id``, ``run.data.params``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fittrace.tags import Tags


class RunStatus:
    """String constants for a run's lifecycle."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    ALL = (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED)
    TERMINAL = (FINISHED, FAILED, KILLED)


class LifecycleStage:
    ACTIVE = "active"
    DELETED = "deleted"


class ViewType:
    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = LifecycleStage.ACTIVE
    tags: dict[str, str] = field(default_factory=Tags)
    creation_time: int | None = None
    last_update_time: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.tags, Tags):
            object.__setattr__(self, "tags", Tags(self.tags))


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0

    def __eq__(self, other: object) -> bool:  # NaN == NaN for round-trip checks
        if not isinstance(other, Metric):
            return NotImplemented
        same_value = self.value == other.value or (
            math.isnan(self.value) and math.isnan(other.value)
        )
        return (self.key, self.timestamp, self.step) == (
            other.key,
            other.timestamp,
            other.step,
        ) and same_value

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = LifecycleStage.ACTIVE

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass(frozen=True)
class RunData:
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=Tags)

    def __post_init__(self) -> None:
        if not isinstance(self.tags, Tags):
            object.__setattr__(self, "tags", Tags(self.tags))


@dataclass(frozen=True)
class DatasetInput:
    """A dataset a run consumed: identified by name and content digest, never copied."""

    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema: str = ""
    profile: str = ""
    context: str = ""


@dataclass(frozen=True)
class RunInputs:
    dataset_inputs: list[DatasetInput] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)

    def to_dictionary(self) -> dict[str, Any]:
        return {
            "info": dict(self.info.__dict__),
            "data": {
                "metrics": dict(self.data.metrics),
                "params": dict(self.data.params),
                "tags": dict(self.data.tags),
            },
        }


class PagedList(list):
    """One page of results; ``token`` (a ``page_token`` argument) fetches the next, None on the last."""

    def __init__(self, items: Iterable = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token


@dataclass(frozen=True)
class FileInfo:
    path: str
    is_dir: bool
    file_size: int | None = None


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int
    source: str
    run_id: str | None = None
    description: str = ""
    status: str = "READY"
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    latest_versions: list[ModelVersion] = field(default_factory=list)
