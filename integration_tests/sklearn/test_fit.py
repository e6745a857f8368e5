"""One autologged fit, as a user checks it: run, params, tags, metrics, artifacts, dataset, model."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_html_repr

import fittrace
import fittrace.sklearn
from fittrace.tracking.client import Client


def _training_metrics(run) -> dict[str, float]:
    """The training metrics (the test's own sklearn.metrics calls add post-training ones)."""
    return {k: v for k, v in run.data.metrics.items() if k.startswith("training_")}


def _classifier_metrics(model, X, y, weight=None) -> dict[str, float]:
    """The training metrics scikit-learn itself computes for a classifier (weighted averages)."""
    y_pred, proba = model.predict(X), model.predict_proba(X)
    return {
        "training_accuracy_score": skm.accuracy_score(y, y_pred, sample_weight=weight),
        "training_precision_score": skm.precision_score(
            y, y_pred, average="weighted", sample_weight=weight
        ),
        "training_recall_score": skm.recall_score(
            y, y_pred, average="weighted", sample_weight=weight
        ),
        "training_f1_score": skm.f1_score(y, y_pred, average="weighted", sample_weight=weight),
        "training_log_loss": skm.log_loss(y, proba, sample_weight=weight),
        "training_score": model.score(X, y, sample_weight=weight),
    }


def _only_run(runs):
    found = runs()
    assert len(found) == 1, [r.data.tags.get("estimator_name") for r in found]
    return found[0]


def test_classifier_run_has_params_tags_and_sklearn_equal_metrics(runs, binary_data):
    X, y = binary_data
    fittrace.sklearn.autolog()
    model = LogisticRegression(C=0.5, max_iter=300).fit(X, y)

    run = _only_run(runs)
    assert run.info.status == "FINISHED"
    assert run.data.tags["fittrace.autologging"] == "sklearn"
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.data.params == {k: str(v) for k, v in model.get_params(deep=True).items()}

    expected = {
        **_classifier_metrics(model, X, y),
        "training_roc_auc": skm.roc_auc_score(y, model.predict_proba(X)[:, 1]),
    }
    assert _training_metrics(run) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("labels", ["ints", "strings"])
def test_multiclass_metrics_with_sample_weight_equal_sklearn(runs, multiclass_data, labels):
    X, y = multiclass_data
    if labels == "strings":
        y = np.array(["cat", "dog", "eel"])[y]
    weight = np.random.default_rng(0).uniform(0.2, 3.0, size=len(y))
    fittrace.sklearn.autolog()
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(
        X, y, sample_weight=weight
    )

    metrics = _training_metrics(_only_run(runs))
    # scikit-learn has no weighted one-vs-one multiclass ROC AUC, so none is logged
    assert metrics == pytest.approx(_classifier_metrics(model, X, y, weight), rel=1e-12)


def test_pos_label_gives_binary_precision_recall_f1(runs, binary_data):
    X, y = binary_data
    fittrace.sklearn.autolog(pos_label=0)
    model = LogisticRegression().fit(X, y)
    metrics = _only_run(runs).data.metrics
    y_pred = model.predict(X)
    assert metrics["training_precision_score"] == pytest.approx(
        skm.precision_score(y, y_pred, pos_label=0)
    )
    assert metrics["training_recall_score"] == pytest.approx(
        skm.recall_score(y, y_pred, pos_label=0)
    )
    assert metrics["training_f1_score"] == pytest.approx(skm.f1_score(y, y_pred, pos_label=0))


def test_regressor_metrics_equal_sklearn(runs, regression_data):
    X, y = regression_data
    weight = np.linspace(0.5, 2.0, len(y))
    fittrace.sklearn.autolog()
    model = LinearRegression().fit(X, y, sample_weight=weight)
    y_pred = model.predict(X)
    mse = skm.mean_squared_error(y, y_pred, sample_weight=weight)
    assert _training_metrics(_only_run(runs)) == pytest.approx(
        {
            "training_mean_squared_error": mse,
            "training_root_mean_squared_error": np.sqrt(mse),
            "training_mean_absolute_error": skm.mean_absolute_error(
                y, y_pred, sample_weight=weight
            ),
            "training_r2_score": skm.r2_score(y, y_pred, sample_weight=weight),
            "training_score": model.score(X, y, sample_weight=weight),
        },
        rel=1e-12,
    )


def test_clusterer_fit_predict_and_transformer_fit_transform(runs, binary_data):
    X, _ = binary_data
    fittrace.sklearn.autolog()
    kmeans = KMeans(n_clusters=3, n_init=2, random_state=0)
    labels = kmeans.fit_predict(X)
    projected = PCA(n_components=2).fit_transform(X)

    first, second = runs()
    assert [r.data.tags["estimator_name"] for r in (first, second)] == ["KMeans", "PCA"]
    assert first.data.params["n_clusters"] == "3"
    assert first.data.metrics == {} and second.data.metrics == {}  # no labels, no metrics
    assert len(labels) == len(X) and projected.shape == (len(X), 2)
    info = fittrace.models.Model.load(Client().download_artifacts(second.info.run_id, "model"))
    assert info.signature.outputs.to_dict()[0]["tensor-spec"]["shape"] == [-1, 2]


def test_data_preparation_alone_is_not_a_run(runs, binary_data):
    X, y = binary_data
    fittrace.sklearn.autolog()
    StandardScaler().fit_transform(X)
    skm.precision_score(y, y, average="weighted")  # fits a LabelEncoder inside
    assert runs() == []


def test_artifacts_hold_evaluation_data_and_estimator_html(runs, artifact_text, binary_data):
    X, y = binary_data
    fittrace.sklearn.autolog(log_plots=False)  # the PNGs: test_plots_by_default_and_opt_out
    model = LogisticRegression().fit(X, y)
    run = _only_run(runs)
    names = {f.path for f in Client().list_artifacts(run.info.run_id)}
    assert names == {
        "model",
        "estimator.html",
        "training_confusion_matrix.json",
        "training_roc_curve.json",
        "training_precision_recall_curve.json",
    }
    y_pred, scores = model.predict(X), model.predict_proba(X)[:, 1]
    confusion = json.loads(artifact_text(run.info.run_id, "training_confusion_matrix.json"))
    assert confusion["labels"] == [0, 1]
    assert confusion["matrix"] == skm.confusion_matrix(y, y_pred).tolist()

    roc = json.loads(artifact_text(run.info.run_id, "training_roc_curve.json"))
    fpr, tpr, thresholds = skm.roc_curve(y, scores)  # small data: every point, rounded
    assert roc["auc"] == pytest.approx(skm.roc_auc_score(y, scores))
    assert roc["fpr"] == pytest.approx(fpr.tolist(), abs=1e-5)
    assert roc["tpr"] == pytest.approx(tpr.tolist(), abs=1e-5)
    assert roc["thresholds"][0] is None  # +inf, which JSON cannot spell
    assert roc["thresholds"][1:] == pytest.approx(thresholds[1:].tolist(), abs=1e-5)

    pr = json.loads(artifact_text(run.info.run_id, "training_precision_recall_curve.json"))
    precision, recall, _ = skm.precision_recall_curve(y, scores, drop_intermediate=True)
    assert pr["precision"] == pytest.approx(precision.tolist(), abs=1e-5)
    assert pr["recall"] == pytest.approx(recall.tolist(), abs=1e-5)

    html = artifact_text(run.info.run_id, "estimator.html")
    fittrace.autologging.unpatch()  # scikit-learn's own rendering, without any fittrace patch
    expected = estimator_html_repr(model)
    assert html.startswith("<!DOCTYPE html>")
    assert _without_ids(expected) in _without_ids(html)


def _html_on_disk(run) -> str:
    """estimator.html as the store holds it (read from disk: the Client's reads wait for it)."""
    return (Path(run.info.artifact_uri) / "estimator.html").read_text(encoding="utf-8")


def test_estimator_html_shows_the_estimator_as_fitted_when_changed_right_after(binary_data):
    """estimator.html is drawn after fit returns, from the logged model: a set_params right
    after does not show in it, and it is on disk once the user's run has ended."""
    X, y = binary_data
    fittrace.sklearn.autolog(log_plots=False)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5))
    with fittrace.start_run() as run:
        model.fit(X, y)
        model.set_params(logisticregression__C=7.0, standardscaler__with_mean=False)
    html = _html_on_disk(run)
    fittrace.autologging.unpatch()
    as_fitted = make_pipeline(StandardScaler(), LogisticRegression(C=0.5)).fit(X, y)
    assert _without_ids(estimator_html_repr(as_fitted)) in _without_ids(html)
    assert _without_ids(estimator_html_repr(model)) not in _without_ids(html)


