"""Environment opt-in from the built wheel installed into a fresh virtual environment (offline).

The venv gets the wheel through pip (``--no-index --no-deps``); its two
dependencies (wrapt, PyYAML) and a third-party autologger for the fake
framework (a dist-info with an entry point) come from a folder a ``.pth``
file adds to ``sys.path``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fakeml_support import SOURCE

import fittrace

ROOT = Path(fittrace.__file__).resolve().parents[2]

PLUGIN = """
from fittrace.autologging import Integration


def _capture(call):
    call.log_params({"alpha": call.instance.alpha})
    result = yield
    call.log_metrics({"coef": result.coef_})


def _install(patcher):
    patcher.patch_subclasses(patcher.module.Model, "fit", _capture)


INTEGRATION = Integration(name="fakeml", module="fakeml", install=_install)
"""

SCRIPT = """
import json, os, subprocess, sys
import fakeml

fakeml.Model(alpha=2.0).fit([1, 2])
child = None
if len(sys.argv) > 1:
    code = "import fakeml, sys; fakeml.Model(alpha=7.0).fit([1]); print('fittrace.autologging' in sys.modules)"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
print(json.dumps({
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("fittrace", "wrapt")),
    "user_site": os.environ.get("USER_SITECUSTOMIZE_RAN"),
    "pythonpath": os.environ.get("PYTHONPATH"),
    "child": child,
}))
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    pytest.importorskip("hatchling")
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("needs the source tree to build the wheel")
    base = tmp_path_factory.mktemp("wheel_env")
    dist = base / "dist"
    subprocess.run(
        [sys.executable, "-c", f"import hatchling.build as b; b.build_wheel({str(dist)!r})"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("fittrace-*.whl")
    env_dir = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    assert (site / "fittrace_autolog.pth").is_file()
    deps = base / "deps"
    deps.mkdir()
    import wrapt
    import yaml

    for package in (wrapt, yaml):
        folder = Path(package.__file__).parent
        (deps / folder.name).symlink_to(folder)
    (deps / "fakeml.py").write_text(SOURCE)
    (deps / "fakeml_autolog.py").write_text(PLUGIN)
    info = deps / "fittrace_fakeml-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fittrace-fakeml\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[fittrace.autologgers]\nfakeml = fakeml_autolog:INTEGRATION\n"
    )
    (site / "00_test_deps.pth").write_text(str(deps) + "\n")
    return python


def _run(python: Path, tmp_path: Path, args: list[str], env: dict[str, str] | None = None, **kw):
    (tmp_path / "train.py").write_text(textwrap.dedent(SCRIPT))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FITTRACE_", "PYTHON"))}
    clean["FITTRACE_TRACKING_URI"] = f"sqlite:///{tmp_path / 'runs.db'}"
    proc = subprocess.run(
        [str(python), *args],
        cwd=tmp_path,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _runs(tmp_path: Path):
    from fittrace.tracking.client import Client

    if not (tmp_path / "runs.db").exists():
        return []
    client = Client(f"sqlite:///{tmp_path / 'runs.db'}")
    return sorted(client.search_runs(["0"]), key=lambda r: r.data.params.get("alpha", ""))


def test_pth_with_variable_unset_imports_nothing_of_fittrace(venv, tmp_path):
    out, _ = _run(venv, tmp_path, ["train.py"])
    assert out["loaded"] == []
    assert _runs(tmp_path) == []


def test_pth_with_variable_set_records_an_unmodified_script(venv, tmp_path):
    out, _ = _run(
        venv,
        tmp_path,
        ["train.py"],
        {"FITTRACE_AUTOLOG": "1", "FITTRACE_AUTOLOG_EXTRA_TAGS": '{"via": "pth"}'},
    )
    assert "fittrace.autologging" in out["loaded"]
    (run,) = _runs(tmp_path)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"alpha": "2.0"} and run.data.metrics == {"coef": 6.0}
    assert run.data.tags["fittrace.autologging"] == "fakeml" and run.data.tags["via"] == "pth"


def test_pth_warns_about_unknown_names_and_the_script_still_runs(venv, tmp_path):
    _, stderr = _run(
        venv,
        tmp_path,
        ["train.py"],
        {"FITTRACE_AUTOLOG": "fakeml,nosuch", "FITTRACE_AUTOLOG_LOG_MODLES": "1"},
    )
    assert "unknown autolog integration 'nosuch'" in stderr
    assert "FITTRACE_AUTOLOG_LOG_MODLES is not an autolog option" in stderr
    assert len(_runs(tmp_path)) == 1


def test_import_fittrace_auto(venv, tmp_path):
    (tmp_path / "explicit.py").write_text("import fittrace.auto\n" + textwrap.dedent(SCRIPT))
    _run(venv, tmp_path, ["explicit.py"])
    (run,) = _runs(tmp_path)
    assert run.data.params == {"alpha": "2.0"}


@pytest.fixture
def user_sitecustomize(tmp_path) -> str:
    folder = tmp_path / "usersite"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        "import os\nos.environ['USER_SITECUSTOMIZE_RAN'] = 'yes'\n"
    )
    return str(folder)


def test_fittrace_run_bootstraps_only_the_command(venv, tmp_path, user_sitecustomize):
    launcher = ["-m", "fittrace.autologging.launcher", "--only", "fakeml"]
    out, _ = _run(
        venv,
        tmp_path,
        [*launcher, str(venv), "train.py", "spawn"],
        {"PYTHONPATH": user_sitecustomize},
    )
    assert out["user_site"] == "yes"
    assert out["pythonpath"] == user_sitecustomize  # restored for child processes
    assert out["child"] == "False"
    (run,) = _runs(tmp_path)
    assert run.data.params == {"alpha": "2.0"}


def test_fittrace_run_subprocesses_on_request(venv, tmp_path):
    launcher = [
        "-m",
        "fittrace.autologging.launcher",
        "--subprocesses",
        "--set",
        "log_models=false",
    ]
    out, stderr = _run(venv, tmp_path, [*launcher, "train.py", "spawn"])
    assert "Error in sitecustomize" not in stderr  # no user sitecustomize to hand over to
    assert out["child"] == "True"
    assert [r.data.params["alpha"] for r in _runs(tmp_path)] == ["2.0", "7.0"]
