"""Meta-estimators and helpers: searches, pipelines, cross-validation, parallel jobs, tuner loops."""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import fittrace
import fittrace.sklearn
from fittrace.tracking.client import Client

GRID = {"C": [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]}


def _parent_and_children(found):
    parents = [r for r in found if "fittrace.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in found if r.data.tags.get("fittrace.parentRunId") == parent.info.run_id]
    assert len(children) == len(found) - 1
    return parent, children


def test_grid_search_parent_and_top_child_runs(runs, artifact_text, binary_data):
    X, y = binary_data
    fittrace.sklearn.autolog()
    search = GridSearchCV(LogisticRegression(), GRID, cv=3).fit(X, y)

    parent, children = _parent_and_children(runs())
    assert parent.data.tags["estimator_name"] == "GridSearchCV"
    assert parent.data.params["best_C"] == str(search.best_params_["C"])
    assert parent.data.params["cv"] == "3" and "estimator__C" not in parent.data.params
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    artifacts = {f.path for f in Client().list_artifacts(parent.info.run_id)}
    assert {"model", "best_estimator", "cv_results.csv", "estimator.html"} <= artifacts

    rows = list(csv.DictReader(io.StringIO(artifact_text(parent.info.run_id, "cv_results.csv"))))
    assert len(rows) == len(GRID["C"])
    assert [float(r["mean_test_score"]) for r in rows] == pytest.approx(
        list(search.cv_results_["mean_test_score"])
    )

    assert len(children) == 5
    ranks = search.cv_results_["rank_test_score"]
    best_five = {str(GRID["C"][i]) for i in np.argsort(ranks, kind="stable")[:5]}
    assert {c.data.params["C"] for c in children} == best_five
    for child in children:
        i = GRID["C"].index(float(child.data.params["C"]))
        assert child.data.tags["estimator_name"] == "LogisticRegression"
        assert child.data.tags["fittrace.autologging"] == "sklearn"
        assert child.data.params["max_iter"] == "100"
        assert child.data.metrics["mean_test_score"] == pytest.approx(
            search.cv_results_["mean_test_score"][i]
        )
        assert child.data.metrics["std_test_score"] == pytest.approx(
            search.cv_results_["std_test_score"][i]
        )
        assert child.data.metrics["mean_fit_time"] == pytest.approx(
            search.cv_results_["mean_fit_time"][i]
        )
        assert child.info.status == "FINISHED"

    best = fittrace.sklearn.load_model(f"runs:/{parent.info.run_id}/best_estimator")
    np.testing.assert_array_equal(best.predict(X), search.best_estimator_.predict(X))


@pytest.mark.parametrize("max_tuning_runs, expected", [(None, 6), (0, 0), (2, 2)])
def test_max_tuning_runs(runs, binary_data, max_tuning_runs, expected):
    X, y = binary_data
    fittrace.sklearn.autolog(max_tuning_runs=max_tuning_runs, log_models=False)
    GridSearchCV(LogisticRegression(), GRID, cv=2).fit(X, y)
    _, children = _parent_and_children(runs())
    assert len(children) == expected


def test_randomized_and_multimetric_search(runs, binary_data):
    X, y = binary_data
    fittrace.sklearn.autolog(log_models=False)
    search = RandomizedSearchCV(
        SVC(),
        {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.1]},
        n_iter=4,
        cv=2,
        random_state=0,
        scoring=["accuracy", "f1"],
        refit="f1",
    ).fit(X, y)
    parent, children = _parent_and_children(runs())
    assert parent.data.params["best_gamma"] == str(search.best_params_["gamma"])
    assert len(children) == 4
    assert all(
        {"mean_test_accuracy", "mean_test_f1", "rank_test_f1"} <= set(c.data.metrics)
        for c in children
    )


def test_halving_search(runs, binary_data):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    X, y = binary_data
    fittrace.sklearn.autolog(log_models=False, max_tuning_runs=None)
    search = HalvingGridSearchCV(LogisticRegression(), GRID, cv=2, random_state=0).fit(X, y)
    parent, children = _parent_and_children(runs())
    assert parent.data.tags["estimator_name"] == "HalvingGridSearchCV"
    assert len(children) == len(search.cv_results_["params"])
    assert {"iter", "n_resources"} <= set(children[0].data.metrics)


