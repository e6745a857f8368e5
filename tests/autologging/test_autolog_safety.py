"""The safety contract: the original runs exactly once and its outcome is untouched, whatever fittrace does."""

from __future__ import annotations

import traceback
import warnings

import pytest

from fittrace import autologging
from fittrace.autologging import AutologgingWarning, appended, runs
from fittrace.exceptions import AutologgingError, StoreError


class BrokenRecorder(runs.Recorder):
    """Every call into the tracking layer fails."""

    def __getattribute__(self, name):
        if name.startswith("__"):
            return super().__getattribute__(name)
        raise StoreError("the store is on fire")


class LossyClient:
    """A Client whose params/metrics writes fail; tags and run lifecycle still work."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        if metrics or params:
            raise StoreError("disk full")
        self._client.log_batch(run_id, tags=tags)


class LossyRecorder(runs.Recorder):
    def client(self):
        return LossyClient(super().client())


def _exercise(fakeml):
    """Call every patched function; return comparable outcomes."""
    model = fakeml.Model(2.0)
    fitted = model.fit([1, 2])
    pipe = fakeml.Pipeline([fakeml.Model(1.0)]).fit([3])
    try:
        fakeml.Model().fit(["boom"])
        failure = None
    except ValueError as exc:
        failure = (type(exc), str(exc), traceback.extract_tb(exc.__traceback__)[-1].name)
    return [
        fitted is model,
        model.coef_,
        model.score([1, 2]),
        fakeml.train([5]).coef_,
        fakeml.Model.from_config({"alpha": 4.0}).alpha,
        fakeml.Model.default_alpha(),
        pipe.coef_,
        failure,
        list(fakeml.CALLS),
    ]


def test_failing_recorder_changes_no_result_and_warns_once(fakeml, monkeypatch, all_runs):
    monkeypatch.delenv("FITTRACE_TESTING")
    autologging.enable("fakeml", disable=True)
    fakeml.CALLS.clear()
    expected = _exercise(fakeml)
    autologging.enable("fakeml")
    monkeypatch.setattr(runs, "recorder", BrokenRecorder())
    fakeml.CALLS.clear()

    with pytest.warns(AutologgingWarning) as caught:
        got = _exercise(fakeml)
        got_again = _exercise(fakeml)

    assert got == expected
    assert got_again[:-1] == expected[:-1]
    assert len(caught) == 1
    assert "the store is on fire" in str(caught[0].message)
    monkeypatch.setattr(runs, "recorder", runs.Recorder())
    assert all_runs() == []


def test_lossy_store_leaves_an_errors_tag_on_the_run(fakeml, monkeypatch, all_runs):
    monkeypatch.delenv("FITTRACE_TESTING")
    monkeypatch.setattr(runs, "recorder", LossyRecorder())
    with pytest.warns(AutologgingWarning, match="disk full"):
        model = fakeml.Model(3.0).fit([1])
    assert model.coef_ == 3.0
    (run,) = all_runs()
    assert run.info.status == "FINISHED"
    assert run.data.params == {}
    assert "StoreError: disk full" in run.data.tags["fittrace.autologging.errors"]


def test_capture_failing_before_yield_runs_original_with_callers_arguments(
    fakeml, monkeypatch, all_runs
):
    monkeypatch.delenv("FITTRACE_TESTING")

    def bad_capture(call):
        call.args = ([99],)
        call.log_params({"p": 1})
        raise RuntimeError("capture bug")
        yield  # pragma: no cover

    _replace_fit_capture(fakeml, bad_capture)
    fakeml.CALLS.clear()
    with pytest.warns(AutologgingWarning, match="capture bug"):
        model = fakeml.Model().fit([1, 2])
    assert fakeml.CALLS == [("fit", "Model", (1, 2))]
    assert model.coef_ == 3.0
    (run,) = all_runs()
    assert run.info.status == "FINISHED"
    assert run.data.params == {"p": "1"}
    assert "before the call" in run.data.tags["fittrace.autologging.errors"]


def test_capture_failing_after_yield_keeps_result(fakeml, monkeypatch, all_runs):
    monkeypatch.delenv("FITTRACE_TESTING")

    def bad_capture(call):
        yield
        raise KeyError("after")

    _replace_fit_capture(fakeml, bad_capture)
    model = fakeml.Model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert model.fit([2]) is model
        assert model.fit([2]) is model
    assert [w.category for w in caught] == [AutologgingWarning]  # once per cause
    assert [r.data.tags["fittrace.autologging.errors"] for r in all_runs()] == [
        "fit (after the call): KeyError: 'after'"
    ] * 2


def test_original_exception_passes_through_untouched_and_run_fails(fakeml, all_runs):
    seen = []

    def capture(call):
        try:
            yield
        except ValueError as exc:
            seen.append(exc)
            call.set_tags({"outcome": "failed"})
            raise

    _replace_fit_capture(fakeml, capture)
    with pytest.raises(ValueError, match="cannot fit boom") as info:
        fakeml.Model().fit(["boom"])
    exc = info.value
    assert seen == [exc]
    frames = [f.name for f in traceback.extract_tb(exc.__traceback__)]
    assert frames[-1] == "fit" and "capture" not in frames
    assert exc.__context__ is None and exc.__cause__ is None
    (run,) = all_runs()
    assert run.info.status == "FAILED"
    assert run.data.tags["outcome"] == "failed"


def test_keyboard_interrupt_ends_the_run_failed(fakeml, all_runs):
    def interrupt(model):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fakeml.Model().fit([1], callbacks=[interrupt])
    (run,) = all_runs()
    assert run.info.status == "FAILED"


def test_testing_mode_raises_autologging_error_chained_to_the_cause(fakeml, all_runs):
    def bad_capture(call):
        yield
        raise ZeroDivisionError("oops")

    _replace_fit_capture(fakeml, bad_capture)
    with pytest.raises(AutologgingError, match="ZeroDivisionError: oops") as info:
        fakeml.Model().fit([1])
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    (run,) = all_runs()
    assert run.info.status == "FINISHED"


def test_capture_adds_a_callback_without_touching_the_callers_list(fakeml, all_runs):
    def capture(call):
        callbacks = call.get_arg("callbacks", 1)
        call.replace_arg(
            "callbacks", 1, appended(callbacks, lambda m: call.set_tag("callback", "ran"))
        )
        yield

    _replace_fit_capture(fakeml, capture)
    mine = []
    callbacks = [mine.append]
    fakeml.Model().fit([1], callbacks)
    fakeml.Model().fit([1], callbacks=callbacks)
    fakeml.Model().fit([1])
    assert callbacks == [mine.append] and len(mine) == 2
    assert [r.data.tags.get("callback") for r in all_runs()] == ["ran"] * 3


def test_appended_copies():
    original = [1]
    assert appended(original, 2) == [1, 2] and original == [1]
    assert (
        appended(None, 2) == [2] and appended((1,), 2) == [1, 2] and appended("cb", 2) == ["cb", 2]
    )


def test_warnings_as_errors_do_not_fail_the_call(fakeml, monkeypatch):
    monkeypatch.delenv("FITTRACE_TESTING")
    monkeypatch.setattr(runs, "recorder", BrokenRecorder())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fakeml.Model(2.0).fit([1]).coef_ == 2.0


def test_silent_suppresses_warnings(fakeml, monkeypatch):
    monkeypatch.delenv("FITTRACE_TESTING")
    autologging.enable("fakeml", silent=True)
    monkeypatch.setattr(runs, "recorder", BrokenRecorder())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fakeml.Model().fit([1])
    assert caught == []


def test_capture_yielding_twice_is_reported(fakeml, monkeypatch, all_runs):
    monkeypatch.delenv("FITTRACE_TESTING")

    def twice(call):
        yield
        yield

    _replace_fit_capture(fakeml, twice)
    with pytest.warns(AutologgingWarning, match="yielded more than once"):
        assert fakeml.Model().fit([4]).coef_ == 4.0
    (run,) = all_runs()
    assert "yielded more than once" in run.data.tags["fittrace.autologging.errors"]


def test_capture_returning_before_yield_records_nothing(fakeml, all_runs):
    def decline(call):
        return
        yield  # pragma: no cover

    _replace_fit_capture(fakeml, decline)
    assert fakeml.Model().fit([4]).coef_ == 4.0
    assert all_runs() == []


def _replace_fit_capture(fakeml, capture):
    """Re-register the fake integration with ``capture`` on Model.fit only."""
    from fittrace.autologging import Integration, registry

    def install(patcher):
        patcher.patch_subclasses(patcher.module.Model, "fit", capture)

    registry.register(Integration(name="fakeml", module="fakeml", install=install))
    autologging.enable("fakeml")
