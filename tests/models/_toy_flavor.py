"""A framework-free model flavor for tests: a linear model stored as JSON coefficients."""

from __future__ import annotations

import json

from fittrace import models

FLAVOR_NAME = "toy"


class LinearToy:
    def __init__(self, coef: dict[str, float]) -> None:
        self.coef = coef

    def predict(self, frame):
        return sum(
            frame[name].astype(float) * weight for name, weight in self.coef.items()
        ).to_numpy()


def save_model(model, path, *, signature=None, input_example=None, **kwargs):
    with models.new_model_dir(path) as model_dir:
        (model_dir / "coef.json").write_text(json.dumps(model.coef))
        models.write_model_metadata(
            model_dir,
            flavor=FLAVOR_NAME,
            flavor_conf={"data": "coef.json"},
            loader_module=__name__,
            requirements=["PyYAML"],
            signature=signature,
            input_example=input_example,
            predict_fn=model.predict,
            **kwargs,
        )


def log_model(model, artifact_path="model", **kwargs):
    return models.log_model(save_model, model, artifact_path, **kwargs)


def load_model(model_uri, dst_path=None):
    loaded = models.load_flavor(model_uri, FLAVOR_NAME, dst_path)
    return LinearToy(json.loads(models.model_file(loaded.path, loaded.conf["data"]).read_text()))


def _load_pyfunc(path):
    model_dir = models.model_dir_of(path)
    return LinearToy(json.loads((model_dir / "coef.json").read_text()))
