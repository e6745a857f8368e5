"""Artifacts: logging, listing, downloading, and confinement of every path to the run's artifact root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fittrace
from fittrace.exceptions import InvalidParameterError, ResourceNotFoundError

TRAVERSALS = [
    "../x",
    "..",
    "/etc",
    "/tmp/evil",
    "a/../../b",
    "a/../..",
    "..\\..\\win",
    "C:\\evil",
    "ok/\x00null",
]


def _files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.fixture
def run_and_file(tmp_path):
    """An active run, a small local file to log, and a snapshot of the files around the run."""
    source = tmp_path / "payload.txt"
    source.write_text("payload")
    run = fittrace.start_run()
    root = Path(run.info.artifact_uri.removeprefix("file://"))
    root.mkdir(parents=True, exist_ok=True)
    yield run, source, root
    fittrace.end_run()


@pytest.mark.parametrize("bad", TRAVERSALS)
def test_path_traversal_is_rejected_and_nothing_is_written(bad, run_and_file, tmp_path):
    run, source, root = run_and_file
    before = _files_under(tmp_path)
    client = fittrace.MlflowClient()
    attempts = [
        lambda: fittrace.log_artifact(str(source), artifact_path=bad),
        lambda: fittrace.log_artifacts(str(tmp_path / "fitruns"), artifact_path=bad),
        lambda: fittrace.log_text("escaped", bad + "/escaped.txt"),
        lambda: fittrace.log_text("escaped", bad),
        lambda: fittrace.log_dict({"escaped": True}, bad + "/escaped.json"),
        lambda: client.list_artifacts(run.info.run_id, bad),
        lambda: client.download_artifacts(run.info.run_id, bad, str(tmp_path / "dl")),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidParameterError):
            attempt()
    assert _files_under(tmp_path) == before
    assert not Path("/etc/escaped.txt").exists() and not Path("/tmp/evil").exists()


def test_traversal_error_names_the_path(run_and_file):
    _, source, _ = run_and_file
    with pytest.raises(InvalidParameterError, match=r"'a/\.\./\.\./b'.*\.\."):
        fittrace.log_artifact(str(source), artifact_path="a/../../b")
    with pytest.raises(InvalidParameterError, match="'/etc'.*absolute"):
        fittrace.log_artifact(str(source), artifact_path="/etc")


def test_symlink_inside_the_artifact_dir_cannot_escape(run_and_file, tmp_path):
    run, source, root = run_and_file
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file_link.txt").symlink_to(outside / "secret.txt")
    client = fittrace.MlflowClient()

    attempts = [
        lambda: fittrace.log_artifact(str(source), artifact_path="link"),
        lambda: fittrace.log_artifact(str(source), artifact_path="link/deeper"),
        lambda: fittrace.log_text("pwned", "link/pwned.txt"),
        lambda: fittrace.log_text("pwned", "file_link.txt"),
        lambda: fittrace.log_dict({"pwned": 1}, "link/pwned.json"),
        lambda: client.list_artifacts(run.info.run_id, "link"),
        lambda: client.download_artifacts(run.info.run_id, "link", str(tmp_path / "dl")),
        lambda: client.download_artifacts(run.info.run_id, "link/secret.txt", str(tmp_path / "dl")),
        lambda: client.download_artifacts(run.info.run_id, "file_link.txt", str(tmp_path / "dl")),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidParameterError, match="outside"):
            attempt()
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"
    assert not _files_under(tmp_path / "dl")


def test_copying_onto_a_symlink_in_the_artifact_dir_cannot_escape(run_and_file, tmp_path):
    """The destination *file or directory* of a copy may itself be a planted symlink."""
    run, _, root = run_and_file
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "secret.txt").symlink_to(outside / "secret.txt")
    local = tmp_path / "local"
    (local / "link").mkdir(parents=True)
    (local / "link" / "pwned.txt").write_text("pwned")
    (local / "secret.txt").write_text("overwritten")

    for attempt in (
        lambda: fittrace.log_artifact(str(local / "secret.txt")),
        lambda: fittrace.log_artifacts(str(local)),
    ):
        with pytest.raises(InvalidParameterError, match="outside"):
            attempt()
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"


def test_downloading_a_folder_never_follows_a_symlink_out(run_and_file, tmp_path):
    """A planted link below the downloaded folder must not copy files from outside the run."""
    run, _, root = run_and_file
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (root / "sub").mkdir()
    (root / "sub" / "ok.txt").write_text("ok")
    (root / "sub" / "link").symlink_to(outside, target_is_directory=True)
    (root / "sub" / "file_link.txt").symlink_to(outside / "secret.txt")
    client = fittrace.MlflowClient()
    for path in ("", "sub"):
        dst = tmp_path / f"dl-{path or 'all'}"
        try:
            client.download_artifacts(run.info.run_id, path, str(dst))
        except InvalidParameterError:
            pass
        leaked = [p for p in dst.rglob("*") if p.is_file() and p.read_text() == "secret"]
        assert leaked == [], leaked


def test_artifact_root_itself_symlinked_elsewhere_is_still_usable(tmp_path):
    """A symlink *above* the run's artifacts (e.g. a mounted volume) is not an escape."""
    real = tmp_path / "real_artifacts"
    real.mkdir()
    (tmp_path / "fitruns").mkdir(exist_ok=True)
    os.symlink(real, tmp_path / "fitruns" / "artifacts")
    with fittrace.start_run() as run:
        fittrace.log_text("inside", "dir/ok.txt")
    assert [i.path for i in fittrace.MlflowClient().list_artifacts(run.info.run_id, "dir")] == [
        "dir/ok.txt"
    ]
    assert list(real.rglob("ok.txt"))


