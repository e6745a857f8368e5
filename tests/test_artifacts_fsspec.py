"""Artifacts on an fsspec URL (the in-memory filesystem stands in for s3:// or gs://)."""

from __future__ import annotations

from pathlib import Path

import pytest

import fittrace
from fittrace.exceptions import InvalidParameterError
from fittrace.tracking import stores

fsspec = pytest.importorskip("fsspec")


@pytest.fixture()
def remote_root(monkeypatch: pytest.MonkeyPatch) -> str:
    root = "memory://fittrace-test/runs"
    fs = fsspec.filesystem("memory")
    if fs.exists("/fittrace-test"):
        fs.rm("/fittrace-test", recursive=True)
    monkeypatch.setenv("FITTRACE_ARTIFACT_ROOT", root)
    stores._open.clear()
    return root


def test_run_artifacts_live_under_the_remote_root(remote_root: str, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("alpha")
    (tmp_path / "data" / "sub").mkdir()
    (tmp_path / "data" / "sub" / "b.txt").write_text("beta")
    fittrace.set_experiment("remote")
    with fittrace.start_run() as run:
        fittrace.log_artifacts(str(tmp_path / "data"), artifact_path="inputs")
        fittrace.log_text("hello", "notes/readme.md")
        fittrace.log_dict({"k": 1}, "config.json")

    assert run.info.artifact_uri.startswith(remote_root)
    client = fittrace.MlflowClient()
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == [
        "config.json",
        "inputs",
        "notes",
    ]
    assert [f.path for f in client.list_artifacts(run.info.run_id, "inputs")] == [
        "inputs/a.txt",
        "inputs/sub",
    ]
    local = fittrace.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="inputs", dst_path=str(tmp_path / "out")
    )
    assert Path(local, "sub", "b.txt").read_text() == "beta"
    one = client.download_artifacts(run.info.run_id, "notes/readme.md", str(tmp_path / "one"))
    assert Path(one).read_text() == "hello"


def test_remote_paths_cannot_escape_the_run(remote_root: str) -> None:
    with fittrace.start_run():
        with pytest.raises(InvalidParameterError, match=r"\.\."):
            fittrace.log_text("x", "../other-run/evil.txt")
    assert not fsspec.filesystem("memory").exists("/fittrace-test/runs/0/other-run")
