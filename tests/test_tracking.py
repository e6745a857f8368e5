"""Fluent API and Client behaviour: experiments, runs, metrics, tags, artifacts, search, system tags."""

from __future__ import annotations

import asyncio
import getpass
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading

import pytest
import yaml

import fittrace
from fittrace.entities import Metric, Param, RunTag
from fittrace.exceptions import FittraceError, InvalidParameterError, ResourceNotFoundError
from fittrace.testing import STORED_POINTS

POINTS = STORED_POINTS + " WHERE run_uuid = ?"

# -- experiments -----------------------------------------------------------------------


def test_default_experiment_exists_and_receives_runs():
    default = fittrace.get_experiment("0")
    assert default.name == "Default"
    assert fittrace.get_experiment_by_name("Default").experiment_id == "0"
    with fittrace.start_run() as run:
        pass
    assert run.info.experiment_id == "0"


def test_set_experiment_creates_on_first_use_and_reuses_after():
    assert fittrace.get_experiment_by_name("taxi-duration") is None
    created = fittrace.set_experiment("taxi-duration")
    assert created.name == "taxi-duration" and created.experiment_id != "0"
    again = fittrace.set_experiment("taxi-duration")
    assert again.experiment_id == created.experiment_id
    with fittrace.start_run() as run:
        pass
    assert run.info.experiment_id == created.experiment_id
    assert [e.name for e in fittrace.MlflowClient().search_experiments()] == [
        "Default",
        "taxi-duration",
    ]


def test_set_experiment_by_id_and_unknown_id():
    exp_id = fittrace.create_experiment("by-id")
    assert fittrace.set_experiment(experiment_id=exp_id).name == "by-id"
    with pytest.raises(ResourceNotFoundError, match="12345"):
        fittrace.set_experiment(experiment_id="12345")


def test_experiment_name_from_environment(monkeypatch):
    monkeypatch.setenv("FITTRACE_EXPERIMENT_NAME", "from-env")
    with fittrace.start_run() as run:
        pass
    assert fittrace.get_experiment(run.info.experiment_id).name == "from-env"


# -- runs ------------------------------------------------------------------------------


def test_random_readable_run_names():
    names = []
    for _ in range(5):
        with fittrace.start_run() as run:
            pass
        stored = fittrace.get_run(run.info.run_id)
        assert stored.info.run_name == stored.data.tags["fittrace.runName"]
        names.append(stored.info.run_name)
    assert all(re.fullmatch(r"[a-z]+-[a-z]+-\d{1,3}", n) for n in names), names
    assert len(set(names)) > 1


def test_nested_runs_record_parent_and_restore_the_outer_run():
    with fittrace.start_run(run_name="parent") as parent:
        with pytest.raises(FittraceError, match="already active"):
            fittrace.start_run()
        with fittrace.start_run(run_name="child", nested=True) as child:
            assert fittrace.active_run().info.run_id == child.info.run_id
            fittrace.log_metric("child_metric", 1.0)
        assert fittrace.active_run().info.run_id == parent.info.run_id
        fittrace.log_metric("parent_metric", 2.0)

    child_run = fittrace.get_run(child.info.run_id)
    parent_run = fittrace.get_run(parent.info.run_id)
    assert child_run.data.tags["fittrace.parentRunId"] == parent.info.run_id
    assert "fittrace.parentRunId" not in parent_run.data.tags
    assert child_run.data.metrics == {"child_metric": 1.0}
    assert parent_run.data.metrics == {"parent_metric": 2.0}
    children = fittrace.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'", output_format="list"
    )
    assert [r.info.run_id for r in children] == [child.info.run_id]


def test_description_becomes_note_tag():
    with fittrace.start_run(description="baseline on 2022-01 data") as run:
        pass
    assert (
        fittrace.get_run(run.info.run_id).data.tags["fittrace.note.content"]
        == "baseline on 2022-01 data"
    )


def test_resume_run_by_id_keeps_data_and_adds_more():
    with fittrace.start_run(run_name="resumable") as run:
        fittrace.log_param("lr", 0.1)
        fittrace.log_metric("loss", 1.0, step=0)
    run_id = run.info.run_id

    with fittrace.start_run(run_id=run_id) as resumed:
        assert resumed.info.run_id == run_id
        assert fittrace.get_run(run_id).info.status == "RUNNING"
        fittrace.log_param("lr", 0.1)  # same value again is fine
        fittrace.log_metric("loss", 0.5, step=1)

    stored = fittrace.get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.run_name == "resumable"
    assert stored.data.params == {"lr": "0.1"}
    assert [
        (m.step, m.value) for m in fittrace.MlflowClient().get_metric_history(run_id, "loss")
    ] == [(0, 1.0), (1, 0.5)]
    assert len(fittrace.search_runs(output_format="list")) == 1


