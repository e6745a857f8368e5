"""Pinned requirements and environment files for a model directory.

Versions come from the installed distributions this process sees (``tracking.environment``): no subprocess, no import scanning,
no re-loading of the model. Flavors name the distributions their format needs; module names
(e.g. the classes inside a scikit-learn Pipeline) are mapped to distributions by a short table.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from pathlib import Path

from fittrace.models import yaml_text
from fittrace.tracking import environment

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_ENV_FILE = "conda.yaml"

# Import names whose distribution is spelled differently.
_MODULE_TO_DIST = {
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "cv2": "opencv-python",
    "PIL": "pillow",
    "yaml": "PyYAML",
    "tf_keras": "tf-keras",
    "google": "protobuf",
}
# Standard modules and ones never worth pinning.
_SKIP_MODULES = frozenset(
    {"builtins", "__main__", "copyreg", "collections", "functools", "numbers"}
)


# PyTorch's wheel index serves the builds whose version has a local label (2.13.0+cpu, +cu128):
# pip finds ``torch==2.13.0+cpu`` only with that index, so those pins keep the label and the index.
_PYTORCH_DISTRIBUTIONS = frozenset({"torch", "torchvision", "torchaudio"})
_PYTORCH_INDEX = "https://download.pytorch.org/whl/"


def installed_version(
    distribution: str, found: dict[str, tuple[str, str]] | None = None
) -> str | None:
    """The installed version of a distribution, without a local label (``2.13.0+cpu`` -> ``2.13.0``);
    ``found`` as ``environment.installed_version``'s."""
    version = environment.installed_version(distribution, found)
    return version and version.split("+", 1)[0]


def distribution_for_module(
    module: str, found: dict[str, tuple[str, str]] | None = None
) -> str | None:
    """The installed distribution that provides a top-level module, if it can be told cheaply;
    ``found`` as ``environment.installed_version``'s."""
    top = module.split(".", 1)[0]
    if top in _SKIP_MODULES or top.startswith("_"):
        return None
    for candidate in (_MODULE_TO_DIST.get(top), top):  # names are compared normalized
        if candidate and environment.installed_version(candidate, found) is not None:
            return candidate
    return None


def pinned_requirements(
    distributions: Iterable[str] = (), modules: Iterable[str] = ()
) -> list[str]:
    """``name==version`` lines for fittrace, the given distributions and the given modules' distributions.

    Distributions that are not installed are skipped; local version labels are dropped except
    on PyTorch's own builds, which get their wheel index as a first line.
    """
    found = environment.installed()
    names: dict[str, None] = {"fittrace": None}
    names.update((d, None) for d in distributions)
    for module in modules:
        dist = distribution_for_module(module, found)
        if dist:
            names[dist] = None
    lines = []
    for name in names:
        version = environment.installed_version(name, found)
        if version is None:
            continue
        public, _, local = version.partition("+")
        if local and name in _PYTORCH_DISTRIBUTIONS:
            index = f"--extra-index-url {_PYTORCH_INDEX}{local}"
            if index not in lines:
                lines.insert(0, index)
        else:
            version = public
        lines.append(f"{name}=={version}")
    return lines


def merge_requirements(
    inferred: list[str],
    pip_requirements: Iterable[str] | None,
    extra_pip_requirements: Iterable[str] | None,
) -> list[str]:
    """MLflow's rule: ``pip_requirements`` replaces the inferred list, extras are appended."""
    lines = list(pip_requirements) if pip_requirements is not None else list(inferred)
    for extra in extra_pip_requirements or ():
        if extra not in lines:
            lines.append(extra)
    return [str(line) for line in lines]


def write_environment(model_dir: str | os.PathLike, requirements: list[str]) -> dict[str, str]:
    """Write requirements.txt, python_env.yaml and conda.yaml; return the pyfunc ``env`` entry."""
    directory = Path(model_dir)
    python = platform.python_version()
    found = environment.installed()
    (directory / REQUIREMENTS_FILE).write_text(
        "".join(f"{r}\n" for r in requirements), encoding="utf-8"
    )
    python_env = {
        "python": python,
        "build_dependencies": [
            f"{d}=={v}"
            for d in ("pip", "setuptools", "wheel")
            if (v := installed_version(d, found))
        ],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    pip = installed_version("pip", found)
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [
            f"python={python}",
            f"pip<={pip}" if pip else "pip",
            {"pip": list(requirements)},
        ],
        "name": "fittrace-env",
    }
    for name, content in ((PYTHON_ENV_FILE, python_env), (CONDA_ENV_FILE, conda)):
        (directory / name).write_text(yaml_text.dump(content), encoding="utf-8")
    return {"conda": CONDA_ENV_FILE, "virtualenv": PYTHON_ENV_FILE}