def test_artifacts_written_after_fit_are_on_disk_when_the_interpreter_has_exited(run_script, runs):
    """estimator.html and the plots, written after fit returns, are complete when a script ends."""
    run_script(
        """
        import fittrace.sklearn
        from sklearn.datasets import make_classification
        from sklearn.linear_model import LogisticRegression

        X, y = make_classification(n_samples=100, n_features=4, random_state=0)
        fittrace.sklearn.autolog()
        model = LogisticRegression(C=0.25).fit(X, y)
        model.C = 9.0  # changed right after fit, then the script ends
        """
    )
    run = _only_run(runs)
    html = _html_on_disk(run)
    assert "0.25" in html and "9.0" not in html
    if importlib.util.find_spec("matplotlib") is not None:
        png = Path(run.info.artifact_uri) / "training_roc_curve.png"
        assert png.read_bytes().startswith(b"\x89PNG")


def test_environment_recorded_after_the_fit_is_seen_by_reads_right_after(binary_data, monkeypatch):
    """The environment capture runs once the fit has returned; reading the run waits for it."""
    monkeypatch.setenv("FITTRACE_LOG_PROVENANCE", "true")
    fittrace.sklearn.autolog(log_plots=False, log_models=False)
    LogisticRegression().fit(*binary_data)
    [found] = Client().search_runs(["0"])
    assert found.data.tags["mlflow.cpu.count"] == str(os.cpu_count())
    LogisticRegression(C=2.0).fit(*binary_data)
    run = fittrace.last_active_run()
    assert run.data.params["C"] == "2.0"
    assert run.data.tags["mlflow.cpu.count"] == str(os.cpu_count())
    LogisticRegression(C=3.0).fit(*binary_data)
    fittrace.flush()  # then the store itself holds them, for any other reader
    stored = Client()._store.search_runs(["0"], max_results=10)
    assert [r.data.tags.get("mlflow.cpu.count") for r in stored] == [str(os.cpu_count())] * 3


