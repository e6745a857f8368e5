"""Post-training metrics: sklearn.metrics and model.score on an autologged model's predictions."""

from __future__ import annotations

import json

import pytest
import sklearn.metrics
from sklearn.linear_model import LogisticRegression, Ridge

import fittrace
import fittrace.sklearn
from fittrace.tracking.client import Client


def _split(data):
    X, y = data
    return X[:200], X[200:], y[:200], y[200:]


def _metrics(run_id: str) -> dict[str, float]:
    return {
        k: v
        for k, v in Client().get_run(run_id).data.metrics.items()
        if not k.startswith("training_")
    }


def test_metric_calls_log_into_the_models_run_named_after_the_dataset(binary_data, artifact_text):
    X_train, X_test, y_train, y_test = _split(binary_data)
    fittrace.sklearn.autolog(log_models=False)
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    model = LogisticRegression().fit(X_train, y_train)
    run_id = fittrace.last_active_run().info.run_id
    y_pred = model.predict(X_test)
    proba = model.predict_proba(X_test)
    accuracy = accuracy_score(y_test, y_pred)
    f1 = f1_score(y_true=y_test, y_pred=y_pred)
    auc = roc_auc_score(y_test, proba[:, 1])  # a slice is not the registered object: not logged
    auc_full = sklearn.metrics.log_loss(y_test, proba)
    score = model.score(X_test, y_test)

    assert _metrics(run_id) == pytest.approx(
        {
            "accuracy_score_X_test": accuracy,
            "f1_score_X_test": f1,
            "log_loss_X_test": auc_full,
            "LogisticRegression_score_X_test": score,
        }
    )
    assert auc > 0.5
    info = json.loads(artifact_text(run_id, "metric_info.json"))
    assert info["accuracy_score_X_test"] == "accuracy_score(y_true=y_test, y_pred=y_pred)"
    assert info["f1_score_X_test"] == "f1_score(y_true=y_test, y_pred=y_pred)"
    assert info["LogisticRegression_score_X_test"] == "LogisticRegression.score(X=X_test, y=y_test)"


def test_repeated_calls_are_numbered_and_datasets_told_apart(binary_data):
    X_train, X_test, y_train, y_test = _split(binary_data)
    fittrace.sklearn.autolog(log_models=False)
    model = Ridge().fit(X_train, y_train)
    run_id = fittrace.last_active_run().info.run_id

    def evaluate(m, data, target):  # a helper: the caller's names are used
        return sklearn.metrics.mean_squared_error(target, m.predict(data))

    first = evaluate(model, X_test, y_test)
    second = sklearn.metrics.mean_squared_error(y_test, model.predict(X_test))
    X_valid = X_test[:50]
    third = sklearn.metrics.mean_squared_error(y_test[:50], model.predict(X_valid))
    X_test = X_train.copy()  # another object under the same name
    fourth = sklearn.metrics.mean_squared_error(y_train, model.predict(X_test))

    assert _metrics(run_id) == pytest.approx(
        {
            "mean_squared_error_X_test": first,
            "mean_squared_error-2_X_test": second,
            "mean_squared_error-3_X_valid": third,
            "mean_squared_error-4_X_test-2": fourth,
        }
    )


def test_models_not_autologged_and_option_off_log_nothing(binary_data, runs):
    X_train, X_test, y_train, y_test = _split(binary_data)
    plain = LogisticRegression().fit(X_train, y_train)
    fittrace.sklearn.autolog(log_models=False, log_post_training_metrics=False)
    model = LogisticRegression().fit(X_train, y_train)
    sklearn.metrics.accuracy_score(y_test, model.predict(X_test))
    model.score(X_test, y_test)
    fittrace.sklearn.autolog(log_models=False)
    sklearn.metrics.accuracy_score(y_test, plain.predict(X_test))
    (run,) = runs()
    assert _metrics(run.info.run_id) == {}


def test_each_thread_logs_into_its_own_models_run(binary_data, runs):
    import threading

    X_train, X_test, y_train, y_test = _split(binary_data)
    fittrace.sklearn.autolog(log_models=False)
    results = {}

    def work(c: float) -> None:
        model = LogisticRegression(C=c).fit(X_train, y_train)
        y_hat = model.predict(X_test)
        results[c] = sklearn.metrics.accuracy_score(y_test, y_hat)

    threads = [threading.Thread(target=work, args=(c,)) for c in (0.001, 10.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    found = runs()
    assert sorted(r.data.params["C"] for r in found) == ["0.001", "10.0"]
    for run in found:
        assert _metrics(run.info.run_id) == pytest.approx(
            {"accuracy_score_X_test": results[float(run.data.params["C"])]}
        )
        assert run.data.metrics["training_accuracy_score"] > 0.5


PICKLING = """
import pickle, subprocess, sys
import cloudpickle
{before}
import fittrace.sklearn
fittrace.sklearn.autolog(log_models=False)
import sklearn.metrics
{after}
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV
from sklearn.linear_model import LogisticRegression
from sklearn.datasets import make_classification
X, y = make_classification(60, 4, random_state=0)
search = GridSearchCV(LogisticRegression(), {{"C": [0.1, 1.0]}}, cv=2, scoring=make_scorer(f1_score)).fit(X, y)
objects = {{"function": accuracy_score, "scorer": make_scorer(accuracy_score), "search": search,
           "namespace": sklearn.metrics.precision_score}}
for lib in (pickle, cloudpickle):
    data = lib.dumps(objects)
    assert lib.loads(data).keys() == objects.keys()
    # a fresh interpreter without fittrace loads them too
    check = "import pickle, sys; print(sorted(pickle.loads(sys.stdin.buffer.read())))"
    out = subprocess.run([sys.executable, "-c", check], input=data, capture_output=True)
    assert out.returncode == 0, (lib.__name__, out.stderr.decode()[-2000:])
fittrace.autologging.unpatch()
for name, obj in objects.items():
    pickle.loads(pickle.dumps(obj))
assert sklearn.metrics.accuracy_score is sklearn.metrics._classification.accuracy_score
print("ok")
"""


@pytest.mark.parametrize("imported", ["before_autolog", "after_autolog"])
def test_metric_functions_pickle_whatever_the_import_order(run_script, imported):
    line = "from sklearn.metrics import accuracy_score, f1_score"
    code = PICKLING.format(
        before=line if imported == "before_autolog" else "",
        after=line if imported == "after_autolog" else "",
    )
    assert run_script(code).stdout.strip().endswith("ok")


def test_stand_ins_behave_like_the_functions(binary_data):
    import copy
    import inspect

    fittrace.sklearn.autolog(log_models=False)
    stand_in = sklearn.metrics.accuracy_score
    original = sklearn.metrics._classification.accuracy_score
    assert stand_in is not original
    assert stand_in.__name__ == "accuracy_score" and stand_in.__doc__ == original.__doc__
    assert inspect.signature(stand_in) == inspect.signature(original)
    assert copy.deepcopy(stand_in) is stand_in
    assert stand_in([1, 0, 1], [1, 1, 1]) == original([1, 0, 1], [1, 1, 1])

    class Holder:
        metric = staticmethod(sklearn.metrics.accuracy_score)

    assert Holder().metric([1], [1]) == 1.0
