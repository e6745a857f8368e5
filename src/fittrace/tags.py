"""System tags: stored once, under MLflow's names, so MLflow code and dashboards find them.

Every key written as ``fittrace.<x>`` is the same tag as ``mlflow.<x>``: it is stored as
``mlflow.<x>``, matched as such in search filters, and found under either spelling in a run's
``data.tags``.
"""

from __future__ import annotations

PREFIX = "mlflow."
ALIAS_PREFIX = "fittrace."

RUN_NAME = "mlflow.runName"
PARENT_RUN_ID = "mlflow.parentRunId"
USER = "mlflow.user"
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
GIT_COMMIT = "mlflow.source.git.commit"
GIT_BRANCH = "mlflow.source.git.branch"
GIT_REPO_URL = "mlflow.source.git.repoURL"
GIT_DIRTY = "mlflow.source.git.dirty"  # fittrace's: uncommitted changes to tracked files
SOURCE_PATH = "mlflow.source.path"  # fittrace's: the script's path inside its git checkout
SOURCE_SHA256 = "mlflow.source.sha256"  # fittrace's: the script's content hash
PYTHON = "mlflow.python"  # fittrace's, like the machine tags (mlflow.cpu.model, ...)
FRAMEWORK = "mlflow.framework."  # fittrace's: + module name, the version of a framework in use
NOTE = "mlflow.note.content"
AUTOLOGGING = "mlflow.autologging"
AUTOLOGGING_ERRORS = "mlflow.autologging.errors"
LOGGED_IMAGES = "mlflow.loggedImages"  # "True" once log_image(key=...) stored a step image


def canonical(key: str) -> str:
    """The stored spelling of a tag key: ``fittrace.<x>`` becomes ``mlflow.<x>``."""
    if isinstance(key, str) and key.startswith(ALIAS_PREFIX):
        return PREFIX + key[len(ALIAS_PREFIX) :]
    return key


class Tags(dict):
    """A run's tags, keyed by their stored names; ``fittrace.<x>`` looks up ``mlflow.<x>``."""

    def __missing__(self, key: str) -> str:
        name = canonical(key)
        if name == key:
            raise KeyError(key)
        return dict.__getitem__(self, name)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (
            isinstance(key, str) and dict.__contains__(self, canonical(key))
        )

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        return self[key] if key in self else default
