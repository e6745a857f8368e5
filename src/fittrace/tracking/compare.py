"""What differs between two runs: "why did this run score differently?" in one answer.

``compare`` returns sections in a fixed order — Params, Metrics, Datasets,
Code, Packages, Environment, Tags — each a list of ``(key, value in A, value in
B)`` rows where the two differ (None: absent in that run). System metrics
(``system/``) are left out: they always differ. The code section compares the
git tags and the ``code/diff.patch`` artifacts; the packages section the
``environment/requirements.txt`` artifacts, package by package.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from typing import Any, NamedTuple

from fittrace import tags as tags_
from fittrace.exceptions import ResourceNotFoundError
from fittrace.tracking import environment, provenance
from fittrace.tracking.system_metrics import PREFIX as SYSTEM_PREFIX

Row = tuple[str, "str | None", "str | None"]

CODE_TAGS = (tags_.PREFIX + "source.",)
ENVIRONMENT_TAGS = tuple(
    tags_.PREFIX + name
    for name in ("python", "platform", "cpu.", "memory.", "gpu.", "cuda.", "framework.")
)


def _rows(a: dict[str, str], b: dict[str, str]) -> list[Row]:
    return [(k, a.get(k), b.get(k)) for k in sorted({*a, *b}) if a.get(k) != b.get(k)]


def read_text(client: Any, run_id: str, path: str) -> str | None:
    """A run's text artifact, or None when the run has none at ``path``."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, path, tmp)
        except ResourceNotFoundError:
            return None
        if not os.path.isfile(local):
            return None
        with open(local, encoding="utf-8", errors="replace") as f:
            return f.read()


def packages(requirements: str | None) -> dict[str, str]:
    """``{name: version}`` from a requirements.txt of ``name==version`` lines."""
    found = {}
    for line in (requirements or "").splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            found[name.lower().replace("_", "-")] = version
    return found


def patched_files(diff: str | None) -> list[str]:
    """The files a ``git diff`` touches, from its ``diff --git a/X b/X`` headers."""
    return [
        line.rsplit(" b/", 1)[-1]
        for line in (diff or "").splitlines()
        if line.startswith("diff --git ")
    ]


def describe_diff(diff: str | None) -> str | None:
    """``"<bytes> bytes, <n> files: a.py, b.py"`` for a diff artifact."""
    if diff is None:
        return None
    files = patched_files(diff)
    return f"{len(diff.encode())} bytes, {len(files)} files: {', '.join(files)}"


def describe_untracked(listing: str | None) -> str | None:
    return None if listing is None else ", ".join(listing.split("\n")).strip(", ")


class Comparison(NamedTuple):
    sections: dict[str, list[Row]]
    patch_changes: list[str]  # unified diff from A's code/diff.patch to B's ([] when equal)


def compare(client: Any, run_a: str, run_b: str) -> Comparison:
    a, b = client.get_run(run_a), client.get_run(run_b)

    def metrics(run: Any) -> dict[str, str]:
        return {
            k: f"{v:.6g}" for k, v in run.data.metrics.items() if not k.startswith(SYSTEM_PREFIX)
        }

    def datasets(run: Any) -> dict[str, str]:
        return {
            f"{d.name} ({d.context})" if d.context else d.name: d.digest
            for d in run.inputs.dataset_inputs
        }

    def tags(run: Any, prefixes: tuple[str, ...]) -> dict[str, str]:
        return {k: v for k, v in run.data.tags.items() if k.startswith(prefixes)}

    known = (*CODE_TAGS, *ENVIRONMENT_TAGS, tags_.RUN_NAME)
    code = _rows(tags(a, CODE_TAGS), tags(b, CODE_TAGS))
    diff_a, diff_b = (read_text(client, r, provenance.DIFF_FILE) for r in (run_a, run_b))
    patch_changes = []
    if diff_a != diff_b:
        code.append((provenance.DIFF_FILE, describe_diff(diff_a), describe_diff(diff_b)))
        patch_changes = list(
            difflib.unified_diff(
                (diff_a or "").splitlines(),
                (diff_b or "").splitlines(),
                f"{run_a}/{provenance.DIFF_FILE}",
                f"{run_b}/{provenance.DIFF_FILE}",
                lineterm="",
            )
        )
    untracked_a, untracked_b = (
        read_text(client, r, provenance.UNTRACKED_FILE) for r in (run_a, run_b)
    )
    if untracked_a != untracked_b:
        code.append(
            (
                provenance.UNTRACKED_FILE,
                describe_untracked(untracked_a),
                describe_untracked(untracked_b),
            )
        )
    requirements = [
        packages(read_text(client, r, environment.REQUIREMENTS_FILE)) for r in (run_a, run_b)
    ]
    sections = {
        "Params": _rows(a.data.params, b.data.params),
        "Metrics": _rows(metrics(a), metrics(b)),
        "Datasets": _rows(datasets(a), datasets(b)),
        "Code": code,
        "Packages": _rows(*requirements),
        "Environment": _rows(tags(a, ENVIRONMENT_TAGS), tags(b, ENVIRONMENT_TAGS)),
        "Tags": _rows(
            {k: v for k, v in a.data.tags.items() if not k.startswith(known)},
            {k: v for k, v in b.data.tags.items() if not k.startswith(known)},
        ),
    }
    return Comparison(sections, patch_changes)