def _without_ids(html: str) -> str:
    """scikit-learn numbers the elements of each rendering: drop those numbers."""
    import re

    return re.sub(r"(sk-[a-z-]*id-)\w+", r"\1", html)


def test_plots_by_default_and_opt_out(runs, binary_data, multiclass_data):
    """MLflow's PNG names, drawn where matplotlib is installed (off the fit); log_plots=False: none."""
    pytest.importorskip("matplotlib")
    X, y = binary_data
    fittrace.sklearn.autolog()
    LogisticRegression().fit(X, y)
    LogisticRegression().fit(*multiclass_data)
    fittrace.sklearn.autolog(log_plots=False)
    LogisticRegression().fit(X, y)

    binary, multiclass, without = (
        {f.path for f in Client().list_artifacts(run.info.run_id) if f.path.endswith(".png")}
        for run in runs()
    )
    names = ("confusion_matrix", "roc_curve", "precision_recall_curve")
    assert binary == {f"training_{name}.png" for name in names}
    assert multiclass == {"training_confusion_matrix.png"}  # curves are for binary labels
    assert without == set()
    local = Client().download_artifacts(runs()[0].info.run_id, "training_roc_curve.png")
    with open(local, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    if hasattr(os, "getpriority"):  # the helper draws at a lower priority than the training
        from fittrace.autologging import figures

        helper = figures._worker.process.pid
        assert os.getpriority(os.PRIO_PROCESS, helper) > os.getpriority(os.PRIO_PROCESS, 0)


def test_model_reloads_with_identical_predictions_and_signature(runs, binary_data):
    X, y = binary_data
    fittrace.sklearn.autolog(log_input_examples=True, registered_model_name="churn")
    model = LogisticRegression().fit(X, y)
    run = _only_run(runs)

    loaded = fittrace.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))

    info = fittrace.models.Model.load(Client().download_artifacts(run.info.run_id, "model"))
    assert info.signature is not None
    assert info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == [-1, 6]
    assert info.saved_input_example_info is not None
    assert fittrace.MlflowClient().get_model_version("churn", "1").run_id == run.info.run_id


