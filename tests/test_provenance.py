"""A run knows its code, environment and machine: git state, uncommitted diff, requirements."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import types
from pathlib import Path

import pytest

import fittrace
from fittrace.cli import main
from fittrace.tracking import gitinfo

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="builds a git repository")

_TRAIN = """
import fittrace
with fittrace.start_run() as run:
    fittrace.log_param("lr", 0.1)
print(run.info.run_id)
"""

_PROVENANCE_ON = {"FITTRACE_LOG_PROVENANCE": "true"}


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(repo),
    }
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A committed repository with a tracked file, an ignored file and a remote with a token."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _git(
        root, "remote", "add", "origin", "https://alice:s3cret-token@git.example.com/team/model.git"
    )
    (root / "model.py").write_text("LR = 0.1\n")
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "first")
    return root


@pytest.fixture
def git_calls(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose ``git`` logs each call to a file, then runs the real git."""
    bin_dir, log = tmp_path / "bin", tmp_path / "git-calls.txt"
    bin_dir.mkdir()
    shim = bin_dir / "git"
    shim.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec "{shutil.which("git")}" "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    log.write_text("")
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **_PROVENANCE_ON}, log


def _train(run_python, repo: Path, env: dict[str, str]) -> fittrace.Run:
    result = run_python(_TRAIN, name="train.py", cwd=repo, env=env)
    assert result.returncode == 0, result.stderr
    return fittrace.get_run(result.stdout.split()[-1])


def _artifact(run_id: str, path: str) -> str:
    return Path(fittrace.MlflowClient().download_artifacts(run_id, path)).read_text()


def _artifacts(run_id: str) -> set[str]:
    client = fittrace.MlflowClient()
    return {f.path for d in ("", "code") for f in client.list_artifacts(run_id, d or None)}


@needs_git
def test_commit_and_branch_from_loose_and_packed_refs_and_a_detached_head(tmp_path, run_python):
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("hello\n")
    _git(repo, "add", "README")
    _git(repo, "commit", "-q", "-m", "first")
    (repo / "README").write_text("hello again\n")
    _git(repo, "commit", "-q", "-am", "second")
    head = _git(repo, "rev-parse", "HEAD")

    loose = _train(run_python, repo / "src", {}).data.tags
    assert loose["fittrace.source.git.commit"] == head
    assert loose["fittrace.source.git.branch"] == "main"
    assert loose["fittrace.source.name"] == str(repo / "src" / "train.py")
    assert loose["fittrace.source.path"] == "src/train.py"
    assert "fittrace.source.git.repoURL" not in loose  # no remote

    _git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    packed = _train(run_python, repo / "src", {}).data.tags
    assert packed["fittrace.source.git.commit"] == head

    _git(repo, "checkout", "-q", "--detach", "HEAD~1")
    detached = _train(run_python, repo / "src", {}).data.tags
    assert detached["fittrace.source.git.commit"] == _git(repo, "rev-parse", "HEAD") != head
    assert "fittrace.source.git.branch" not in detached


