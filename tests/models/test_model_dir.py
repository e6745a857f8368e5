"""The model directory: MLmodel layout, requirements, input examples, path safety."""

from __future__ import annotations

import json
import platform

import numpy as np
import pandas as pd
import pytest
import yaml

from fittrace import models
from fittrace.exceptions import (
    InvalidParameterError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
)
from fittrace.models import Model, infer_signature, load_input_example


def test_mlmodel_layout(toy, toy_model, frame, tmp_path):
    signature = infer_signature(frame, toy_model.predict(frame))
    toy.save_model(toy_model, tmp_path / "m", signature=signature, input_example=frame.head(2))
    mlmodel = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "_toy_flavor"
    assert pyfunc["python_version"] == platform.python_version()
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert mlmodel["flavors"]["toy"] == {"data": "coef.json"}
    assert mlmodel["signature"] == signature.to_dict()
    assert mlmodel["saved_input_example_info"] == {
        "artifact_path": "input_example.json",
        "type": "dataframe",
        "pandas_orient": "split",
        "serving_input_path": "serving_input_example.json",
    }
    assert len(mlmodel["model_uuid"]) == 32
    assert mlmodel["fittrace_version"]
    assert "run_id" not in mlmodel and "artifact_path" not in mlmodel  # saved, not logged
    for name in ("requirements.txt", "conda.yaml", "python_env.yaml", "coef.json"):
        assert (tmp_path / "m" / name).is_file()


def test_requirements_are_pinned_from_installed_versions(toy, toy_model, tmp_path):
    from importlib.metadata import version

    toy.save_model(toy_model, tmp_path / "m", extra_pip_requirements=["extra-pkg>=1"])
    lines = (tmp_path / "m" / "requirements.txt").read_text().splitlines()
    assert f"PyYAML=={version('PyYAML')}" in lines
    assert lines[0].startswith("fittrace==")
    assert lines[-1] == "extra-pkg>=1"
    conda = yaml.safe_load((tmp_path / "m" / "conda.yaml").read_text())
    assert {"pip": lines} in conda["dependencies"]
    python_env = yaml.safe_load((tmp_path / "m" / "python_env.yaml").read_text())
    assert python_env["dependencies"] == ["-r requirements.txt"]


def test_local_version_labels_kept_only_for_pytorch_builds(monkeypatch):
    from fittrace.models import requirements

    versions = {
        "fittrace": "0.2.0",
        "torch": "2.13.0+cu128",
        "torchvision": "0.28.0+cu128",
        "numpy": "2.1.0+custom",
    }
    found = {name: (name, version) for name, version in versions.items()}
    monkeypatch.setattr(requirements.environment, "installed", lambda: found)
    assert requirements.pinned_requirements(["torch", "torchvision", "numpy"]) == [
        "--extra-index-url https://download.pytorch.org/whl/cu128",
        "fittrace==0.2.0",
        "torch==2.13.0+cu128",
        "torchvision==0.28.0+cu128",
        "numpy==2.1.0",
    ]


def test_pinning_checks_the_installed_distributions_once(monkeypatch):
    from importlib.metadata import version

    from fittrace.models import requirements

    checks = []
    path_state = requirements.environment._path_state
    monkeypatch.setattr(
        requirements.environment, "_path_state", lambda: checks.append(1) or path_state()
    )
    lines = requirements.pinned_requirements(["numpy", "not-installed"], ["yaml.loader", "PIL"])
    assert f"numpy=={version('numpy')}" in lines and f"PyYAML=={version('PyYAML')}" in lines
    assert not any(line.startswith("not-installed") for line in lines)
    assert len(checks) == 1  # one look at sys.path for every name, not one per name


def test_pip_requirements_replace_the_inferred_list(toy, toy_model, tmp_path):
    toy.save_model(toy_model, tmp_path / "m", pip_requirements=["only-this==1.0"])
    assert (tmp_path / "m" / "requirements.txt").read_text() == "only-this==1.0\n"