def test_pipeline_is_one_run_with_every_step_param(runs, binary_data):
    X, y = binary_data
    fittrace.sklearn.autolog()
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=0.3))]).fit(X, y)

    (run,) = runs()
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert run.data.params["scale__with_mean"] == "True" and run.data.params["clf__C"] == "0.3"
    assert run.data.metrics["training_accuracy_score"] == pytest.approx(pipe.score(X, y))
    loaded = fittrace.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    # patching keeps scikit-learn's available_if methods honest
    assert not hasattr(Pipeline([("clf", SVC())]).fit(X, y), "predict_proba")


def test_cross_validation_helpers_record_no_runs(runs, binary_data):
    from sklearn.model_selection import (
        cross_val_predict,
        cross_val_score,
        cross_validate,
        learning_curve,
    )

    X, y = binary_data
    fittrace.sklearn.autolog()
    cross_val_score(LogisticRegression(), X, y, cv=3)
    cross_validate(LogisticRegression(), X, y, cv=3, return_estimator=True)
    cross_val_predict(LogisticRegression(), X, y, cv=3)
    learning_curve(LogisticRegression(), X, y, cv=3, train_sizes=[0.5, 1.0])
    assert runs() == []


@pytest.mark.parametrize("order", ["import_first", "autolog_first"])
def test_cross_val_score_records_nothing_whatever_the_import_order(run_script, order):
    imports = "from sklearn.model_selection import cross_val_score\nfrom sklearn.linear_model import LogisticRegression\n"
    enable = "import fittrace.sklearn\nfittrace.sklearn.autolog()\n"
    body = imports + enable if order == "import_first" else enable + imports
    result = run_script(
        body
        + """
from sklearn.datasets import make_classification
import fittrace
X, y = make_classification(120, 4, random_state=0)
cross_val_score(LogisticRegression(), X, y, cv=3)
LogisticRegression().fit(X, y)
print(len(fittrace.search_runs(output_format="list")))
"""
    )
    assert result.stdout.split()[-1] == "1"


def test_parallel_search_with_loky_workers_that_inherit_autolog(run_script, tmp_path):
    """Workers started with FITTRACE_AUTOLOG in their environment record nothing; the parent records once."""
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "sitecustomize.py").write_text(
        "import os\nif os.environ.get('FITTRACE_AUTOLOG'):\n    import fittrace.auto  # as the wheel's .pth does\n"
    )
    result = run_script(
        """
import os
from joblib import Parallel, delayed
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
import fittrace

X, y = make_classification(200, 5, random_state=0)
GridSearchCV(LogisticRegression(), {"C": [0.01, 0.1, 1.0, 10.0]}, cv=3, n_jobs=2).fit(X, y)
found = fittrace.search_runs(output_format="list")
parents = [r for r in found if "fittrace.parentRunId" not in r.data.tags]
print(len(found), len(parents), parents[0].data.tags["estimator_name"])

# control: a user's own parallel fits do run in workers that have autologging on
def fit_one(c):
    LogisticRegression(C=c).fit(X, y)
    return os.getpid()
pids = Parallel(n_jobs=2)(delayed(fit_one)(c) for c in (0.5, 2.0))
fittrace.flush()
print(len(fittrace.search_runs(output_format="list")) - len(found), os.getpid() in pids)
""",
        env={
            "FITTRACE_AUTOLOG": "sklearn",
            "FITTRACE_AUTOLOG_LOG_MODELS": "false",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(boot), os.environ.get("PYTHONPATH")])),
        },
    )
    first, second = result.stdout.strip().splitlines()[-2:]
    assert first.split() == [
        "5",
        "1",
        "GridSearchCV",
    ]  # parent + 4 candidates, nothing from workers
    assert second.split() == ["2", "False"]


def test_repeated_fits_in_a_user_run_become_child_runs(runs, binary_data):
    X, y = binary_data
    fittrace.sklearn.autolog(log_models=False)
    with fittrace.start_run(run_name="tuning") as parent:
        for c in (0.1, 1.0, 10.0):
            LogisticRegression(C=c).fit(X, y)
    found = runs()
    assert len(found) == 3
    user_run = next(r for r in found if r.info.run_id == parent.info.run_id)
    children = [r for r in found if r.data.tags.get("fittrace.parentRunId") == parent.info.run_id]
    assert user_run.data.params["C"] == "0.1"
    assert sorted(c.data.params["C"] for c in children) == ["1.0", "10.0"]
    assert all(r.info.status == "FINISHED" for r in found)


def test_exclusive_leaves_user_runs_alone(runs, binary_data):
    X, y = binary_data
    fittrace.sklearn.autolog(exclusive=True)
    with fittrace.start_run() as run:
        LogisticRegression().fit(X, y)
    (only,) = runs()
    assert only.info.run_id == run.info.run_id and only.data.params == {}
