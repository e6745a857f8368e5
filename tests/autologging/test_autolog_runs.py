"""Managed runs, user runs, tuner child runs, model runs, reentrancy and concurrency."""

from __future__ import annotations

import asyncio
import threading

import pytest

import fittrace
from fittrace import autologging
from fittrace.autologging import Integration, registry


def test_managed_run_is_tagged_and_finished(fakeml, all_runs):
    autologging.enable("fakeml", extra_tags={"team": "vision", "n": 3})
    fakeml.Model(2.0).fit([1])
    (run,) = all_runs()
    assert run.info.status == "FINISHED"
    assert run.data.tags["fittrace.autologging"] == "fakeml"
    assert run.data.tags["team"] == "vision" and run.data.tags["n"] == "3"
    assert fittrace.active_run() is None


def test_first_fit_logs_into_the_user_run_later_ones_become_children(fakeml, all_runs):
    with fittrace.start_run() as parent:
        for alpha in (0.1, 0.2, 0.3):
            fakeml.Model(alpha).fit([10])
        assert fittrace.active_run().info.run_id == parent.info.run_id
    runs = all_runs()
    user = next(r for r in runs if r.info.run_id == parent.info.run_id)
    children = [r for r in runs if r.info.run_id != parent.info.run_id]
    assert user.data.params == {"alpha": "0.1"} and user.data.metrics == {"coef": 1.0}
    assert sorted(r.data.params["alpha"] for r in children) == ["0.2", "0.3"]
    for child in children:
        assert child.data.tags["fittrace.parentRunId"] == parent.info.run_id
        assert child.data.tags["fittrace.autologging"] == "fakeml"
        assert child.info.status == "FINISHED"


def test_exclusive_leaves_user_runs_alone(fakeml, all_runs):
    autologging.enable("fakeml", exclusive=True)
    with fittrace.start_run() as parent:
        fakeml.Model().fit([1])
    (run,) = all_runs()
    assert run.info.run_id == parent.info.run_id and run.data.params == {}
    fakeml.Model().fit([1])
    assert len(all_runs()) == 2


def test_model_policy_logs_into_the_run_the_model_was_fitted_in(fakeml, all_runs):
    model = fakeml.Model(2.0).fit([1, 2])
    assert model.score([1]) == 6.0
    (run,) = all_runs()
    assert run.data.metrics == {"coef": 6.0, "score": 6.0}
    assert autologging.run_for(model) == run.info.run_id
    fakeml.Model.score(_unfitted(fakeml), [1])  # no run for it, none active: nothing recorded
    assert len(all_runs()) == 1


def _unfitted(fakeml):
    model = fakeml.Model()
    model.coef_ = 1.0
    return model


def test_child_runs_on_purpose(fakeml, all_runs):
    def search(call):
        yield
        for i, alpha in enumerate(call.args[1]):
            with call.start_child_run(run_name=f"candidate-{i}", tags={"rank": i}) as child:
                child.log_params({"alpha": alpha})
        call.start_child_run()  # left open: ended with the call

    def install(patcher):
        patcher.patch(patcher.module, "train", search)

    registry.register(Integration(name="search", module="fakeml", install=install))
    try:
        autologging.enable("search")
        fakeml.train([1], [0.5, 1.5])
    finally:
        registry.unregister("search")
    runs = all_runs()
    parent = next(r for r in runs if "fittrace.parentRunId" not in r.data.tags)
    children = [r for r in runs if r is not parent]
    assert len(children) == 3
    assert all(c.data.tags["fittrace.parentRunId"] == parent.info.run_id for c in children)
    assert all(c.info.status == "FINISHED" for c in children)
    assert sorted(c.data.params.get("alpha", "-") for c in children) == ["-", "0.5", "1.5"]
    assert {c.info.run_name for c in children} >= {"candidate-0", "candidate-1"}


