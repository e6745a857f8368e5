"""``Study.optimize`` as a run tree: the study a parent run, each trial a child run."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import optuna
import pytest
from numpy.testing import assert_equal

import fittrace
import fittrace.optuna
from fittrace import tags
from integration_tests.plugins.faults import (
    STORE_FAULTS,
    assert_unchanged_with_one_warning,
    break_store,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _children(runs, parent):
    return sorted(
        (r for r in runs() if r.data.tags.get(tags.PARENT_RUN_ID) == parent.info.run_id),
        key=lambda r: int(r.data.tags["optuna.trial_number"]),
    )


def _quadratic(trial):
    x = trial.suggest_float("x", -4, 4)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    return (x - 1) ** 2 + (kind == "b")


def _parent(runs):
    (parent,) = [r for r in runs() if "optuna.study_name" in r.data.tags]
    return parent


def test_study_is_a_parent_run_and_each_trial_a_child_with_the_best_on_the_parent(runs):
    fittrace.optuna.autolog()
    study = optuna.create_study(study_name="quad", sampler=optuna.samplers.TPESampler(seed=3))
    study.optimize(_quadratic, n_trials=5)

    parent = _parent(runs)
    assert parent.data.params["study_name"] == "quad"
    assert parent.data.params["direction"] == "minimize"
    assert parent.data.params["sampler"] == "TPESampler"
    assert "'seed'" not in parent.data.params["sampler_config"]  # only scalar settings
    assert parent.data.params["n_trials"] == "5"
    assert parent.data.params["best_x"] == str(study.best_params["x"])
    assert parent.data.metrics["best_value"] == pytest.approx(study.best_value)
    assert parent.data.metrics["best_trial_number"] == study.best_trial.number
    children = _children(runs, parent)
    assert len(children) == 5
    for child, trial in zip(children, study.trials, strict=True):
        assert child.info.run_name == f"trial_{trial.number}"
        assert child.data.params == {k: str(v) for k, v in trial.params.items()}
        assert child.data.metrics["value"] == pytest.approx(trial.value)
        assert child.data.metrics["duration_seconds"] >= 0
        assert child.data.tags["optuna.trial_state"] == "COMPLETE"
        assert child.info.status == "FINISHED"


def test_intermediate_values_are_a_history_and_pruned_trials_are_marked(runs, history):
    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        for step in range(4):
            trial.report(x + step, step)
            if trial.number == 1 and step == 1:
                raise optuna.TrialPruned()
        trial.set_user_attr("note", "full")
        return x

    fittrace.optuna.autolog()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=2)

    first, pruned = _children(runs, _parent(runs))
    x = study.trials[0].params["x"]
    assert history(first.info.run_id, "intermediate_value") == [
        (s, pytest.approx(x + s)) for s in range(4)
    ]
    assert first.data.tags["optuna.user_attr.note"] == "full"
    assert pruned.data.tags["optuna.trial_state"] == "PRUNED"
    assert pruned.info.status == "KILLED"
    assert len(history(pruned.info.run_id, "intermediate_value")) == 2


def test_a_failing_trial_fails_its_run_and_the_study(runs):
    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 1:
            raise ValueError("bad trial")
        return x

    fittrace.optuna.autolog()
    study = optuna.create_study()
    with pytest.raises(ValueError, match="bad trial"):
        study.optimize(objective, n_trials=3)
    parent = _parent(runs)
    assert parent.info.status == "FAILED"
    ok, failed = _children(runs, parent)
    assert ok.info.status == "FINISHED"
    assert failed.info.status == "FAILED"
    assert failed.data.tags["optuna.trial_state"] == "FAIL"


def test_multi_objective_logs_each_value_and_the_pareto_front_size(runs):
    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        return x, 1 - x

    fittrace.optuna.autolog()
    study = optuna.create_study(directions=["minimize", "maximize"])
    study.optimize(objective, n_trials=3)
    parent = _parent(runs)
    assert parent.data.params["directions"] == "['minimize', 'maximize']"
    assert parent.data.metrics["best_trials_count"] == len(study.best_trials)
    child = _children(runs, parent)[0]
    assert child.data.metrics["value_1"] == pytest.approx(1 - child.data.metrics["value_0"])


def test_sklearn_fits_inside_trials_log_into_the_trials_runs_also_in_threads(runs):
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)

    def objective(trial):
        alpha = trial.suggest_float("alpha", 0.1, 10, log=True)
        model = Ridge(alpha=alpha).fit(X, y)
        fittrace.log_metric("from_user", alpha)
        return model.score(X, y)

    fittrace.autolog()
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=6, n_jobs=3)

    parent = _parent(runs)
    children = _children(runs, parent)
    assert len(children) == 6
    assert len(runs()) == 7  # nothing recorded outside the tree
    for child in children:
        assert child.data.tags["estimator_name"] == "Ridge"  # the trial's param and fit, one run
        assert child.data.metrics["from_user"] == pytest.approx(float(child.data.params["alpha"]))
        assert "training_r2_score" in child.data.metrics


def test_processes_sharing_an_rdb_storage_record_their_own_trials(tmp_path, runs):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(study_name="shared", storage=storage)
    script = (
        "import optuna, fittrace.optuna\n"
        "optuna.logging.set_verbosity(optuna.logging.WARNING)\n"
        "fittrace.optuna.autolog()\n"
        f"study = optuna.load_study(study_name='shared', storage={storage!r})\n"
        "study.optimize(lambda t: (t.suggest_float('x', -1, 1)) ** 2, n_trials=2)\n"
    )
    workers = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(2)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]

    study = optuna.load_study(study_name="shared", storage=storage)
    parents = [r for r in runs() if "optuna.study_name" in r.data.tags]
    assert len(parents) == 2
    numbers = sorted(
        int(c.data.tags["optuna.trial_number"]) for p in parents for c in _children(runs, p)
    )
    assert numbers == sorted(t.number for t in study.trials) == list(range(4))
    for parent in parents:
        assert parent.data.metrics["best_value"] >= study.best_value


@pytest.mark.parametrize("fault", STORE_FAULTS)
def test_a_failing_store_changes_no_trial_and_warns_once(monkeypatch, fault, runs):
    from sklearn.linear_model import Ridge

    X, y = np.arange(20.0).reshape(10, 2), np.arange(10.0)

    def objective(trial):
        x = trial.suggest_float("x", -4, 4)
        trial.report(x, 0)
        return Ridge(alpha=abs(x) + 0.1).fit(X, y).score(X, y) + x**2

    def run_study():
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
        study.optimize(objective, n_trials=4)  # n_jobs > 1 reseeds the sampler: not comparable
        return [(t.number, t.params["x"], t.value, t.state.name) for t in study.trials]

    expected = run_study()
    break_store(monkeypatch, fault)
    fittrace.autolog()
    assert_unchanged_with_one_warning(run_study, lambda got: assert_equal(got, expected))
    if fault == "down":
        assert runs() == []
    else:  # metrics failed; the trials' runs still hold their params and state, and ended
        trials = _children(runs, _parent(runs))
        assert [(t.data.params["x"], t.info.status) for t in trials] == [
            (str(x), "FINISHED") for _, x, _, _ in expected
        ]
        assert "tracking store unavailable" in _parent(runs).data.tags[tags.AUTOLOGGING_ERRORS]


def test_objective_and_callback_pickle_as_the_users_own(monkeypatch, runs):
    import pickle

    seen = {}
    real = optuna.study.study._optimize

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(optuna.study.study, "_optimize", spy)
    fittrace.optuna.autolog()
    user_callback = optuna.study.MaxTrialsCallback(50)
    optuna.create_study().optimize(_quadratic, n_trials=2, callbacks=[user_callback])
    assert pickle.loads(pickle.dumps(seen["func"])) is _quadratic
    shipped = pickle.loads(pickle.dumps(seen["callbacks"]))
    assert type(shipped[0]) is optuna.study.MaxTrialsCallback
    trial = optuna.create_study().ask()
    shipped[1](None, trial)  # a shipped recorder records nothing and raises nothing
    assert len(_children(runs, _parent(runs))) == 2