@needs_git
def test_dirty_tree_records_diff_untracked_files_and_git_tags(repo, run_python, git_calls):
    env, log = git_calls
    (repo / "model.py").write_text("LR = 0.3\n")
    (repo / "features.py").write_text("X = 1\n")
    (repo / "debug.log").write_text("ignored\n")
    run = _train(run_python, repo, env)
    tags = run.data.tags
    assert tags["fittrace.source.git.commit"] == _git(repo, "rev-parse", "HEAD")
    assert tags["fittrace.source.git.branch"] == "main"
    assert tags["fittrace.source.git.repoURL"] == "https://git.example.com/team/model.git"
    assert "s3cret" not in str(tags)
    assert tags["fittrace.source.git.dirty"] == "true"
    assert tags["fittrace.source.path"] == "train.py"
    assert tags["fittrace.source.sha256"] == gitinfo.file_sha256(str(repo / "train.py"))
    assert tags["fittrace.python"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert int(tags["fittrace.cpu.count"]) >= 1
    diff = _artifact(run.info.run_id, "code/diff.patch")
    assert "diff --git a/model.py b/model.py" in diff
    assert "-LR = 0.1\n+LR = 0.3" in diff
    # untracked files are listed, never copied; ignored ones are not listed
    assert _artifact(run.info.run_id, "code/untracked.txt").split() == ["features.py", "train.py"]
    assert "code/features.py" not in _artifacts(run.info.run_id)
    assert log.read_text().count("diff HEAD") == 1


@needs_git
def test_clean_tree_is_checked_in_process_without_running_git(repo, run_python, git_calls):
    env, log = git_calls
    (repo / "train.py").write_text(_TRAIN)
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "script")
    (repo / "run.log").write_text("ignored\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.bin").write_bytes(b"ignored")
    result = subprocess.run(
        [sys.executable, "train.py"],
        cwd=repo,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    run = fittrace.get_run(result.stdout.split()[-1])
    assert run.data.tags["fittrace.source.git.dirty"] == "false"
    assert not {"code/diff.patch", "code/untracked.txt"} & _artifacts(run.info.run_id)
    assert log.read_text() == ""


@needs_git
def test_staged_change_counts_as_dirty(repo, run_python):
    (repo / "model.py").write_text("LR = 0.5\n")
    _git(repo, "add", "model.py")
    run = _train(run_python, repo, _PROVENANCE_ON)
    assert run.data.tags["fittrace.source.git.dirty"] == "true"
    assert "+LR = 0.5" in _artifact(run.info.run_id, "code/diff.patch")


@needs_git
def test_long_diff_is_cut_with_a_note(repo, run_python):
    (repo / "model.py").write_text("".join(f"W{i} = {i}\n" for i in range(2000)))
    run = _train(run_python, repo, {**_PROVENANCE_ON, "FITTRACE_CODE_DIFF_MAX_BYTES": "2000"})
    diff = _artifact(run.info.run_id, "code/diff.patch")
    assert len(diff.encode()) < 2300
    assert diff.splitlines()[-1].startswith("# fittrace: diff cut at ")
    assert "+W0 = 0" in diff


def test_no_git_records_no_code_tags_and_no_error(tmp_path, run_python):
    run = _train(run_python, tmp_path, {**_PROVENANCE_ON, "PATH": ""})
    assert run.info.status == "FINISHED"
    assert not [k for k in run.data.tags if ".git." in k]
    assert "fittrace.source.path" not in run.data.tags
    assert run.data.tags["fittrace.python"]
    assert "code" not in _artifacts(run.info.run_id)


@needs_git
def test_dirty_tree_without_git_installed_records_no_diff_and_no_error(repo, run_python):
    (repo / "model.py").write_text("LR = 0.3\n")
    python = Path(sys.executable)
    run = _train(run_python, repo, {**_PROVENANCE_ON, "PATH": str(python.parent)})
    assert run.info.status == "FINISHED"
    assert run.data.tags["fittrace.source.git.commit"]
    assert "fittrace.source.git.dirty" not in run.data.tags
    assert "code" not in _artifacts(run.info.run_id)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://user:token@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://ghp_abc@github.com/o/r.git", "https://github.com/o/r.git"),
        ("ssh://git@host:2222/o/r.git", "ssh://host:2222/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("https://github.com/o/r.git", "https://github.com/o/r.git"),
    ],
)
def test_remote_url_credentials_are_stripped(url, expected):
    assert gitinfo.strip_credentials(url) == expected


def test_requirements_are_computed_once_per_process_and_again_after_an_install(
    run_python, tmp_path
):
    site = tmp_path / "site"
    site.mkdir()
    script = f"""
    import pathlib, sys
    sys.path.insert(0, {str(site)!r})
    import fittrace
    from fittrace.tracking import environment

    calls = []
    compute = environment._distributions
    environment._distributions = lambda: calls.append(1) or compute()

    def run():
        with fittrace.start_run() as run:
            pass
        return run.info.run_id

    ids = [run() for _ in range(3)]
    print(len(calls), *ids)
    info = pathlib.Path({str(site)!r}) / "fakepkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\\nName: fakepkg\\nVersion: 1.0\\n")
    last = run()
    print(len(calls), last)
    """
    result = run_python(script, env=_PROVENANCE_ON)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    count, *ids = first.split()
    assert count == "1"
    import importlib.metadata

    pinned = f"pytest=={importlib.metadata.version('pytest')}"
    for run_id in ids:
        requirements = _artifact(run_id, "environment/requirements.txt").splitlines()
        assert pinned in requirements and "fakepkg==1.0" not in requirements
    count, after_install = second.split()
    assert count == "2"
    assert "fakepkg==1.0" in _artifact(after_install, "environment/requirements.txt").splitlines()


