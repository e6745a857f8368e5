"""The pytorch model flavor: save, log, register and load back with identical outputs."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch import nn

import fittrace
import fittrace.pytorch
from fittrace.exceptions import InvalidParameterError
from fittrace.models import infer_signature


class Net(nn.Module):
    def __init__(self, hidden: int = 6) -> None:
        super().__init__()
        self.hidden = nn.Linear(4, hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(x)))


@pytest.fixture
def net() -> Net:
    return Net().eval()


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(10, 4)


def test_directory_layout_and_full_reload(net, x, tmp_path):
    fittrace.pytorch.save_model(net, tmp_path / "m")
    mlmodel = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["pytorch"]
    assert flavor["model_data"] == "data" and flavor["pytorch_version"] == torch.__version__
    assert flavor["state_dict"] == "data/state_dict.pth"
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.pytorch"
    requirements = (tmp_path / "m" / "requirements.txt").read_text().splitlines()
    assert f"torch=={torch.__version__}" in requirements  # the local label (+cpu) stays
    local_label = torch.__version__.partition("+")[2]
    if local_label:  # and pip gets the wheel index that serves such builds
        assert (
            requirements[0] == f"--extra-index-url https://download.pytorch.org/whl/{local_label}"
        )
    state = torch.load(tmp_path / "m" / "data" / "state_dict.pth", weights_only=True)
    assert state.keys() == net.state_dict().keys()
    reloaded = fittrace.pytorch.load_model(tmp_path / "m")
    assert type(reloaded) is Net and not reloaded.training
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x), net(x), rtol=0, atol=0)


def test_weights_only_load_never_unpickles_the_module(net, x, tmp_path):
    fittrace.pytorch.save_model(net, tmp_path / "m")
    (tmp_path / "m" / "data" / "model.pth").write_bytes(b"not a pickle at all")
    fresh = Net()
    loaded = fittrace.pytorch.load_model(tmp_path / "m", model=fresh)
    assert loaded is fresh and not fresh.training
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), net(x), rtol=0, atol=0)
    state = fittrace.pytorch.load_state_dict(tmp_path / "m")
    torch.testing.assert_close(state["out.weight"], net.out.weight.detach(), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="size mismatch"):
        fittrace.pytorch.load_model(tmp_path / "m", model=Net(hidden=3))
    with pytest.raises(pickle.UnpicklingError):  # this one reads the (broken) pickled module
        fittrace.pytorch.load_model(tmp_path / "m")


def test_pyfunc_predicts_like_the_module(net, x, tmp_path):
    signature = infer_signature(x.numpy(), net(x).detach().numpy())
    fittrace.pytorch.save_model(net, tmp_path / "m", signature=signature)
    model = fittrace.pyfunc.load_model(str(tmp_path / "m"))
    expected = net(x).detach().numpy()
    np.testing.assert_array_equal(model.predict(x.numpy()), expected)
    # without a signature to enforce, float64 input is cast to the weights' dtype
    raw = fittrace.pytorch._load_pyfunc(str(tmp_path / "m"))
    np.testing.assert_allclose(raw.predict(x.numpy().astype("float64")), expected, rtol=1e-6)
    frame = pd.DataFrame(x.numpy(), columns=list("abcd"), index=range(100, 110))
    predicted = raw.predict(frame)
    assert list(predicted.index) == list(frame.index)
    np.testing.assert_array_equal(predicted.to_numpy(), expected)


def test_input_example_gives_a_signature(net, x, tmp_path):
    fittrace.pytorch.save_model(net, tmp_path / "m", input_example=x[:3])
    mlmodel = fittrace.models.Model.load(tmp_path / "m")
    assert mlmodel.signature.inputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}
    ]
    assert mlmodel.signature.outputs.to_dict()[0]["tensor-spec"]["shape"] == [-1, 2]
    np.testing.assert_array_equal(mlmodel.load_input_example(tmp_path / "m"), x[:3].numpy())


def test_log_model_register_and_load_by_every_uri(net, x):
    with fittrace.start_run() as run:
        info = fittrace.pytorch.log_model(net, "weights", registered_model_name="torch-net")
    assert info.model_uri == f"models:/{info.model_id}" and info.registered_model_version == 1
    fittrace.MlflowClient().set_registered_model_alias("torch-net", "champion", "1")
    uris = (f"runs:/{run.info.run_id}/weights", "models:/torch-net/1", "models:/torch-net@champion")
    with torch.no_grad():
        for uri in (info.model_uri, *uris):
            torch.testing.assert_close(fittrace.pytorch.load_model(uri)(x), net(x), rtol=0, atol=0)
            torch.testing.assert_close(
                fittrace.pytorch.load_model(uri, model=Net())(x), net(x), rtol=0, atol=0
            )


def test_bad_input_is_refused_clearly(tmp_path):
    with pytest.raises(InvalidParameterError, match="torch.nn.Module"):
        fittrace.pytorch.save_model(lambda t: t, tmp_path / "m")
    fittrace.pytorch.save_model(Net(), tmp_path / "m")
    with pytest.raises(InvalidParameterError, match="nn.Module to load weights into"):
        fittrace.pytorch.load_model(tmp_path / "m", model={"out.weight": 1})
