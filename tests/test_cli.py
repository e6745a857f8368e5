"""The ``fittrace`` command line, run in-process with main([...]) and once as a real subprocess."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

import fittrace
from fittrace.cli import main


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, str]:
    """Two experiments, three runs (one FAILED, one with a NaN metric), artifacts in a subdirectory."""
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 2048)
    fittrace.set_experiment("demo")
    with fittrace.start_run(run_name="good") as good:
        fittrace.log_params({"alpha": "0.1", "depth": 3})
        for step, value in enumerate([0.9, 0.5, 0.3]):
            fittrace.log_metric("rmse", value, step=step)
        fittrace.log_metric("acc", 0.95)
        fittrace.set_tag("model", "xgboost")
        fittrace.log_text("MLmodel body", "model/MLmodel")
        fittrace.log_artifact(str(tmp_path / "weights.bin"), "model/data")
        fittrace.log_text("hello", "notes.txt")
    time.sleep(0.002)  # distinct start times, so "newest first" is well defined
    with pytest.raises(RuntimeError), fittrace.start_run(run_name="bad") as bad:
        fittrace.log_param("alpha", "0.2")
        fittrace.log_metric("rmse", 0.8)
        fittrace.log_metric("acc", math.nan)
        raise RuntimeError("diverged")
    time.sleep(0.002)
    fittrace.set_experiment("other")
    with fittrace.start_run(run_name="solo") as solo:
        fittrace.log_metric("loss", 1.5)
    fittrace.flush()
    return {"good": good.info.run_id, "bad": bad.info.run_id, "solo": solo.info.run_id}


def table(out: str) -> list[list[str]]:
    """Rows of a printed table (header included), split on runs of 2+ spaces."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in out.strip().splitlines()]


def test_experiments_lists_names_locations_and_run_counts(capsys, runs, tmp_path):
    code, out, err = cli(capsys, "experiments")
    assert (code, err) == (0, "")
    rows = {row[1]: row for row in table(out)[1:]}
    assert table(out)[0] == ["ID", "NAME", "ARTIFACT LOCATION", "RUNS"]
    assert rows["demo"][3] == "2" and rows["other"][3] == "1"
    assert rows["demo"][2].startswith(str(tmp_path))

    code, out, _ = cli(capsys, "experiments", "--json")
    by_name = {e["name"]: e for e in json.loads(out)}
    assert by_name["demo"]["runs"] == 2 and by_name["other"]["runs"] == 1


def test_runs_lists_every_experiment_with_key_metrics(capsys, runs):
    code, out, err = cli(capsys, "runs")
    assert (code, err) == (0, "")
    header, *rows = table(out)
    assert header[:6] == ["RUN ID", "NAME", "EXPERIMENT", "STATUS", "START", "DURATION"]
    assert "rmse" in header and "acc" in header
    by_name = {row[1]: dict(zip(header, row, strict=False)) for row in rows}
    assert set(by_name) == {"good", "bad", "solo"}
    assert by_name["good"]["RUN ID"] == runs["good"]
    assert by_name["good"]["rmse"] == "0.3" and by_name["good"]["acc"] == "0.95"
    assert by_name["bad"]["STATUS"] == "FAILED" and by_name["bad"]["acc"] == "nan"
    assert by_name["solo"]["EXPERIMENT"] == "other"
    assert [row[1] for row in rows] == ["solo", "bad", "good"]  # newest first


def test_runs_filter_order_and_limit(capsys, runs):
    code, out, _ = cli(
        capsys, "runs", "-e", "demo", "--filter", "metrics.rmse < 0.5 AND params.alpha = '0.1'"
    )
    assert code == 0
    assert [row[1] for row in table(out)[1:]] == ["good"]
    assert "EXPERIMENT" not in table(out)[0]

    code, out, _ = cli(capsys, "runs", "-e", "demo", "--order-by", "metrics.rmse DESC")
    assert [row[1] for row in table(out)[1:]] == ["bad", "good"]

    code, out, _ = cli(capsys, "runs", "--order-by", "metrics.rmse", "--max-results", "1")
    assert [row[1] for row in table(out)[1:]] == ["good"]

    code, out, _ = cli(capsys, "runs", "--filter", "tags.model = 'lightgbm'")
    assert (code, out.strip()) == (0, "No runs found.")


def test_runs_by_experiment_id_and_metric_columns(capsys, runs):
    other_id = fittrace.get_experiment_by_name("other").experiment_id
    code, out, _ = cli(capsys, "runs", "-e", other_id, "--metric", "loss")
    header, *rows = table(out)
    assert header[-1] == "loss"
    assert [(row[1], row[-1]) for row in rows] == [("solo", "1.5")]


