"""Model directories fittrace writes load with MLflow alone, in a fresh environment without fittrace."""

from __future__ import annotations

import json
import subprocess
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mlflow")
xgb = pytest.importorskip("xgboost")
torch = pytest.importorskip("torch")
from sklearn.linear_model import LogisticRegression  # noqa: E402

import fittrace  # noqa: E402

pytestmark = pytest.mark.mlflow_interop

LOAD = """
import importlib.util, json, sys
import numpy as np
assert importlib.util.find_spec("fittrace") is None, "fittrace is importable"
import mlflow.pyfunc
X = np.asarray(json.loads(sys.argv[1]), dtype=np.float32)
out = {}
for name in sys.argv[2:]:
    model = mlflow.pyfunc.load_model(name)
    out[name] = np.asarray(model.predict(X)).reshape(len(X), -1)[:, -1].tolist()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def python_without_fittrace(tmp_path_factory):
    """A new virtual environment that sees this one's packages but not their .pth files,
    so not an editable fittrace (installed as a .pth entry)."""
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    if str(Path(fittrace.__file__).parents[1]) in ours:
        pytest.skip("fittrace is installed into site-packages; this check needs `pip install -e .`")
    root = tmp_path_factory.mktemp("fresh-venv")
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "parent.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


def test_mlflow_loads_fittrace_models_without_fittrace(python_without_fittrace, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    sk = LogisticRegression().fit(X, y)
    fittrace.sklearn.save_model(sk, tmp_path / "sk")
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=y), 2)
    fittrace.xgboost.save_model(booster, tmp_path / "xgb")
    net = torch.nn.Sequential(torch.nn.Linear(3, 1))
    fittrace.pytorch.save_model(net, tmp_path / "torch")
    expected = {
        str(tmp_path / "sk"): sk.predict(X),
        str(tmp_path / "xgb"): booster.predict(xgb.DMatrix(X)),
        str(tmp_path / "torch"): net(torch.from_numpy(X)).detach().numpy()[:, 0],
    }
    done = subprocess.run(
        [python_without_fittrace, "-c", LOAD, json.dumps(X.tolist()), *expected],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    for path, values in expected.items():
        np.testing.assert_allclose(got[path], values, rtol=1e-5, err_msg=path)


def test_requirements_name_the_framework(tmp_path):
    keras = pytest.importorskip("keras")
    lightning = pytest.importorskip("lightning")
    inputs = keras.Input((2,))
    fittrace.tensorflow.save_model(
        keras.Model(inputs, keras.layers.Dense(1)(inputs)), tmp_path / "k"
    )
    backend = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}[keras.backend.backend()]
    names = {
        line.split("==")[0] for line in (tmp_path / "k" / "requirements.txt").read_text().split()
    }
    assert {"keras", backend} <= names

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def forward(self, x):
            return self.layer(x)

    fittrace.pytorch.save_model(Module(), tmp_path / "l")
    names = {
        line.split("==")[0] for line in (tmp_path / "l" / "requirements.txt").read_text().split()
    }
    assert {"torch", "lightning"} <= names
