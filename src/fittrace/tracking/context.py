"""System tags recorded on every run: who ran it, from which script, at which git commit, with which Python."""

from __future__ import annotations

import functools
import os
import random
import sys

from fittrace import tags as tags_
from fittrace.tracking import environment, gitinfo

_ADJECTIVES = (
    "amber agile bold brave bright calm clever cosmic crisp curious daring eager fancy fierce gentle glad "
    "golden grand happy honest humble jolly keen kind lively lucky merry mighty nimble noble polite proud "
    "quick quiet rapid rare royal shiny silent sleek smart snappy solid steady sunny swift tidy vivid wise "
    "witty zesty"
).split()
_NOUNS = (
    "ant badger bear bee bison cat cobra crane crow deer dolphin eagle falcon ferret finch fox gecko goat "
    "hawk heron horse ibis jackal koala lark lemur lion lynx mole moose newt otter owl panda parrot pike "
    "puma quail rabbit raven robin seal shark sloth snail sparrow stork swan tiger toad trout turtle whale "
    "wolf wren yak zebra"
).split()


def random_run_name() -> str:
    """A readable name such as ``swift-otter-417``."""
    rng = random.SystemRandom()
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randrange(1000)}"


@functools.lru_cache(maxsize=1)
def user() -> str:
    """The login name, found as ``getpass.getuser`` finds it; importing getpass (it imports
    termios) would cost a first fit 0.4 ms."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(variable):
            return os.environ[variable]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):  # Windows, or no passwd entry in some containers
        return "unknown"


def _notebook_path() -> str | None:
    """The notebook this kernel runs, where the front end says so (VS Code, Jupyter Server 2)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__vsc_ipynb_file__", None) or os.environ.get("JPY_SESSION_NAME")
    return os.path.abspath(path) if path and path.endswith(".ipynb") else None


def _in_kernel() -> bool:
    return "ipykernel" in sys.modules and not hasattr(sys.modules.get("__main__"), "__file__")


def source_name() -> str:
    if _in_kernel():
        notebook = _notebook_path()
        if notebook:
            return notebook
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else "")
    return os.path.abspath(path) if path and path != "-c" else "<interactive>"


def source_dir(source: str) -> str:
    """Where to look for the run's git checkout: beside its script, else the working directory."""
    return os.path.dirname(source) if os.path.isabs(source) else os.getcwd()


@functools.lru_cache(maxsize=8)
def _code_tags(source: str, start: str) -> dict[str, str]:
    tags = {}
    repo = gitinfo.checkout(start)
    if repo is not None and repo.commit:
        tags[tags_.GIT_COMMIT] = repo.commit
        if repo.branch:
            tags[tags_.GIT_BRANCH] = repo.branch
        if repo.remote_url:
            tags[tags_.GIT_REPO_URL] = repo.remote_url
        if os.path.isabs(source) and source.startswith(repo.root + os.sep):
            tags[tags_.SOURCE_PATH] = os.path.relpath(source, repo.root).replace(os.sep, "/")
    digest = gitinfo.file_sha256(source) if os.path.isfile(source) else None
    if digest:
        tags[tags_.SOURCE_SHA256] = digest
    return tags


def system_tags() -> dict[str, str]:
    """Tags every run gets at creation: all cached per process or read from ``sys.modules``."""
    source = source_name()
    return {
        tags_.USER: user(),
        tags_.SOURCE_NAME: source,
        tags_.SOURCE_TYPE: "NOTEBOOK" if _in_kernel() else "LOCAL",
        **_code_tags(source, source_dir(source)),
        tags_.PYTHON: environment.python_version(),
        **environment.framework_tags(),
    }
