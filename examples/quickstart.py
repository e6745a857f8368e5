"""Quickstart: train a scikit-learn model with autologging on, then show where the run went.

python -m pip install -e '.[sklearn]' && python examples/quickstart.py
"""

from __future__ import annotations

import fittrace

fittrace.autolog()  # before importing/training: every fit below is recorded

from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def main() -> None:
    fittrace.set_experiment("quickstart")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(X_train, y_train)
    accuracy_score(
        y_test, model.predict(X_test)
    )  # logged into the fit's run as accuracy_score_X_test

    run = fittrace.last_active_run()
    client = fittrace.MlflowClient()
    print(f"Tracking store : {fittrace.get_tracking_uri()}")
    print(f"Run            : {run.info.run_name} ({run.info.run_id}), status {run.info.status}")
    print(
        f"Params         : {len(run.data.params)} recorded, e.g. C={run.data.params.get('logisticregression__C')}"
    )
    for key in sorted(run.data.metrics):
        print(f"Metric         : {key} = {run.data.metrics[key]:.4f}")
    print(f"Artifacts      : {[f.path for f in client.list_artifacts(run.info.run_id)]}")
    print(f"Artifact folder: {run.info.artifact_uri}")

    reloaded = fittrace.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    same = (reloaded.predict(X_test) == model.predict(X_test)).all()
    print(f"Reloaded model : predictions identical = {bool(same)}")
    print("Browse runs    : fittrace runs -e quickstart   |   fittrace show", run.info.run_id)
    print("Web UI         : fittrace ui   (then open http://127.0.0.1:5000)")


if __name__ == "__main__":
    main()