def test_signature_inferred_from_input_example(toy, toy_model, frame, tmp_path):
    toy.save_model(toy_model, tmp_path / "m", input_example=frame)
    signature = Model.load(tmp_path / "m").signature
    assert (
        str(signature)
        == "inputs:\n  ['age': long, 'oldpeak': double]\noutputs:\n  [Tensor('float64', (-1,))]"
    )


def test_input_examples_round_trip(tmp_path):
    from fittrace.models.input_example import save_input_example

    cases = {
        "frame": pd.DataFrame({"a": [1, 2], "b": ["x", None]}),
        "array": np.arange(6.0).reshape(2, 3),
        "tensors": {"x": np.zeros((1, 2)), "y": np.ones(1)},
        "records": [{"a": 1}, {"a": 2}],
    }
    for name, example in cases.items():
        directory = tmp_path / name
        directory.mkdir()
        info = save_input_example(directory, example)
        loaded = load_input_example(directory, info)
        if name == "frame":
            assert loaded["a"].tolist() == [1, 2]
            assert loaded["b"][0] == "x" and pd.isna(loaded["b"][1])
            assert json.loads((directory / "input_example.json").read_text()) == {
                "columns": ["a", "b"],
                "data": [[1, "x"], [2, None]],
            }
            assert json.loads((directory / "serving_input_example.json").read_text())[
                "dataframe_split"
            ]
        elif name == "array":
            np.testing.assert_array_equal(loaded, example)
        elif name == "tensors":
            assert set(loaded) == {"x", "y"} and loaded["x"].shape == (1, 2)
        else:
            assert loaded == example


def test_saving_into_a_non_empty_directory_fails_and_failed_saves_clean_up(
    toy, toy_model, tmp_path
):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(ResourceAlreadyExistsError, match="taken"):
        toy.save_model(toy_model, tmp_path / "taken")
    with pytest.raises(InvalidParameterError, match="ModelSignature"):
        toy.save_model(toy_model, tmp_path / "bad", signature={"inputs": "x"})
    assert not (tmp_path / "bad").exists()


def test_model_files_cannot_leave_the_model_directory(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(InvalidParameterError, match="not inside the model directory"):
        models.model_file(tmp_path / "m", "../secret.pkl")
    assert (
        models.model_file(tmp_path / "m", "data/x.bin")
        == (tmp_path / "m" / "data" / "x.bin").resolve()
    )


def test_mlmodel_written_by_mlflow_keeps_unknown_keys(tmp_path):
    text = """
flavors:
  python_function: {loader_module: mlflow.sklearn, model_path: model.pkl, python_version: 3.11.7}
  sklearn: {pickled_model: model.pkl, serialization_format: cloudpickle, sklearn_version: 1.5.0}
mlflow_version: 2.20.0
model_size_bytes: 1234
model_uuid: abc
run_id: r1
artifact_path: model
utc_time_created: '2025-01-01 00:00:00.000000'
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}]'
  outputs: null
  params: null
"""
    (tmp_path / "MLmodel").write_text(text)
    model = Model.load(tmp_path)
    assert model.mlflow_version == "2.20.0"
    assert model.run_id == "r1" and model.artifact_path == "model"
    assert str(model.get_input_schema()) == "['x': double]"
    model.save(tmp_path / "copy.yaml")
    assert yaml.safe_load((tmp_path / "copy.yaml").read_text()) == yaml.safe_load(text)


def test_not_a_model_directory(tmp_path):
    with pytest.raises(ResourceNotFoundError, match="not a model directory"):
        Model.load(tmp_path)


def test_unpredictable_example_saves_with_a_warning_and_no_signature(toy, toy_model, tmp_path):
    with pytest.warns(UserWarning, match="Could not infer the model signature"):
        toy.save_model(toy_model, tmp_path / "m", input_example=[1, 2])
    model = Model.load(tmp_path / "m")
    assert model.signature is None and model.load_input_example(tmp_path / "m") == [1, 2]
