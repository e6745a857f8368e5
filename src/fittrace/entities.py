"""Plain frozen records the store returns and the APIs hand to users.

Attribute names follow the MLflow vocabulary users already know
(``run.info.run_id``, ``run.data.params``, ...).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from fittrace.exceptions import InvalidParameterError
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


@dataclass(frozen=True, eq=False)  # arrays: no hash, and NaN would make == False
class MetricHistory:
    """One metric's history as columns, in history order (step, then timestamp): ``steps``,
    ``timestamps`` (ms) and ``values`` are ``array.array``s, so ``numpy.asarray(h.values)``
    shares their memory. fittrace's addition beside MLflow's list of ``Metric``."""

    key: str
    steps: array
    timestamps: array
    values: array

    @classmethod
    def of(cls, key: str, metrics: Iterable[Metric]) -> MetricHistory:
        """The columns of a list of ``Metric`` (in history order already)."""
        points = list(metrics)
        return cls(
            key,
            array("q", [m.step for m in points]),
            array("q", [m.timestamp for m in points]),
            array("d", [m.value for m in points]),
        )

    def __len__(self) -> int:
        return len(self.steps)

    def metrics(self, start: int = 0, stop: int | None = None) -> list[Metric]:
        """The history as MLflow returns it, one ``Metric`` per point (of ``[start:stop]``)."""
        window = slice(start, stop)
        return list(
            map(
                Metric,
                repeat(self.key),
                self.values[window],
                self.timestamps[window],
                self.steps[window],
            )
        )


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
class Dataset:
    """A dataset as a run records it (MLflow's ``run.inputs.dataset_inputs[i].dataset``):
    ``source``, ``schema`` and ``profile`` are JSON strings."""

    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema: str = ""
    profile: str = ""


@dataclass(frozen=True)
class InputTag:
    key: str
    value: str


DATASET_CONTEXT_TAG = "mlflow.data.context"


@dataclass(frozen=True)
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
        return [InputTag(DATASET_CONTEXT_TAG, self.context)] if self.context else []


@dataclass(frozen=True)
class LoggedModelInput:
    """A logged model a run used (``run.inputs.model_inputs``)."""

    model_id: str


@dataclass(frozen=True)
class LoggedModelOutput:
    """A logged model a run produced (``run.outputs.model_outputs``)."""

    model_id: str
    step: int = 0


@dataclass(frozen=True)
class RunInputs:
    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[LoggedModelInput] = field(default_factory=list)


@dataclass(frozen=True)
class RunOutputs:
    model_outputs: list[LoggedModelOutput] = field(default_factory=list)


# One tag per logged model a run produced / used, so a run may hold any number of them:
# "mlflow.loggedModel.<model_id>" = {"artifact_path", "creation_timestamp"} (JSON), and
# "mlflow.loggedModelInput.<model_id>" = "<model_id>".
MODEL_OUTPUT_TAG_PREFIX = "mlflow.loggedModel."
MODEL_INPUT_TAG_PREFIX = "mlflow.loggedModelInput."


def tagged_models(tags: dict[str, str], prefix: str) -> dict[str, str]:
    """model_id -> tag value of the tags named ``prefix<model_id>``."""
    return {key[len(prefix) :]: value for key, value in tags.items() if key.startswith(prefix)}


@dataclass(frozen=True)
class Run:
    """A run; ``inputs.model_inputs`` and ``outputs.model_outputs`` are read from its tags."""

    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)

    def __post_init__(self) -> None:
        used = tagged_models(self.data.tags, MODEL_INPUT_TAG_PREFIX)
        if used and not self.inputs.model_inputs:
            inputs = RunInputs(self.inputs.dataset_inputs, [LoggedModelInput(m) for m in used])
            object.__setattr__(self, "inputs", inputs)

    @property
    def outputs(self) -> RunOutputs:
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


@dataclass(frozen=True)
class FileInfo:
    path: str
    is_dir: bool
    file_size: int | None = None


@dataclass(frozen=True)
class ModelVersion:
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


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_versions: list[ModelVersion] = field(default_factory=list)