def test_nested_calls_of_another_integration_record_once(fakeml, all_runs):
    def outer(call):
        call.set_tags({"outer": "yes"})
        yield

    def install(patcher):
        patcher.patch(patcher.module, "train", outer)

    registry.register(Integration(name="outer", module="fakeml", install=install))
    try:
        autologging.unpatch("fakeml")
        autologging.enable("fakeml")  # fakeml patches train too: both wrappers stacked
        autologging.enable("outer")
        fakeml.train([1, 2])
    finally:
        registry.unregister("outer")
    (run,) = all_runs()
    assert run.data.tags["fittrace.autologging"] == "outer" and run.data.params == {}


def test_active_policy_needs_an_active_run(fakeml, all_runs):
    def capture(call):
        call.log_metrics({"predicted": 1})
        yield

    def install(patcher):
        patcher.patch(patcher.module.Model, "predict", capture, run="active")

    registry.register(Integration(name="preds", module="fakeml", install=install))
    try:
        autologging.enable("preds")
        model = _unfitted(fakeml)
        model.predict([1])
        assert all_runs() == []
        with fittrace.start_run():
            model.predict([1])
    finally:
        registry.unregister("preds")
    (run,) = all_runs()
    assert run.data.metrics == {"predicted": 1.0}


def test_threads_fitting_at_once_each_record_their_own_run(fakeml, all_runs):
    n = 4
    barrier = threading.Barrier(n, timeout=30)
    errors = []

    def work(i):
        try:
            fakeml.Model(alpha=float(i)).fit([1], callbacks=[lambda m: barrier.wait()])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    runs = all_runs()
    assert sorted((r.data.params["alpha"], r.data.metrics["coef"]) for r in runs) == [
        (f"{i}.0", float(i)) for i in range(n)
    ]
    assert all(r.info.status == "FINISHED" for r in runs)


def test_asyncio_tasks_fitting_at_once_each_record_their_own_run(fakeml, all_runs):
    async def main():
        models = [fakeml.Model(alpha=float(i)) for i in range(3)]
        await asyncio.gather(*(m.afit([2], pause=0.01) for m in models))

    asyncio.run(main())
    runs = all_runs()
    assert sorted((r.data.params["alpha"], r.data.metrics["coef"]) for r in runs) == [
        ("0.0", 0.0),
        ("1.0", 2.0),
        ("2.0", 4.0),
    ]
    assert all(r.info.status == "FINISHED" for r in runs)


def test_asyncio_to_thread_fits_are_independent(fakeml, all_runs):
    async def main():
        await asyncio.gather(
            *(asyncio.to_thread(fakeml.Model(float(i)).fit, [1]) for i in range(3))
        )

    asyncio.run(main())
    assert sorted(r.data.params["alpha"] for r in all_runs()) == ["0.0", "1.0", "2.0"]


@pytest.mark.parametrize("option", ["log_models", "silent"])
def test_enable_rejects_unknown_and_mistyped_options(fakeml, option):
    with pytest.raises(TypeError, match="'log_modles'"):
        autologging.enable("fakeml", log_modles=True)
    with pytest.raises(ValueError, match=f"{option}='yes'"):
        autologging.enable("fakeml", **{option: "yes"})


def test_log_system_metrics_option_samples_the_runs_autologging_starts(
    fakeml, all_runs, monkeypatch
):
    from fittrace.tracking import system_metrics

    started, stopped = [], []
    monkeypatch.setattr(system_metrics, "start", lambda client, run_id: started.append(run_id))
    monkeypatch.setattr(system_metrics, "stop", stopped.append)
    autologging.enable("fakeml", log_system_metrics=True)
    fakeml.Model().fit([1])
    (run,) = all_runs()
    assert started == [run.info.run_id] and run.info.run_id in stopped
    autologging.enable("fakeml", log_system_metrics=False)
    stopped.clear()
    fakeml.Model().fit([1])
    assert len(started) == 1 and stopped  # stopped in case the global switch started it