def test_runs_json_is_machine_readable(capsys, runs):
    code, out, _ = cli(capsys, "runs", "-e", "demo", "--json")
    assert code == 0
    by_name = {r["info"]["run_name"]: r for r in json.loads(out)}
    assert by_name["good"]["data"]["params"] == {"alpha": "0.1", "depth": "3"}
    assert by_name["good"]["data"]["metrics"] == {"rmse": 0.3, "acc": 0.95}
    assert by_name["good"]["data"]["tags"]["model"] == "xgboost"
    assert by_name["bad"]["data"]["metrics"]["acc"] == "NaN"  # strict JSON, no bare NaN
    assert by_name["bad"]["info"]["status"] == "FAILED"


def test_show_prints_params_metrics_tags_and_artifacts(capsys, runs):
    code, out, err = cli(capsys, "show", runs["good"])
    assert (code, err) == (0, "")
    assert out.startswith(f"Run {runs['good']} (good)")
    lines = [line.split() for line in out.splitlines()]
    assert any(line[:2] == ["experiment", "demo"] for line in lines)
    assert ["status", "FINISHED"] in lines
    assert ["alpha", "0.1"] in lines and ["depth", "3"] in lines
    assert ["rmse", "0.3"] in lines and ["acc", "0.95"] in lines
    assert ["model", "xgboost"] in lines
    assert ["model/"] in lines and ["model/MLmodel", "12", "B"] in lines
    assert ["model/data/weights.bin", "2.0", "KiB"] in lines and ["notes.txt", "5", "B"] in lines

    code, out, _ = cli(capsys, "show", runs["good"], "--json")
    shown = json.loads(out)
    assert shown["info"]["run_id"] == runs["good"]
    assert shown["data"]["metrics"]["rmse"] == 0.3
    files = {a["path"]: a for a in shown["artifacts"]}
    assert files["model/data/weights.bin"]["file_size"] == 2048
    assert files["model/data"]["is_dir"] is True


def test_artifacts_list_and_download(capsys, runs, tmp_path):
    code, out, _ = cli(capsys, "artifacts", "list", runs["good"], "model")
    assert code == 0
    assert table(out)[0] == ["PATH", "SIZE"]
    assert sorted(row[0] for row in table(out)[1:]) == [
        "model/MLmodel",
        "model/data/",
        "model/data/weights.bin",
    ]

    code, out, err = cli(capsys, "artifacts", "download", runs["good"], "-d", str(tmp_path / "all"))
    assert (code, err) == (0, "")
    local = Path(out.strip())
    assert (local / "model" / "MLmodel").read_text() == "MLmodel body"
    assert (local / "model" / "data" / "weights.bin").read_bytes() == b"\x00" * 2048

    code, out, _ = cli(
        capsys, "artifacts", "download", runs["good"], "notes.txt", "-d", str(tmp_path / "one")
    )
    assert code == 0
    assert Path(out.strip()).read_text() == "hello"

    code, out, _ = cli(
        capsys, "artifacts", "download", runs["good"], "model/MLmodel"
    )  # into a temp dir
    assert Path(out.strip()).read_text() == "MLmodel body"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "0123456789abcdef"], "0123456789abcdef"),
        (["runs", "-e", "no-such-experiment"], "no-such-experiment"),
        (["runs", "--filter", "metrics.rmse << 1"], "unexpected token '<<' at position 13"),
        (["runs", "--order-by", "metrics.rmse SIDEWAYS"], "SIDEWAYS"),
        (["runs", "--max-results", "0"], "--max-results"),
        (["runs", "--bogus"], "--bogus"),
        (["artifacts", "download", "0123456789abcdef"], "0123456789abcdef"),
        (["models", "alias", "set", "m", "champion", "one"], "one"),
        (["frobnicate"], "frobnicate"),
        ([], "COMMAND"),
    ],
)
def test_errors_are_one_line_on_stderr_with_exit_code_2(capsys, runs, argv, message):
    code, out, err = cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("fittrace: error: ") and err.count("\n") == 1
    assert message in err