def test_resume_unknown_run_id():
    with pytest.raises(ResourceNotFoundError, match="0123456789abcdef"):
        fittrace.start_run(run_id="0123456789abcdef")
    assert fittrace.active_run() is None


def test_set_tag_with_mlflow_run_name_renames_the_run():
    with fittrace.start_run(run_name="before") as run:
        fittrace.set_tag("mlflow.runName", "after")
    stored = fittrace.get_run(run.info.run_id)
    assert stored.info.run_name == "after"
    assert stored.data.tags["fittrace.runName"] == "after"


def test_active_run_and_last_active_run():
    assert fittrace.active_run() is None
    assert fittrace.last_active_run() is None
    run = fittrace.start_run()
    fittrace.log_metric("m", 3.0)
    assert fittrace.active_run().info.run_id == run.info.run_id
    live = fittrace.last_active_run()
    assert live.info.run_id == run.info.run_id and live.data.metrics == {"m": 3.0}
    fittrace.end_run()
    assert fittrace.active_run() is None
    last = fittrace.last_active_run()
    assert last.info.run_id == run.info.run_id and last.info.status == "FINISHED"


@pytest.mark.parametrize("status", ["FINISHED", "FAILED", "KILLED"])
def test_end_run_with_status(status):
    run = fittrace.start_run()
    fittrace.end_run(status=status)
    stored = fittrace.get_run(run.info.run_id)
    assert stored.info.status == status
    assert stored.info.end_time >= stored.info.start_time


def test_end_run_with_invalid_status_keeps_the_run_active():
    run = fittrace.start_run()
    with pytest.raises(InvalidParameterError, match="bogus"):
        fittrace.end_run(status="bogus")
    assert fittrace.get_run(run.info.run_id).info.status == "RUNNING"
    assert (
        fittrace.active_run() is not None and fittrace.active_run().info.run_id == run.info.run_id
    )
    fittrace.end_run()
    assert fittrace.get_run(run.info.run_id).info.status == "FINISHED"


def test_end_run_without_active_run_is_a_no_op():
    fittrace.end_run()
    assert fittrace.active_run() is None


def test_logging_without_active_run_starts_one():
    fittrace.log_param("p", "v")
    run = fittrace.active_run()
    assert run is not None
    fittrace.end_run()
    assert fittrace.get_run(run.info.run_id).data.params == {"p": "v"}


# -- params, metrics, tags -------------------------------------------------------------


def test_params_metrics_and_tags_in_bulk():
    with fittrace.start_run() as run:
        fittrace.log_params({"alpha": 0.5, "solver": "lbfgs", "layers": [64, 32]})
        fittrace.log_metrics({"acc": 0.9, "f1": 0.8}, step=3)
        fittrace.set_tags({"team": "ml", "priority": 1})
    stored = fittrace.get_run(run.info.run_id)
    assert stored.data.params == {"alpha": "0.5", "solver": "lbfgs", "layers": "[64, 32]"}
    assert stored.data.metrics == {"acc": 0.9, "f1": 0.8}
    assert stored.data.tags["team"] == "ml" and stored.data.tags["priority"] == "1"
    assert fittrace.MlflowClient().get_metric_history(run.info.run_id, "f1")[0].step == 3


def test_metrics_with_step_and_timestamp():
    with fittrace.start_run() as run:
        for step in range(5):
            fittrace.log_metric(
                "loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step
            )
    history = fittrace.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert history == [Metric("loss", 1.0 / (s + 1), 1_700_000_000_000 + s, s) for s in range(5)]


def test_metric_without_step_or_timestamp_gets_step_0_and_now():
    import time

    before = int(time.time() * 1000)
    with fittrace.start_run() as run:
        fittrace.log_metric("m", 1)
    after = int(time.time() * 1000)
    [metric] = fittrace.MlflowClient().get_metric_history(run.info.run_id, "m")
    assert metric.step == 0 and metric.value == 1.0 and isinstance(metric.value, float)
    assert before <= metric.timestamp <= after


def test_metric_history_is_ordered_by_step_and_latest_is_highest_step():
    with fittrace.start_run() as run:
        for step, value in [(3, 0.3), (1, 0.1), (2, 0.2), (0, 0.0)]:
            fittrace.log_metric("acc", value, step=step)
    client = fittrace.MlflowClient()
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "acc")] == [
        (0, 0.0),
        (1, 0.1),
        (2, 0.2),
        (3, 0.3),
    ]
    assert client.get_run(run.info.run_id).data.metrics["acc"] == 0.3
    assert client.get_metric_history(run.info.run_id, "missing") == []


