"""Patching: what gets wrapped, how it behaves, and that unpatching restores every __dict__ exactly."""

from __future__ import annotations

import copy
import importlib
import inspect
import pickle
import sys

import pytest

from fittrace import autologging
from fittrace.autologging import registry
from fittrace.autologging.patching import Switch


def _dicts(module):
    """Each namespace as {name: id(value)}: wrappers compare equal to what they wrap, so compare identity."""
    classes = [module.Model, module.SubModel, module.Pipeline]
    return [{k: id(v) for k, v in vars(c).items()} for c in classes], {
        k: id(v) for k, v in vars(module).items()
    }


def test_autolog_before_import_patches_at_import_and_imports_nothing(
    integration, tracking, all_runs
):
    integration.autolog()
    assert "fakeml" not in sys.modules
    fakeml = importlib.import_module("fakeml")
    assert type(vars(fakeml.Model)["fit"]).__name__ == "FittraceWrapper"

    model = fakeml.Model(alpha=2.0).fit([1, 2, 3])

    assert model.coef_ == 12.0
    (run,) = all_runs()
    assert run.info.status == "FINISHED"
    assert run.data.params == {"alpha": "2.0"}
    assert run.data.metrics == {"coef": 12.0}
    assert run.data.tags["fittrace.autologging"] == "fakeml"


def test_autolog_after_import_patches_at_once(integration, tracking, all_runs):
    fakeml = importlib.import_module("fakeml")
    integration.autolog()
    fakeml.train([1, 2])
    (run,) = all_runs()
    assert run.data.params == {"n_samples": "2"}


def test_method_classmethod_staticmethod_and_module_function(fakeml, all_runs):
    model = fakeml.Model.from_config({"alpha": 3.0})
    assert isinstance(model, fakeml.Model) and model.alpha == 3.0
    assert isinstance(vars(fakeml.Model)["from_config"].__wrapped__, classmethod)
    assert fakeml.Model.default_alpha() == 1.0 and fakeml.Model().default_alpha() == 1.0
    assert isinstance(vars(fakeml.Model)["default_alpha"].__wrapped__, staticmethod)
    assert fakeml.SubModel.from_config({}).__class__ is fakeml.SubModel
    assert fakeml.train([4]).coef_ == 4.0
    assert fakeml.Model.fit(fakeml.Model(), [2]).coef_ == 2.0  # unbound call through the class
    tags = [r.data.tags["fittrace.autologging"] for r in all_runs()]
    assert tags == ["fakeml"] * 6  # from_config x2, default_alpha x2, train (its fit nested), fit


def test_inherited_method_is_patched_on_the_base_only(fakeml, all_runs):
    assert "fit" not in vars(fakeml.SubModel)
    fakeml.SubModel(alpha=0.5).fit([4])
    (run,) = all_runs()
    assert run.data.metrics == {"coef": 2.0}


def test_subclass_defined_after_autolog_is_patched_and_restored(fakeml, all_runs):
    class MyModel(fakeml.Model):
        def fit(self, X, callbacks=None):
            self.seen = list(X)
            return super().fit(X)

    before = {k: v for k, v in vars(MyModel).items() if k != "fit"}
    original_fit = MyModel.__dict__["fit"].__wrapped__
    MyModel(alpha=1.0).fit([1, 1])
    (run,) = all_runs()  # the super().fit call is nested: one run
    assert run.data.metrics == {"coef": 2.0}

    autologging.unpatch()
    assert vars(MyModel)["fit"] is original_fit
    assert {k: v for k, v in vars(MyModel).items() if k != "fit"} == before


def test_unpatch_restores_every_dict_exactly(integration, tracking):
    fakeml = importlib.import_module("fakeml")
    classes_before, module_before = _dicts(fakeml)
    integration.autolog()
    classes_patched, module_patched = _dicts(fakeml)
    assert classes_patched != classes_before and module_patched != module_before
    assert "__init_subclass__" in classes_patched[0]

    autologging.unpatch()

    assert _dicts(fakeml) == (classes_before, module_before)
    assert "__init_subclass__" not in vars(fakeml.Model)


