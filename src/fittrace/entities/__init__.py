"""Plain frozen records the store returns and the APIs hand to users.

Attribute names follow the MLflow vocabulary users already know
(``run.info.run_id``, ``run.data.params``, ...). The records of runs and experiments are
defined here; those a fit does not build (metric columns, artifact listings, model links,
the registry's) live in submodules and are imported on first use. Defining classes is part of
every script's first fit, hence ``Record`` and the lazy submodules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fittrace._lazy import lazy_attributes
from fittrace.exceptions import InvalidParameterError
from fittrace.tags import Tags

if TYPE_CHECKING:
    from fittrace.entities.links import InputTag, LoggedModelInput, RunOutputs

_LATER = {
    "MetricHistory": ".history",
    "FileInfo": ".files",
    "InputTag": ".links",
    "LoggedModelInput": ".links",
    "LoggedModelOutput": ".links",
    "RunOutputs": ".links",
    "ModelVersion": ".registry",
    "RegisteredModel": ".registry",
}
__getattr__ = lazy_attributes(__name__, _LATER)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LATER})


class Record:
    """Base of the frozen records: a subclass decorated ``@dataclass(frozen=True, repr=False,
    eq=False)`` takes its repr, equality and hash from here, and is otherwise the frozen
    dataclass it would be with ``frozen=True`` alone, but compiles three methods, not six: each
    costs about 0.07 ms, and a script's first fit defines a dozen records.
    """

    __slots__ = ()
    __dataclass_fields__: dict[str, Any]

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__dataclass_fields__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__dataclass_fields__)
        return f"{type(self).__qualname__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())


class RunStatus:
    """String constants for a run's lifecycle."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    ALL = (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED)
    TERMINAL = (FINISHED, FAILED, KILLED)

    # MLflow's helpers. Its constants are ints named by these strings; here the constant is the
    # string, so both directions return it (checked), and MLflow code comparing
    # ``RunStatus.to_string(RunStatus.FINISHED) == run.info.status`` works unchanged.
    @staticmethod
    def to_string(status: str) -> str:
        if status not in RunStatus.ALL:
            raise InvalidParameterError(f"Unknown run status {status!r}")
        return status

    from_string = to_string

    @staticmethod
    def is_terminated(status: str) -> bool:
        return status in RunStatus.TERMINAL


class LifecycleStage:
    ACTIVE = "active"
    DELETED = "deleted"


class ViewType:
    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3


@dataclass(frozen=True, repr=False, eq=False)
class Experiment(Record):
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


@dataclass(slots=True)  # not frozen: one per history point, and frozen __init__ is 2x slower
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


@dataclass(frozen=True, repr=False, eq=False)
class KeyValue(Record):
    """A key and its string value, the shape of params, tags and input tags. Each of those is a
    subclass of its own (never equal to another's), and no dataclass of its own: it inherits the
    fields and ``__init__`` and costs nothing to define."""

    key: str
    value: str


class Param(KeyValue):
    """A run's parameter."""


class RunTag(KeyValue):
    """A run's tag."""


@dataclass(frozen=True, repr=False, eq=False)
class RunInfo(Record):
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


@dataclass(frozen=True, repr=False, eq=False)
class RunData(Record):
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=Tags)

    def __post_init__(self) -> None:
        if not isinstance(self.tags, Tags):
            object.__setattr__(self, "tags", Tags(self.tags))


@dataclass(frozen=True, repr=False, eq=False)
class Dataset(Record):
    """A dataset as a run records it (MLflow's ``run.inputs.dataset_inputs[i].dataset``):
    ``source``, ``schema`` and ``profile`` are JSON strings."""

    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema: str = ""
    profile: str = ""


DATASET_CONTEXT_TAG = "mlflow.data.context"


@dataclass(frozen=True, repr=False, eq=False)
class DatasetInput(Dataset):
    """A dataset a run consumed: identified by name and content digest, never copied.

    ``.dataset`` and ``.tags`` give it in MLflow's shape (the context is the
    ``mlflow.data.context`` input tag).
    """

    context: str = ""

    @property
    def dataset(self) -> Dataset:
        return Dataset(
            self.name, self.digest, self.source_type, self.source, self.schema, self.profile
        )

    @property
    def tags(self) -> list[InputTag]:
        from fittrace.entities.links import InputTag

        return [InputTag(DATASET_CONTEXT_TAG, self.context)] if self.context else []


@dataclass(frozen=True, repr=False, eq=False)
class RunInputs(Record):
    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[LoggedModelInput] = field(default_factory=list)


# One tag per logged model a run produced / used, so a run may hold any number of them:
# "mlflow.loggedModel.<model_id>" = {"artifact_path", "creation_timestamp"} (JSON), and
# "mlflow.loggedModelInput.<model_id>" = "<model_id>".
MODEL_OUTPUT_TAG_PREFIX = "mlflow.loggedModel."
MODEL_INPUT_TAG_PREFIX = "mlflow.loggedModelInput."


def tagged_models(tags: dict[str, str], prefix: str) -> dict[str, str]:
    """model_id -> tag value of the tags named ``prefix<model_id>``."""
    return {key[len(prefix) :]: value for key, value in tags.items() if key.startswith(prefix)}


@dataclass(frozen=True, repr=False, eq=False)
class Run(Record):
    """A run; ``inputs.model_inputs`` and ``outputs.model_outputs`` are read from its tags."""

    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)

    def __post_init__(self) -> None:
        used = tagged_models(self.data.tags, MODEL_INPUT_TAG_PREFIX)
        if used and not self.inputs.model_inputs:
            from fittrace.entities.links import LoggedModelInput

            inputs = RunInputs(self.inputs.dataset_inputs, [LoggedModelInput(m) for m in used])
            object.__setattr__(self, "inputs", inputs)

    @property
    def outputs(self) -> RunOutputs:
        from fittrace.entities.links import LoggedModelOutput, RunOutputs

        produced = tagged_models(self.data.tags, MODEL_OUTPUT_TAG_PREFIX)
        return RunOutputs([LoggedModelOutput(model_id) for model_id in produced])

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
