"""A run's environment and uncommitted code, recorded off the fit path.

``record`` queues the work on the background thread of ``fittrace.tracking.pending``
and returns at once; reading the run and ending it wait for it (see there). The thread
adds the machine and accelerator tags, ``fittrace.source.git.dirty``, and the
artifacts ``code/diff.patch``, ``code/untracked.txt`` (names only, never the
files) and ``environment/requirements.txt``. Everything it computes is cached
per process, so the second run of a process costs a few file writes. A
failure is logged, never raised: provenance must not break a training.

``FITTRACE_LOG_PROVENANCE=false`` switches this capture off (for example where
an uncommitted diff may hold secrets); the tags read at run creation (commit,
branch, remote, script path and hash, Python and framework versions) remain.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from fittrace import tags as tags_
from fittrace.entities import RunTag
from fittrace.tracking import environment, gitinfo, pending

DIFF_FILE = "code/diff.patch"
UNTRACKED_FILE = "code/untracked.txt"
ENABLE_ENV = "FITTRACE_LOG_PROVENANCE"


def enabled() -> bool:
    return os.environ.get(ENABLE_ENV, "").strip().lower() not in ("0", "false", "no", "off")


def record(client: Any, run_id: str, source_dir: str) -> None:
    """Queue the capture of ``run_id``'s environment and working-tree changes."""
    capture = functools.partial(_capture, client, run_id, source_dir)
    pending.defer(run_id, "the environment and code changes", capture)


def _capture(client: Any, run_id: str, source_dir: str) -> None:
    tags = {**environment.machine_tags(), **environment.accelerator_tags()}
    files = {environment.REQUIREMENTS_FILE: environment.requirements()}
    repo = gitinfo.checkout(source_dir)
    if repo is not None and repo.commit:
        found = gitinfo.changes(repo)
        if found.dirty is not None:
            tags[tags_.GIT_DIRTY] = str(found.dirty).lower()
        if found.diff:
            files[DIFF_FILE] = found.diff
        if found.untracked:
            files[UNTRACKED_FILE] = "".join(p + "\n" for p in found.untracked)
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    artifacts = client.artifact_repository(run_id)
    for path, text in files.items():
        artifacts.write_bytes(path, text.encode("utf-8", "surrogateescape"))