def test_autolog_twice_patches_once_and_updates_settings(fakeml, all_runs):
    wrapper = vars(fakeml.Model)["fit"]
    autologging.enable("fakeml", log_coef=False)
    assert vars(fakeml.Model)["fit"] is wrapper
    assert not isinstance(wrapper.__wrapped__, type(wrapper))
    fakeml.CALLS.clear()
    fakeml.Model().fit([1])
    assert fakeml.CALLS == [("fit", "Model", (1,))]
    (run,) = all_runs()
    assert run.data.metrics == {}
    assert autologging.get_settings("fakeml").log_coef is False


def test_disable_takes_effect_at_once_and_reenable(fakeml, all_runs):
    autologging.enable("fakeml", disable=True)
    fakeml.Model().fit([1])
    assert all_runs() == []
    autologging.enable("fakeml")
    fakeml.Model().fit([1])
    assert len(all_runs()) == 1


def test_cached_reference_goes_inert_after_unpatch(fakeml, all_runs):
    from fakeml import train  # a name bound to the wrapper

    autologging.unpatch()
    assert train([1]).coef_ == 1.0
    assert all_runs() == []
    assert fakeml.train is train.__wrapped__


def test_patched_functions_pickle_copy_and_compare_like_originals(fakeml):
    fn = fakeml.accuracy
    autologging.unpatch()
    integration = registry.get_integration("fakeml")

    def install(patcher):
        patcher.patch(patcher.module, "accuracy", _passthrough)
        patcher.patch(patcher.module.Model, "fit", _passthrough)

    registry.register(type(integration)(name="fakeml", module="fakeml", install=install))
    autologging.enable("fakeml")
    patched = fakeml.accuracy
    assert patched is not fn and patched == fn and hash(patched) == hash(fn)
    assert patched.__name__ == "accuracy" and inspect.signature(patched) == inspect.signature(fn)

    assert pickle.loads(pickle.dumps(patched)) is patched
    holder = {"metric": patched, "model": fakeml.Model(2.0)}
    restored = pickle.loads(pickle.dumps(holder))
    assert restored["metric"] is patched and restored["model"].alpha == 2.0
    assert copy.copy(patched) is patched and copy.deepcopy(holder)["metric"] is patched

    model = fakeml.Model(3.0)
    bound = pickle.loads(pickle.dumps(model.fit))
    assert bound.__self__.alpha == 3.0 and bound([1]).coef_ == 3.0
    assert pickle.loads(pickle.dumps(fakeml.Model.fit)) == fakeml.Model.fit
    assert model.fit == model.fit and copy.deepcopy(model.fit).__self__ is not model

    payload = pickle.dumps(patched)
    autologging.unpatch()
    assert pickle.loads(payload) is fn  # by reference: no fittrace needed to unpickle


def _passthrough(call):
    yield


def test_nested_calls_record_once_in_the_outermost(fakeml, all_runs):
    pipe = fakeml.Pipeline([fakeml.Model(1.0), fakeml.SubModel(2.0)])
    pipe.fit([1, 2])
    (run,) = all_runs()
    assert run.data.metrics == {"coef": 9.0}


def test_patch_validates_capture_and_policy(integration, tracking):
    fakeml = importlib.import_module("fakeml")
    patcher = autologging.Patcher(
        integration, fakeml, [], Switch(True), integration.settings_class, lambda: frozenset()
    )
    with pytest.raises(TypeError, match="generator function"):
        patcher.patch(fakeml.Model, "predict", lambda call: None)
    with pytest.raises(ValueError, match="run='sometimes'"):
        patcher.patch(fakeml.Model, "predict", _passthrough, run="sometimes")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        patcher.patch(fakeml.Model, "nope", _passthrough)
    assert "predict" in vars(fakeml.Model) and not hasattr(
        vars(fakeml.Model)["predict"], "__wrapped__"
    )