def test_log_models_and_datasets_false_log_neither(runs, binary_data):
    X, y = binary_data
    fittrace.sklearn.autolog(log_models=False, log_datasets=False)
    LogisticRegression().fit(X, y)
    run = _only_run(runs)
    names = {f.path for f in Client().list_artifacts(run.info.run_id)}
    assert "model" not in names and "estimator.html" in names  # drawn during the fit instead
    assert run.inputs.dataset_inputs == []
    assert "training_accuracy_score" in run.data.metrics


def test_dataset_input_named_after_variable_with_shape_and_digest(runs, binary_data):
    X_train, y_train = binary_data
    fittrace.sklearn.autolog()
    LogisticRegression().fit(X_train, y_train)
    LogisticRegression(C=2.0).fit(X_train.copy(), y_train)
    X_changed = X_train.copy()
    X_changed[0, 0] += 1.0
    LogisticRegression().fit(X_changed, y_train)

    first, second, third = (r.inputs.dataset_inputs for r in runs())
    assert [d.name for d in first] == ["X_train"]
    assert first[0].context == "train"
    profile = json.loads(first[0].profile)
    assert profile["features_shape"] == [300, 6] and profile["targets_shape"] == [300]
    assert second[0].digest == first[0].digest  # same content, another array
    assert third[0].digest != first[0].digest and third[0].name == "X_changed"


def test_dataset_logging_does_not_copy_or_densify(runs, monkeypatch):
    import scipy.sparse as sp

    X = sp.random(400, 50, density=0.05, format="csr", random_state=0)
    y = np.arange(400) % 2
    monkeypatch.setattr(
        sp.csr_matrix, "toarray", lambda *a, **k: pytest.fail("densified"), raising=False
    )
    monkeypatch.setattr(
        sp.csr_array, "toarray", lambda *a, **k: pytest.fail("densified"), raising=False
    )
    fittrace.sklearn.autolog(log_models=False)
    LogisticRegression().fit(X, y)
    (dataset,) = _only_run(runs).inputs.dataset_inputs
    features = json.loads(json.loads(dataset.schema)["mlflow_tensorspec"]["features"])
    assert features == [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 50]}}]
    assert json.loads(dataset.profile)["features_shape"] == [400, 50]


def test_pandas_training_data(runs):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"age": np.arange(60) % 40, "score": np.linspace(0, 1, 60)})
    target = pd.Series(np.arange(60) % 2, name="label")
    fittrace.sklearn.autolog(log_input_examples=True)
    model = LogisticRegression().fit(frame, target)
    run = _only_run(runs)
    assert json.loads(run.inputs.dataset_inputs[0].schema) == {  # MLflow's layout
        "mlflow_colspec": [
            {"type": "long", "name": "age", "required": True},
            {"type": "double", "name": "score", "required": True},
        ]
    }
    loaded = fittrace.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(np.asarray(loaded.predict(frame)), model.predict(frame))