def test_nan_and_infinities_round_trip():
    values = {
        "nan": math.nan,
        "pos_inf": math.inf,
        "neg_inf": -math.inf,
        "tiny": 5e-324,
        "big": 1.7976931348623157e308,
    }
    with fittrace.start_run() as run:
        for key, value in values.items():
            fittrace.log_metric(key, value, step=1)
    client = fittrace.MlflowClient()
    stored = client.get_run(run.info.run_id).data.metrics
    assert math.isnan(stored["nan"])
    assert stored["pos_inf"] == math.inf and stored["neg_inf"] == -math.inf
    assert stored["tiny"] == 5e-324 and stored["big"] == 1.7976931348623157e308
    [nan_point] = client.get_metric_history(run.info.run_id, "nan")
    assert math.isnan(nan_point.value) and nan_point.step == 1
    assert client.get_metric_history(run.info.run_id, "neg_inf")[0].value == -math.inf


def test_client_log_batch_and_explicit_run_lifecycle():
    client = fittrace.MlflowClient()
    run = client.create_run("0", run_name="explicit", tags={"origin": "client"})
    assert run.info.status == "RUNNING" and run.data.tags["origin"] == "client"
    client.log_batch(
        run.info.run_id,
        metrics=[Metric("m", 1.5, 1_000, 2)],
        params=[Param("p", "1")],
        tags=[RunTag("t", "x")],
    )
    client.set_terminated(run.info.run_id)
    stored = client.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.metrics == {"m": 1.5}
    assert stored.data.params == {"p": "1"}
    assert stored.data.tags["t"] == "x"
    assert client.get_metric_history(run.info.run_id, "m") == [Metric("m", 1.5, 1_000, 2)]


def test_buffered_writes_are_visible_after_flush(sql):
    with fittrace.start_run() as run:
        for i in range(50):
            fittrace.log_metric("m", i, step=i)
        fittrace.flush()
        assert sql(POINTS, (run.info.run_id,)) == [(50,)]


def test_sync_mode_persists_before_the_call_returns(monkeypatch, sql):
    monkeypatch.setenv("FITTRACE_SYNC", "1")
    with fittrace.start_run() as run:
        fittrace.log_metric("m", 1.0)
        fittrace.log_param("p", "v")
        assert sql(POINTS, (run.info.run_id,)) == [(1,)]
        assert sql("SELECT value FROM params WHERE run_uuid = ?", (run.info.run_id,)) == [("v",)]


# -- artifacts from the fluent API -----------------------------------------------------


def _download(run_id, path):
    return fittrace.MlflowClient().download_artifacts(run_id, path, "dl")


def test_log_dict_as_json_and_yaml():
    config = {"model": {"depth": 6, "lr": 0.1}, "features": ["a", "b"]}
    with fittrace.start_run() as run:
        fittrace.log_dict(config, "config.json")
        fittrace.log_dict(config, "conf/config.yaml")
    with open(_download(run.info.run_id, "config.json")) as f:
        assert json.load(f) == config
    with open(_download(run.info.run_id, "conf/config.yaml")) as f:
        assert yaml.safe_load(f) == config


def test_log_text():
    text = "accuracy: 0.93\nnotes: ünïcödé ✓\n"
    with fittrace.start_run() as run:
        fittrace.log_text(text, "reports/summary.txt")
    with open(_download(run.info.run_id, "reports/summary.txt"), encoding="utf-8") as f:
        assert f.read() == text


