"""The records the store returns behave as frozen dataclasses do (``entities.Record``)."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from fittrace.entities import (
    DatasetInput,
    Experiment,
    FileInfo,
    ModelVersion,
    Param,
    Run,
    RunData,
    RunInfo,
    RunTag,
)


def _run() -> Run:
    info = RunInfo("r1", "0", "name", "ada", "RUNNING", 1, None, "/artifacts/r1")
    return Run(info, RunData({"loss": 0.5}, {"lr": "0.1"}, {"mlflow.loggedModelInput.m-1": "m-1"}))


@dataclasses.dataclass(frozen=True)
class Reference:
    key: str
    value: str


def test_records_compare_hash_and_print_as_frozen_dataclasses_do():
    assert repr(Param("lr", "0.1")) == repr(Reference("lr", "0.1")).replace("Reference", "Param")
    assert Param("lr", "0.1") == Param("lr", "0.1") and Param("lr", "0.1") != Param("lr", "1")
    assert hash(Param("lr", "0.1")) == hash(Reference("lr", "0.1"))
    assert len({Param("lr", "0.1"), Param("lr", "0.1"), Param("lr", "1")}) == 2
    assert Param("a", "b") != RunTag("a", "b")  # another record type is never equal
    assert DatasetInput("d", "x") != DatasetInput("d", "x").dataset  # nor is a base record
    with pytest.raises(TypeError):  # a dict field: unhashable, as in a frozen dataclass
        hash(Experiment("1", "e", "/a"))


@pytest.mark.parametrize(
    "change",
    [
        lambda r: setattr(r.info, "status", "FINISHED"),
        lambda r: setattr(r, "data", None),
        lambda r: setattr(r.info, "not_a_field", 1),
        lambda r: delattr(r.info, "run_id"),
    ],
)
def test_records_cannot_be_changed(change):
    run = _run()
    with pytest.raises(dataclasses.FrozenInstanceError):
        change(run)
    assert run == _run()


def test_a_subclass_takes_attributes_of_its_own_as_a_frozen_dataclass_subclass_does():
    import fittrace

    with fittrace.start_run() as run:  # an ActiveRun: a Run subclass, as in MLflow
        run.note = "mine"
        assert run.note == "mine"
        with pytest.raises(dataclasses.FrozenInstanceError):
            run.info = None


def test_records_keep_the_dataclass_protocols():
    run = _run()
    assert run.inputs.model_inputs[0].model_id == "m-1"  # set in __post_init__
    assert pickle.loads(pickle.dumps(run)) == run
    assert copy.deepcopy(run) == run
    assert dataclasses.replace(run.info, status="FINISHED").status == "FINISHED"
    assert dataclasses.asdict(FileInfo("model/MLmodel", False, 12)) == {
        "path": "model/MLmodel",
        "is_dir": False,
        "file_size": 12,
    }
    assert [f.name for f in dataclasses.fields(ModelVersion)][:2] == ["name", "version"]
    assert Experiment("1", "e", "/a", tags={"k": "v"}).tags["k"] == "v"