def test_log_artifact_nested_paths_and_listing(run_and_file):
    run, source, _ = run_and_file
    fittrace.log_artifact(str(source))
    fittrace.log_artifact(str(source), artifact_path="a/b")
    fittrace.log_artifact(str(source), artifact_path="./c/")
    client = fittrace.MlflowClient()
    run_id = run.info.run_id
    assert [(i.path, i.is_dir) for i in client.list_artifacts(run_id)] == [
        ("a", True),
        ("c", True),
        ("payload.txt", False),
    ]
    assert [i.path for i in client.list_artifacts(run_id, "a")] == ["a/b"]
    [info] = client.list_artifacts(run_id, "a/b")
    assert (info.path, info.is_dir, info.file_size) == ("a/b/payload.txt", False, len("payload"))
    assert client.list_artifacts(run_id, "a/b/payload.txt") == []
    assert client.list_artifacts(run_id, "does/not/exist") == []


def test_log_artifact_of_a_directory_keeps_its_name(run_and_file, tmp_path):
    run, _, _ = run_and_file
    (tmp_path / "plots" / "inner").mkdir(parents=True)
    (tmp_path / "plots" / "inner" / "p.txt").write_text("p")
    fittrace.log_artifact(str(tmp_path / "plots"), artifact_path="figs")
    client = fittrace.MlflowClient()
    assert [i.path for i in client.list_artifacts(run.info.run_id, "figs/plots/inner")] == [
        "figs/plots/inner/p.txt"
    ]


def test_download_single_file_directory_and_whole_run(run_and_file, tmp_path):
    run, source, _ = run_and_file
    fittrace.log_artifact(str(source), artifact_path="data")
    fittrace.log_text("t", "top.txt")
    client = fittrace.MlflowClient()
    run_id = run.info.run_id

    one = client.download_artifacts(run_id, "data/payload.txt", str(tmp_path / "d1"))
    assert one == str(tmp_path / "d1" / "data" / "payload.txt")
    assert Path(one).read_text() == "payload"

    folder = client.download_artifacts(run_id, "data", str(tmp_path / "d2"))
    assert sorted(os.listdir(folder)) == ["payload.txt"]

    everything = client.download_artifacts(run_id, "", str(tmp_path / "d3"))
    assert _files_under(Path(everything)) == {"data/payload.txt", "top.txt"}

    temp = client.download_artifacts(run_id, "top.txt")
    assert Path(temp).read_text() == "t"


def test_download_missing_artifact_and_unknown_run(run_and_file, tmp_path):
    run, _, _ = run_and_file
    client = fittrace.MlflowClient()
    with pytest.raises(ResourceNotFoundError, match="nope.txt"):
        client.download_artifacts(run.info.run_id, "nope.txt", str(tmp_path / "dl"))
    with pytest.raises(ResourceNotFoundError, match="feedface"):
        client.list_artifacts("feedface")


def test_log_missing_local_file_or_directory(run_and_file, tmp_path):
    with pytest.raises(ResourceNotFoundError, match="missing.bin"):
        fittrace.log_artifact(str(tmp_path / "missing.bin"))
    with pytest.raises(ResourceNotFoundError, match="missing_dir"):
        fittrace.log_artifacts(str(tmp_path / "missing_dir"))


def test_empty_artifact_file_name_is_rejected(run_and_file):
    for name in ("", ".", "./"):
        with pytest.raises(InvalidParameterError):
            fittrace.log_text("x", name)


def test_artifacts_module_download_by_uri_and_by_run_id(run_and_file, tmp_path):
    run, source, _ = run_and_file
    fittrace.log_artifact(str(source), artifact_path="model")
    by_uri = fittrace.artifacts.download_artifacts(
        artifact_uri=f"runs:/{run.info.run_id}/model", dst_path=str(tmp_path / "u")
    )
    by_id = fittrace.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="model/payload.txt", dst_path=str(tmp_path / "i")
    )
    assert (Path(by_uri) / "payload.txt").read_text() == "payload"
    assert Path(by_id).read_text() == "payload"
    with pytest.raises(InvalidParameterError, match="runs:/"):
        fittrace.artifacts.download_artifacts(artifact_uri="s3:/bucket/x")
    with pytest.raises(InvalidParameterError, match="run_id"):
        fittrace.artifacts.download_artifacts(artifact_path="model")


def test_artifact_location_of_a_custom_experiment(tmp_path):
    exp_id = fittrace.create_experiment("custom-loc", artifact_location=str(tmp_path / "elsewhere"))
    with fittrace.start_run(experiment_id=exp_id) as run:
        fittrace.log_text("here", "f.txt")
    assert run.info.artifact_uri.startswith(str(tmp_path / "elsewhere"))
    assert list((tmp_path / "elsewhere").rglob("f.txt"))