def test_unpatching_the_lower_of_two_stacked_integrations(integration, tracking, all_runs):
    fakeml = importlib.import_module("fakeml")
    before = _dicts(fakeml)

    def tag(call):
        call.set_tags({"by": "other"})
        yield

    def install(patcher):
        patcher.patch_subclasses(patcher.module.Model, "fit", tag)
        patcher.patch(patcher.module, "train", tag)

    registry.register(autologging.Integration(name="other", module="fakeml", install=install))
    try:
        autologging.enable("fakeml")
        autologging.enable("other")  # applied on top of fakeml's patches
        autologging.unpatch("fakeml")  # fakeml's layer cannot come off yet: it goes inert
        fakeml.Model().fit([1])

        class Late(fakeml.Model):
            def fit(self, X, callbacks=None):
                return super().fit(X)

        Late().fit([2])
        assert [(r.data.tags["fittrace.autologging"], r.data.params) for r in all_runs()] == [
            ("other", {})
        ] * 2
        autologging.enable("fakeml")  # back on top of "other"
        fakeml.Model(2.0).fit([1])
        assert sorted(r.data.params.get("alpha", "-") for r in all_runs()) == ["-", "-", "2.0"]
    finally:
        registry.unregister("other")
    autologging.unpatch()
    assert _dicts(fakeml) == before


def test_function_patched_where_it_is_re_exported_still_pickles(integration, tracking, fake_source):
    fakeml = importlib.import_module("fakeml")
    folder = next(p for p in sys.path if p.endswith("fakeml_src"))
    with open(f"{folder}/fakeml_api.py", "w") as f:
        f.write("from fakeml import accuracy\n")
    importlib.invalidate_caches()
    api = importlib.import_module("fakeml_api")
    try:
        registry.register(
            autologging.Integration(
                name="fakeml",
                module="fakeml_api",
                install=lambda p: p.patch(p.module, "accuracy", _passthrough),
            )
        )
        autologging.enable("fakeml")
        patched = api.accuracy
        assert patched is not fakeml.accuracy and patched.__module__ == "fakeml"
        payload = pickle.dumps({"metric": patched})
        assert pickle.loads(payload)["metric"] is patched
        autologging.unpatch()
        assert pickle.loads(payload)["metric"] is fakeml.accuracy
    finally:
        sys.modules.pop("fakeml_api", None)


def test_raw_wrappers_share_switch_and_records(integration, tracking):
    fakeml = importlib.import_module("fakeml")
    seen = []

    def counting(wrapped, instance, args, kwargs):
        seen.append(args)
        return wrapped(*args, **kwargs)

    registry.register(
        autologging.Integration(
            name="fakeml", module="fakeml", install=lambda p: p.wrap(p.module, "accuracy", counting)
        )
    )
    before = _dicts(fakeml)
    autologging.enable("fakeml")
    assert fakeml.accuracy([1, 2], [1, 3]) == 0.5 and seen == [([1, 2], [1, 3])]
    autologging.enable("fakeml", disable=True)
    fakeml.accuracy([1], [1])
    assert len(seen) == 1
    autologging.unpatch()
    assert _dicts(fakeml) == before


def test_capture_records_errors_it_caught_itself(fakeml, monkeypatch, all_runs):
    monkeypatch.delenv("FITTRACE_TESTING")

    def capture(call):
        try:
            raise OSError("callback could not write")
        except OSError as exc:
            call.record_error("progress callback", exc)
        yield

    registry.register(
        autologging.Integration(
            name="fakeml", module="fakeml", install=lambda p: p.patch(p.module, "train", capture)
        )
    )
    autologging.enable("fakeml")
    with pytest.warns(autologging.AutologgingWarning, match="progress callback: OSError"):
        assert fakeml.train([3]).coef_ == 3.0
    (run,) = all_runs()
    assert (
        run.data.tags["fittrace.autologging.errors"]
        == "progress callback: OSError: callback could not write"
    )
