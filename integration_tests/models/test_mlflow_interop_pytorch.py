"""MLflow's PyTorch loaders read models fittrace saved, and fittrace reads models MLflow saved."""

from __future__ import annotations

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")
torch = pytest.importorskip("torch")

import fittrace  # noqa: E402
import fittrace.pytorch  # noqa: E402
from fittrace.exceptions import InvalidParameterError  # noqa: E402
from fittrace.models import infer_signature  # noqa: E402

pytestmark = pytest.mark.mlflow_interop


class InteropNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.lin(x))


@pytest.fixture
def net() -> InteropNet:
    torch.manual_seed(0)
    return InteropNet().eval()


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(8, 4)).astype("float32")


def _expected(net: InteropNet, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


def test_mlflow_loads_fittrace_pytorch(net, x, tmp_path):
    signature = infer_signature(x, _expected(net, x))
    fittrace.pytorch.save_model(net, tmp_path / "m", signature=signature)
    path = str(tmp_path / "m")
    loaded = mlflow.pytorch.load_model(path)
    with torch.no_grad():
        np.testing.assert_array_equal(loaded(torch.from_numpy(x)).numpy(), _expected(net, x))
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(path).predict(x), _expected(net, x))
    assert mlflow.models.get_model_info(path).signature.to_dict() == signature.to_dict()


@pytest.mark.parametrize("serialization_format", ["pt2", "pickle"])
def test_fittrace_loads_mlflow_pytorch(net, x, tmp_path, serialization_format):
    path = str(tmp_path / "m")
    signature = mlflow.models.infer_signature(x, _expected(net, x))
    mlflow.pytorch.save_model(
        net, path, input_example=x, signature=signature, serialization_format=serialization_format
    )
    with torch.no_grad():
        np.testing.assert_allclose(
            fittrace.pytorch.load_model(path)(torch.from_numpy(x)).numpy(),
            _expected(net, x),
            rtol=1e-6,
        )
    np.testing.assert_allclose(
        fittrace.pyfunc.load_model(path).predict(x), _expected(net, x), rtol=1e-6
    )
    # MLflow saves no separate weights file
    with pytest.raises(InvalidParameterError, match="no state_dict"):
        fittrace.pytorch.load_model(path, model=InteropNet())


def test_fittrace_reads_an_mlflow_state_dict_artifact(net, tmp_path):
    mlflow.pytorch.save_state_dict(net.state_dict(), str(tmp_path / "sd"))
    state = torch.load(tmp_path / "sd" / "state_dict.pth", weights_only=True)
    fresh = InteropNet()
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.lin.weight, net.lin.weight, rtol=0, atol=0)