def test_log_figure_with_matplotlib():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2])
    with fittrace.start_run() as run:
        fittrace.log_figure(fig, "plots/curve.png")
    plt.close(fig)
    with open(_download(run.info.run_id, "plots/curve.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_log_figure_rejects_other_objects():
    with fittrace.start_run():
        with pytest.raises(InvalidParameterError, match="dict"):
            fittrace.log_figure({"not": "a figure"}, "x.png")


def test_log_artifacts_directory_tree():
    os.makedirs("out/sub")
    with open("out/a.txt", "w") as f:
        f.write("A")
    with open("out/sub/b.txt", "w") as f:
        f.write("BB")
    with fittrace.start_run() as run:
        fittrace.log_artifacts("out", artifact_path="results")
        fittrace.log_artifacts("out")
    client = fittrace.MlflowClient()
    run_id = run.info.run_id
    assert [(i.path, i.is_dir) for i in client.list_artifacts(run_id)] == [
        ("a.txt", False),
        ("results", True),
        ("sub", True),
    ]
    assert [(i.path, i.file_size) for i in client.list_artifacts(run_id, "results/sub")] == [
        ("results/sub/b.txt", 2)
    ]
    local = client.download_artifacts(run_id, "results", "dl")
    with open(os.path.join(local, "sub", "b.txt")) as f:
        assert f.read() == "BB"


def test_get_artifact_uri_points_into_the_runs_artifacts():
    with fittrace.start_run() as run:
        fittrace.log_text("x", "dir/file.txt")
        uri = fittrace.get_artifact_uri()
        assert fittrace.get_artifact_uri("dir/file.txt") == f"{uri}/dir/file.txt"
    assert uri == fittrace.get_run(run.info.run_id).info.artifact_uri
    assert os.path.isfile(os.path.join(uri.removeprefix("file://"), "dir", "file.txt"))


# -- system tags -----------------------------------------------------------------------

_SYSTEM_TAGS_SCRIPT = """
import fittrace
with fittrace.start_run() as run:
    pass
print(run.info.run_id)
"""


def _run_tags(run_python, **kwargs):
    result = run_python(_SYSTEM_TAGS_SCRIPT, **kwargs)
    assert result.returncode == 0, result.stderr
    return fittrace.get_run(result.stdout.split()[-1]).data.tags


def test_system_tags_user_and_source(tmp_path, run_python):
    tags = _run_tags(run_python, name="train.py")
    assert tags["fittrace.user"] == getpass.getuser()
    assert tags["fittrace.source.name"] == str(tmp_path / "train.py")


@pytest.mark.parametrize(
    "variables", [{"LOGNAME": "ada", "USER": "grace"}, {"USERNAME": "ada"}, {}]
)
def test_the_user_is_whom_getpass_names(variables):
    names = ("LOGNAME", "USER", "LNAME", "USERNAME")
    env = {k: v for k, v in os.environ.items() if k not in names}
    code = (
        "import getpass\nfrom fittrace.tracking import context\n"
        "try:\n    expected = getpass.getuser()\nexcept Exception:\n    expected = 'unknown'\n"
        "print(context.user(), expected)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env={**env, **variables}, capture_output=True, text=True
    )
    ours, getpass_s = result.stdout.split()
    assert ours == getpass_s
    if variables:
        assert ours == "ada"


def test_no_git_commit_tag_outside_a_repository(tmp_path, run_python):
    outside = (
        subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True)
        if shutil.which("git")
        else None
    )
    if outside is not None and outside.returncode == 0:
        pytest.skip("the temporary directory is inside a git repository")
    assert "fittrace.source.git.commit" not in _run_tags(run_python)


# -- search ----------------------------------------------------------------------------


def _three_runs():
    ids = []
    for name, rmse, alpha in [("a", 3.0, "0.1"), ("b", 1.0, "0.5"), ("c", 2.0, "0.1")]:
        with fittrace.start_run(run_name=name) as run:
            fittrace.log_metric("rmse", rmse)
            fittrace.log_param("alpha", alpha)
            fittrace.set_tag("model", "xgboost" if name != "b" else "linear")
        ids.append(run.info.run_id)
    return ids


def test_search_runs_returns_a_dataframe_with_prefixed_columns():
    pytest.importorskip("pandas")
    a, b, c = _three_runs()
    frame = fittrace.search_runs()
    assert {
        "run_id",
        "status",
        "metrics.rmse",
        "params.alpha",
        "tags.model",
        "tags.mlflow.runName",
    } <= set(frame.columns)
    assert len(frame) == 3
    by_id = frame.set_index("run_id")
    assert by_id.loc[b, "metrics.rmse"] == 1.0
    assert by_id.loc[a, "params.alpha"] == "0.1"
    assert by_id.loc[c, "tags.model"] == "xgboost"
    assert set(by_id["status"]) == {"FINISHED"}


def test_search_runs_filter_order_and_max_results():
    a, b, c = _three_runs()
    runs = fittrace.search_runs(
        filter_string="metrics.rmse < 5 and params.alpha = '0.1'",
        order_by=["metrics.rmse ASC"],
        output_format="list",
    )
    assert [r.info.run_id for r in runs] == [c, a]
    assert all(isinstance(r, fittrace.entities.Run) for r in runs)
    ordered = fittrace.search_runs(
        order_by=["metrics.rmse DESC"], max_results=2, output_format="list"
    )
    assert [r.info.run_id for r in ordered] == [a, c]
    named = fittrace.search_runs(filter_string="run_name LIKE 'b%'", output_format="list")
    assert [r.info.run_id for r in named] == [b]


def test_search_runs_by_experiment_names_and_ids():
    fittrace.set_experiment("first")
    with fittrace.start_run() as first:
        pass
    second_exp = fittrace.set_experiment("second")
    with fittrace.start_run() as second:
        pass
    found = fittrace.search_runs(experiment_names=["first"], output_format="list")
    assert [r.info.run_id for r in found] == [first.info.run_id]
    found = fittrace.search_runs(experiment_ids=[second_exp.experiment_id], output_format="list")
    assert [r.info.run_id for r in found] == [second.info.run_id]
    both = fittrace.search_runs(experiment_names=["first", "second"], output_format="list")
    assert {r.info.run_id for r in both} == {first.info.run_id, second.info.run_id}
    with pytest.raises(ResourceNotFoundError, match="nope"):
        fittrace.search_runs(experiment_names=["nope"])


def test_search_runs_with_no_match_and_bad_output_format():
    _three_runs()
    assert fittrace.search_runs(filter_string="tags.model = 'none'", output_format="list") == []
    assert len(fittrace.search_runs(filter_string="tags.model = 'none'")) == 0
    with pytest.raises(InvalidParameterError, match="csv"):
        fittrace.search_runs(output_format="csv")


# -- active run per thread and per asyncio task ----------------------------------------


def test_each_thread_has_its_own_active_run():
    barrier = threading.Barrier(2)
    seen, errors = {}, []

    def work(name):
        try:
            with fittrace.start_run(run_name=name) as run:
                barrier.wait(timeout=10)
                fittrace.log_param("worker", name)
                barrier.wait(timeout=10)
                seen[name] = (run.info.run_id, fittrace.active_run().info.run_id)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("t1", "t2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert fittrace.active_run() is None
    for name, (run_id, active_id) in seen.items():
        assert run_id == active_id
        assert fittrace.get_run(run_id).data.params == {"worker": name}


def test_each_asyncio_task_has_its_own_active_run():
    async def work(name):
        with fittrace.start_run(run_name=name) as run:
            for step in range(3):
                fittrace.log_metric("step_of_" + name, step, step=step)
                await asyncio.sleep(0)
                assert fittrace.active_run().info.run_id == run.info.run_id
        return run.info.run_id

    async def main():
        return await asyncio.gather(work("one"), work("two"))

    one, two = asyncio.run(main())
    assert one != two
    assert set(fittrace.get_run(one).data.metrics) == {"step_of_one"}
    assert set(fittrace.get_run(two).data.metrics) == {"step_of_two"}
    assert fittrace.active_run() is None


def test_search_runs_pages_with_tokens_like_mlflow():
    client = fittrace.MlflowClient()
    for i in range(25):
        with fittrace.start_run(run_name=f"r{i}"):
            fittrace.log_metric("i", i)
    pages, token = [], None
    while True:
        page = client.search_runs(["0"], "metrics.i >= 0", max_results=10, page_token=token)
        pages.append([r.info.run_name for r in page])
        token = page.token
        if token is None:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    exact = client.search_runs(["0"], max_results=25)
    assert len(exact) == 25 and exact.token is None
    names = [name for p in pages for name in p]
    assert names == [r.info.run_name for r in exact]  # the one order, cut in pages, none twice
    assert sorted(names) == sorted(f"r{i}" for i in range(25))
    with pytest.raises(InvalidParameterError, match="page_token"):
        client.search_runs(["0"], page_token="not-a-token")
    with pytest.raises(InvalidParameterError, match="max_results"):
        client.search_runs(["0"], max_results=0)


@pytest.mark.parametrize(
    ("direction", "expected"),
    [("DESC", [5, 2, 0, 4, 6, 3, 1]), ("ASC", [4, 0, 5, 2, 6, 3, 1])],
)
def test_ordering_by_a_metric_pages_through_valued_runs_then_missing_and_nan(direction, expected):
    client = fittrace.MlflowClient()
    experiment_id = client.create_experiment("ordered")
    accs = [0.5, math.nan, 0.9, None, 0.1, 0.9, None]  # ties: newest first; NaN as missing
    names = []
    for i, acc in enumerate(accs):
        run = client.create_run(experiment_id, start_time=1_700_000_000_000 + i, run_name=f"r{i}")
        if acc is not None:
            client.log_metric(run.info.run_id, "acc", acc)
        names.append(run.info.run_name)
    seen, token = [], None
    while True:  # pages of 2 cross from the runs with a value to those without
        page = client.search_runs(
            [experiment_id], order_by=[f"metrics.acc {direction}"], max_results=2, page_token=token
        )
        seen += [r.info.run_name for r in page]
        token = page.token
        if not token:
            break
    assert seen == [f"r{i}" for i in expected]
