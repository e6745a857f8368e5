"""What a run's inputs and outputs point to besides datasets: the logged models it used and
produced, and the tags of a dataset input in MLflow's shape."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InputTag:
    key: str
    value: str


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
class RunOutputs:
    model_outputs: list[LoggedModelOutput] = field(default_factory=list)