def test_same_data_gets_the_same_digest_in_every_process(run_python):
    script = """
    import numpy as np, fittrace
    from fittrace.autologging.datasets import dataset_input

    X = np.arange(600, dtype=float).reshape(200, 3)
    with fittrace.start_run() as run:
        fittrace.log_input(dataset_input(X, X[:, 0], "train", "training", "script"))
    print(run.info.run_id)
    """
    ids = []
    for _ in range(2):
        result = run_python(script)
        assert result.returncode == 0, result.stderr
        ids.append(result.stdout.split()[-1])
    import numpy as np

    from fittrace.autologging.datasets import dataset_input

    X = np.arange(600, dtype=float).reshape(200, 3) * 2.0  # other data
    with fittrace.start_run():
        fittrace.log_input(dataset_input(X, X[:, 0], "train", "training", "script"))
    digests = [fittrace.get_run(i).inputs.dataset_inputs[0].digest for i in ids]
    assert digests[0] == digests[1]
    found = fittrace.search_runs(
        filter_string=f"datasets.digest = '{digests[0]}'", output_format="list"
    )
    assert sorted(r.info.run_id for r in found) == sorted(ids)


def test_child_runs_and_switched_off_runs_get_no_capture(run_python):
    script = """
    import fittrace
    with fittrace.start_run() as parent:
        with fittrace.start_run(nested=True) as child:
            pass
    print(parent.info.run_id, child.info.run_id)
    """
    result = run_python(script, env=_PROVENANCE_ON)
    assert result.returncode == 0, result.stderr
    parent, child = result.stdout.split()
    assert "environment" in _artifacts(parent)
    assert _artifacts(child) == set()
    off = run_python(script, env={"FITTRACE_LOG_PROVENANCE": "false"})
    assert _artifacts(off.stdout.split()[0]) == set()
    assert "fittrace.python" in fittrace.get_run(off.stdout.split()[0]).data.tags


def _dist_dir(tmp_path: Path, version: str) -> Path:
    """A folder holding an installed distribution ``fakepkg`` at ``version``."""
    folder = tmp_path / f"site-{version}"
    info = folder / f"fakepkg-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakepkg\nVersion: {version}\n")
    return folder


@needs_git
def test_fittrace_diff_shows_param_package_and_code_differences(repo, run_python, tmp_path, capsys):
    script = """
    import os, fittrace
    with fittrace.start_run() as run:
        fittrace.log_param("lr", os.environ["LR"])
        fittrace.log_param("epochs", 3)
    print(run.info.run_id)
    """
    ids = []
    for lr, version in (("0.2", "1.0"), ("0.3", "2.0")):
        (repo / "model.py").write_text(f"LR = {lr}\n")
        path = os.pathsep.join(
            p for p in (str(_dist_dir(tmp_path, version)), os.environ.get("PYTHONPATH")) if p
        )
        env = {**_PROVENANCE_ON, "LR": lr, "PYTHONPATH": path}
        result = run_python(script, name="train.py", cwd=repo, env=env)
        assert result.returncode == 0, result.stderr
        ids.append(result.stdout.split()[-1])
    capsys.readouterr()
    assert main(["diff", *ids]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()]
    assert ["lr", "0.2", "0.3"] in lines
    assert not any(line[:1] == ["epochs"] for line in lines)
    assert ["fakepkg", "1.0", "2.0"] in lines
    assert "-+LR = 0.2" in out and "++LR = 0.3" in out
    assert "Same:" in out and "Datasets" in out.split("Same:")[1]
    assert main(["show", ids[1]]) == 0
    shown = capsys.readouterr().out
    sections = {line.rstrip(":") for line in shown.splitlines() if line.endswith(":")}
    assert {"Code", "Environment", "Artifacts"} <= sections
    (changes,) = [line for line in shown.splitlines() if "uncommitted changes" in line]
    assert changes.endswith("1 files: model.py")
    assert "environment/requirements.txt" in shown


def test_notebook_path_from_the_front_end(monkeypatch, tmp_path):
    from fittrace.tracking import context

    notebook = tmp_path / "analysis.ipynb"
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setitem(
        sys.modules, "__main__", types.ModuleType("__main__")
    )  # a kernel: no __file__
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))
    with fittrace.start_run() as run:
        pass
    tags = fittrace.get_run(run.info.run_id).data.tags
    assert tags["fittrace.source.type"] == "NOTEBOOK"
    assert tags["fittrace.source.name"] == str(notebook)
    monkeypatch.delenv("JPY_SESSION_NAME")
    sys.modules["__main__"].__vsc_ipynb_file__ = str(notebook)  # VS Code's way
    assert context.system_tags()["mlflow.source.name"] == str(notebook)
