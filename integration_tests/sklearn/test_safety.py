"""The safety contract with scikit-learn in the loop: faults, disabling, unpatching, threads, import cost."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import sklearn.metrics
from sklearn.linear_model import LogisticRegression

import fittrace
import fittrace.sklearn
from fittrace.autologging import AutologgingWarning
from fittrace.autologging import runs as autolog_runs
from fittrace.sklearn import _metrics, _post_training


def _bare_coef(X, y):
    return LogisticRegression(C=0.7).fit(X, y).coef_


def test_failing_recorder_leaves_the_fit_untouched(binary_data, monkeypatch, runs):
    X, y = binary_data
    expected = _bare_coef(X, y)
    monkeypatch.delenv("FITTRACE_TESTING")

    class Broken(autolog_runs.Recorder):
        def start_run(self, tags, nested):
            raise OSError("disk full")

    monkeypatch.setattr(autolog_runs, "recorder", Broken())
    fittrace.sklearn.autolog()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = LogisticRegression(C=0.7).fit(X, y)
        second = LogisticRegression(C=0.7).fit(X, y)
    np.testing.assert_array_equal(first.coef_, expected)
    np.testing.assert_array_equal(second.coef_, expected)
    ours = [w for w in caught if issubclass(w.category, AutologgingWarning)]
    assert len(ours) == 1 and "disk full" in str(ours[0].message)
    assert runs() == []


def test_failing_capture_keeps_fit_result_and_run_records_the_error(binary_data, monkeypatch, runs):
    X, y = binary_data
    expected = _bare_coef(X, y)
    monkeypatch.delenv("FITTRACE_TESTING")
    monkeypatch.setattr(_metrics, "training_metrics", lambda *a, **k: 1 / 0)
    fittrace.sklearn.autolog()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = LogisticRegression(C=0.7).fit(X, y)
        LogisticRegression(C=0.7).fit(X, y)
    np.testing.assert_array_equal(model.coef_, expected)
    assert len([w for w in caught if issubclass(w.category, AutologgingWarning)]) == 1
    for run in runs():
        assert run.info.status == "FINISHED"
        assert run.data.params["C"] == "0.7"
        assert "ZeroDivisionError" in run.data.tags["fittrace.autologging.errors"]


def test_failing_post_training_metric_returns_the_value(binary_data, monkeypatch):
    X, y = binary_data
    monkeypatch.delenv("FITTRACE_TESTING")
    fittrace.sklearn.autolog(log_models=False)
    model = LogisticRegression().fit(X, y)
    monkeypatch.setattr(_post_training, "log_metric", lambda *a, **k: 1 / 0)
    y_pred = model.predict(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = sklearn.metrics.accuracy_score(y, y_pred)
        again = sklearn.metrics.accuracy_score(y, y_pred)
    assert value == again == sklearn.metrics._classification.accuracy_score(y, y_pred)
    assert len([w for w in caught if issubclass(w.category, AutologgingWarning)]) == 1


def test_testing_mode_raises_autologging_errors(binary_data, monkeypatch):
    X, y = binary_data
    monkeypatch.setattr(_metrics, "training_metrics", lambda *a, **k: 1 / 0)
    fittrace.sklearn.autolog()
    with pytest.raises(fittrace.exceptions.AutologgingError):
        LogisticRegression().fit(X, y)


def test_disable_stops_recording_and_reenable_resumes(binary_data, runs):
    X, y = binary_data
    fittrace.sklearn.autolog(log_models=False)
    LogisticRegression().fit(X, y)
    fittrace.sklearn.autolog(disable=True)
    model = LogisticRegression().fit(X, y)
    sklearn.metrics.accuracy_score(y, model.predict(X))
    assert len(runs()) == 1
    fittrace.sklearn.autolog(log_models=False)
    LogisticRegression().fit(X, y)
    assert len(runs()) == 2


def test_unpatch_restores_every_patched_namespace(run_script):
    result = run_script(
        """
import sys
import sklearn, sklearn.base, sklearn.metrics, sklearn.pipeline
from sklearn.linear_model import LogisticRegression
from sklearn.cluster import KMeans
from sklearn.pipeline import Pipeline
from sklearn.datasets import make_classification
import fittrace.sklearn
from fittrace.autologging import unpatch
spaces = [LogisticRegression, KMeans, Pipeline, sklearn.base.BaseEstimator, sklearn.base.ClassifierMixin,
          sklearn.base.TransformerMixin, sklearn.base.ClusterMixin, sklearn.metrics]
spaces += [sys.modules[m] for m in ("sklearn.utils._repr_html.params",) if m in sys.modules]
before = [dict(vars(s)) for s in spaces]
X, y = make_classification(80, 4, random_state=0)
for _ in range(2):
    fittrace.sklearn.autolog(log_models=False)
    model = LogisticRegression().fit(X, y)
    model.score(X, y)
    sklearn.metrics.accuracy_score(y, model.predict(X))
    Pipeline([("km", KMeans(2, n_init=1))]).fit(X)
    class Late(LogisticRegression):
        def fit(self, X, y):
            return super().fit(X, y)
    Late().fit(X, y)
    assert type(vars(LogisticRegression)["fit"]).__name__ == "FittraceWrapper"
    unpatch()
    after = [dict(vars(s)) for s in spaces]
    assert all(a == b for a, b in zip(after, before)), [s for s, a, b in zip(spaces, after, before) if a != b]
    assert "fit" in vars(Late) and type(vars(Late)["fit"]).__name__ == "function"
print("pristine")
"""
    )
    assert result.stdout.strip().endswith("pristine")


def test_autolog_imports_no_extra_sklearn_modules(run_script):
    result = run_script(
        """
import sys, sklearn
before = {m for m in sys.modules if m.startswith("sklearn")}
import fittrace.sklearn
fittrace.sklearn.autolog()
after = {m for m in sys.modules if m.startswith("sklearn")}
print(sorted(after - before))
"""
    )
    assert result.stdout.strip() == "[]"


def test_concurrent_fits_in_two_threads_each_get_a_run(binary_data, runs):
    X, y = binary_data
    fittrace.sklearn.autolog(log_models=False)
    errors = []

    def work(c: float) -> None:
        try:
            for _ in range(3):
                LogisticRegression(C=c).fit(X, y)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in (0.5, 2.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    found = runs()
    assert sorted(r.data.params["C"] for r in found) == ["0.5"] * 3 + ["2.0"] * 3
    assert all(
        r.info.status == "FINISHED" and "fittrace.parentRunId" not in r.data.tags for r in found
    )
    assert all(r.data.metrics["training_accuracy_score"] > 0.5 for r in found)


def test_silent_suppresses_warnings(binary_data, monkeypatch):
    X, y = binary_data
    monkeypatch.delenv("FITTRACE_TESTING")
    monkeypatch.setattr(_metrics, "training_metrics", lambda *a, **k: 1 / 0)
    fittrace.sklearn.autolog(silent=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LogisticRegression().fit(X, y)
    assert [w for w in caught if issubclass(w.category, AutologgingWarning)] == []


def test_invalid_options_are_rejected():
    with pytest.raises(fittrace.exceptions.InvalidParameterError, match="max_tuning_runs"):
        fittrace.sklearn.autolog(max_tuning_runs=-1)
    with pytest.raises(fittrace.exceptions.InvalidParameterError, match="serialization_format"):
        fittrace.sklearn.autolog(serialization_format="json")
    with pytest.raises(TypeError, match="log_everything"):
        fittrace.sklearn.autolog(log_everything=True)
