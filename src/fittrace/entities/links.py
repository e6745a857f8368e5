"""What a run's inputs and outputs point to besides datasets: the logged models it used and
produced, and the tags of a dataset input in MLflow's shape."""

from __future__ import annotations

from dataclasses import dataclass, field

from fittrace.entities import KeyValue, Record


class InputTag(KeyValue):
    """A tag of a dataset input (its context)."""


@dataclass(frozen=True, repr=False, eq=False)
class LoggedModelInput(Record):
    """A logged model a run used (``run.inputs.model_inputs``)."""

    model_id: str


@dataclass(frozen=True, repr=False, eq=False)
class LoggedModelOutput(Record):
    """A logged model a run produced (``run.outputs.model_outputs``)."""

    model_id: str
    step: int = 0


@dataclass(frozen=True, repr=False, eq=False)
class RunOutputs(Record):
    model_outputs: list[LoggedModelOutput] = field(default_factory=list)