def test_missing_store_is_an_error_and_is_not_created(capsys, tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "runs.db"
    code, out, err = cli(capsys, "--tracking-uri", f"sqlite:///{missing}", "experiments")
    assert code == 2 and out == ""
    assert "No tracking store" in err and str(missing) in err
    assert not missing.parent.exists()

    monkeypatch.delenv(
        "FITTRACE_TRACKING_URI"
    )  # default: ./fitruns/fittrace.db, which does not exist
    code, _, err = cli(capsys, "runs")
    assert code == 2 and "fitruns" in err
    assert not (tmp_path / "fitruns").exists()


def test_default_store_comes_from_the_environment(
    capsys, runs, tmp_path, monkeypatch, tracking_uri
):
    other = tmp_path / "second.db"
    fittrace.set_tracking_uri(f"sqlite:///{other}")
    fittrace.set_experiment("elsewhere")
    with fittrace.start_run(run_name="far"):
        pass
    fittrace.set_tracking_uri(None)

    code, out, _ = cli(capsys, "runs")  # FITTRACE_TRACKING_URI -> the fixture's store
    assert {row[1] for row in table(out)[1:]} == {"good", "bad", "solo"}
    monkeypatch.setenv("FITTRACE_TRACKING_URI", f"sqlite:///{other}")
    code, out, _ = cli(capsys, "runs")
    assert [row[1] for row in table(out)[1:]] == ["far"]
    code, out, _ = cli(capsys, "--tracking-uri", tracking_uri, "runs")
    assert {row[1] for row in table(out)[1:]} == {"good", "bad", "solo"}


def test_help_exits_zero(capsys):
    code, out, _ = cli(capsys, "--help")
    assert code == 0 and "experiments" in out and "runs" in out


def test_python_dash_m_subprocess(runs, tracking_uri, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fittrace.cli",
            "runs",
            "--json",
            "--filter",
            "params.alpha = '0.2'",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "FITTRACE_TRACKING_URI": tracking_uri},
    )
    assert result.returncode == 0, result.stderr
    assert [r["info"]["run_id"] for r in json.loads(result.stdout)] == [runs["bad"]]

    result = subprocess.run(
        [sys.executable, "-m", "fittrace.cli", "show", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "FITTRACE_TRACKING_URI": tracking_uri},
    )
    assert result.returncode == 2 and "No run with id 'nope'" in result.stderr


def test_run_delegates_to_the_autolog_launcher(capsys, monkeypatch, tmp_path):
    import importlib

    calls = []
    launcher = types.ModuleType("fittrace.autologging.launcher")
    launcher.main = lambda argv: calls.append((argv, os.environ["FITTRACE_TRACKING_URI"])) or 7
    package = importlib.import_module("fittrace.autologging")
    monkeypatch.setitem(sys.modules, "fittrace.autologging.launcher", launcher)
    monkeypatch.setattr(package, "launcher", launcher, raising=False)
    monkeypatch.setenv("FITTRACE_TRACKING_URI", "sqlite:///unused.db")

    code, _, _ = cli(
        capsys,
        "--tracking-uri",
        "sqlite:///x.db",
        "run",
        "--",
        "python",
        "train.py",
        "--epochs",
        "3",
    )
    assert code == 7
    assert calls == [(["python", "train.py", "--epochs", "3"], "sqlite:///x.db")]
    code, _, _ = cli(capsys, "run", "python", "-m", "train", "-h")
    assert calls[-1][0] == ["python", "-m", "train", "-h"]


def test_models_versions_and_aliases(capsys, runs):
    client = fittrace.MlflowClient()
    client.create_registered_model("fraud")
    for run in ("good", "bad"):
        client.create_model_version("fraud", f"runs:/{runs[run]}/model", run_id=runs[run])

    code, out, _ = cli(capsys, "models")
    assert code == 0
    header, *rows = table(out)
    assert header[:2] == ["NAME", "LATEST"] and rows[0][:2] == ["fraud", "2"]

    code, out, _ = cli(capsys, "models", "alias", "set", "fraud", "champion", "1")
    assert code == 0 and "champion" in out
    code, out, _ = cli(capsys, "models", "versions", "fraud", "--json")
    versions = {v["version"]: v for v in json.loads(out)}
    assert versions[1]["aliases"] == ["champion"] and versions[1]["run_id"] == runs["good"]
    assert versions[2]["run_id"] == runs["bad"]

    code, out, _ = cli(capsys, "models", "versions", "fraud")
    header, *rows = table(out)
    assert header[:2] == ["VERSION", "ALIASES"]
    assert [row[0] for row in rows] == ["2", "1"]  # newest first
    assert rows[1][1] == "champion" and runs["good"] in rows[1]

    code, _, _ = cli(capsys, "models", "alias", "delete", "fraud", "champion")
    assert code == 0
    code, out, _ = cli(capsys, "models", "versions", "fraud", "--json")
    assert all(v["aliases"] == [] for v in json.loads(out))

    code, _, err = cli(capsys, "models", "versions", "no-such-model")
    assert code == 2 and "no-such-model" in err