def test_user_estimator_defined_after_autolog_is_recorded(runs, binary_data):
    from sklearn.base import BaseEstimator, ClassifierMixin

    X, y = binary_data
    fittrace.sklearn.autolog()

    class MajorityClassifier(ClassifierMixin, BaseEstimator):
        def __init__(self, strategy="majority"):
            self.strategy = strategy

        def fit(self, X, y):
            values, counts = np.unique(y, return_counts=True)
            self.classes_ = values
            self.majority_ = values[np.argmax(counts)]
            return self

        def predict(self, X):
            return np.full(len(X), self.majority_)

    class Shifted(LogisticRegression):  # inherits fit from an already patched class
        pass

    model = MajorityClassifier().fit(X, y)
    Shifted(C=3.0).fit(X, y)
    first, second = runs()
    assert first.data.tags["estimator_name"] == "MajorityClassifier"
    assert first.data.params == {"strategy": "majority"}
    assert first.data.metrics["training_accuracy_score"] == pytest.approx(
        skm.accuracy_score(y, model.predict(X))
    )
    assert second.data.tags["estimator_name"] == "Shifted" and second.data.params["C"] == "3.0"


def test_long_param_values_are_truncated_to_the_store_limit(runs, binary_data):
    from sklearn.base import BaseEstimator, ClassifierMixin

    X, y = binary_data
    fittrace.sklearn.autolog(log_models=False)

    class Verbose(ClassifierMixin, BaseEstimator):
        def __init__(self, note="x" * 9000):
            self.note = note

        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):
            return np.full(len(X), self.classes_[0])

    Verbose().fit(X, y)
    note = _only_run(runs).data.params["note"]
    assert len(note) == 6000 and note.endswith("...")


def test_failed_fit_ends_run_failed_with_params(runs, binary_data):
    X, y = binary_data
    fittrace.sklearn.autolog()
    with pytest.raises(ValueError):
        LogisticRegression(C=-1.0).fit(X, y)
    run = _only_run(runs)
    assert run.info.status == "FAILED"
    assert run.data.params["C"] == "-1.0"


def test_extra_tags_and_repeated_fits_make_separate_runs(runs, binary_data):
    X, y = binary_data
    fittrace.sklearn.autolog(extra_tags={"team": "fraud"}, log_models=False)
    for c in (0.1, 1.0):
        LogisticRegression(C=c).fit(X, y)
    found = runs()
    assert [r.data.params["C"] for r in found] == ["0.1", "1.0"]
    assert all(r.data.tags["team"] == "fraud" for r in found)


def test_large_data_is_evaluated_in_chunks_with_the_same_metrics(runs, monkeypatch):
    from fittrace.sklearn import _metrics

    pd = pytest.importorskip("pandas")
    monkeypatch.setattr(_metrics, "MIN_CHUNK_ROWS", 64)
    monkeypatch.setattr(_metrics, "MAX_CHUNK_ROWS", 64)
    X, y = make_classification_frame(pd)
    weight = np.linspace(0.1, 2.0, len(y))
    fittrace.sklearn.autolog(log_models=False)
    model = LogisticRegression().fit(X, y, sample_weight=weight)
    metrics = _training_metrics(_only_run(runs))
    y_proba = model.predict_proba(X)[:, 1]
    expected = {
        **_classifier_metrics(model, X, y, weight),
        "training_roc_auc": skm.roc_auc_score(y, y_proba, sample_weight=weight),
    }
    assert metrics == pytest.approx(expected, rel=1e-12)


def make_classification_frame(pd):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=1000, n_features=4, random_state=3)
    return pd.DataFrame(X, columns=["a", "b", "c", "d"]), pd.Series(np.array(["no", "yes"])[y])


def test_training_data_is_never_deep_copied(runs, binary_data, monkeypatch):
    import copy

    X, y = binary_data
    real_deepcopy = copy.deepcopy

    def guarded(obj, *args, **kwargs):
        assert obj is not X and obj is not y, "training data deep-copied"
        return real_deepcopy(obj, *args, **kwargs)

    monkeypatch.setattr(copy, "deepcopy", guarded)
    fittrace.sklearn.autolog(log_input_examples=True)
    LogisticRegression().fit(X, y)
    assert _only_run(runs).info.status == "FINISHED"
