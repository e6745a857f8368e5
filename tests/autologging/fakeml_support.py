"""The fake framework the autologging tests use (``fakeml``) and its test integration."""

from __future__ import annotations

from fittrace.autologging import AutologSettings, Call, Integration, Patcher

SOURCE = '''
"""A tiny stand-in for an ML framework."""
import asyncio

__version__ = "1.2.0"
CALLS = []


def train(X, alpha=1.0):
    CALLS.append(("train", tuple(X)))
    return Model(alpha).fit(X)


def accuracy(a, b):
    return sum(x == y for x, y in zip(a, b)) / len(a)


class Model:
    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def fit(self, X, callbacks=None):
        CALLS.append(("fit", type(self).__name__, tuple(X)))
        if X == ["boom"]:
            raise ValueError("cannot fit boom")
        for callback in callbacks or []:
            callback(self)
        self.coef_ = sum(X) * self.alpha
        return self

    def predict(self, X):
        return [self.coef_ * x for x in X]

    def score(self, X):
        return float(sum(self.predict(X)))

    async def afit(self, X, pause=0.0):
        CALLS.append(("afit", tuple(X)))
        await asyncio.sleep(pause)
        self.coef_ = sum(X) * self.alpha
        await asyncio.sleep(pause)
        return self

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @staticmethod
    def default_alpha():
        return 1.0


class SubModel(Model):
    """Inherits fit."""


class Pipeline(Model):
    """Own fit that fits its steps (nested autologged calls)."""

    def __init__(self, steps):
        super().__init__()
        self.steps = steps

    def fit(self, X, callbacks=None):
        for step in self.steps:
            step.fit(X)
        self.coef_ = sum(step.coef_ for step in self.steps)
        return self
'''


class FakeSettings(AutologSettings):
    log_coef: bool = True


def capture_fit(call: Call):
    call.log_params({"alpha": call.instance.alpha})
    result = yield
    if call.settings.log_coef:
        call.log_metrics({"coef": result.coef_})
    call.remember_run(call.instance)


def capture_score(call: Call):
    result = yield
    call.log_metrics({"score": result})


def capture_train(call: Call):
    call.log_params({"n_samples": len(call.args[0])})
    yield


def capture_passthrough(call: Call):
    yield


def install(patcher: Patcher) -> None:
    fakeml = patcher.module
    patcher.patch_subclasses(fakeml.Model, "fit", capture_fit)
    patcher.patch(fakeml.Model, "afit", capture_fit)
    patcher.patch(fakeml.Model, "score", capture_score, run="model")
    patcher.patch(fakeml.Model, "from_config", capture_passthrough)
    patcher.patch(fakeml.Model, "default_alpha", capture_passthrough)
    patcher.patch(fakeml, "train", capture_train)


def make_integration(**overrides) -> Integration:
    fields = dict(
        name="fakeml",
        module="fakeml",
        install=install,
        settings_class=FakeSettings,
        supported_versions=">=1.0,<2",
        aliases=("fake",),
    )
    fields.update(overrides)
    return Integration(**fields)
