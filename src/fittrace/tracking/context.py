"""System tags recorded on every run: who ran it, from which script, at which git commit."""

from __future__ import annotations

import functools
import getpass
import os
import random
import sys

from fittrace import tags as tags_

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
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return os.environ.get("USER", "unknown")


def source_name() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else "")
    return os.path.abspath(path) if path and path != "-c" else "<interactive>"


def _git_dir(start: str) -> str | None:
    path = os.path.abspath(start)
    while True:
        candidate = os.path.join(path, ".git")
        if os.path.isdir(candidate):
            return candidate
        if os.path.isfile(candidate):  # worktree or submodule: "gitdir: <path>"
            with open(candidate, encoding="utf-8") as f:
                line = f.read().strip()
            if line.startswith("gitdir:"):
                return os.path.normpath(os.path.join(path, line[len("gitdir:") :].strip()))
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def _read_ref(git_dir: str, ref: str) -> str | None:
    common = git_dir
    commondir_file = os.path.join(git_dir, "commondir")
    if os.path.isfile(commondir_file):
        with open(commondir_file, encoding="utf-8") as f:
            common = os.path.normpath(os.path.join(git_dir, f.read().strip()))
    for base in (git_dir, common):
        loose = os.path.join(base, *ref.split("/"))
        if os.path.isfile(loose):
            with open(loose, encoding="utf-8") as f:
                return f.read().strip()
    packed = os.path.join(common, "packed-refs")
    if os.path.isfile(packed):
        with open(packed, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    return None


@functools.lru_cache(maxsize=8)
def git_commit(start: str) -> str | None:
    """The commit checked out in the repository containing ``start``, read from .git without spawning git."""
    try:
        git_dir = _git_dir(start)
        if git_dir is None:
            return None
        with open(os.path.join(git_dir, "HEAD"), encoding="utf-8") as f:
            head = f.read().strip()
        if head.startswith("ref:"):
            return _read_ref(git_dir, head[4:].strip())
        return head or None
    except OSError:
        return None


def system_tags() -> dict[str, str]:
    source = source_name()
    tags = {
        tags_.USER: user(),
        tags_.SOURCE_NAME: source,
        tags_.SOURCE_TYPE: "LOCAL",
    }
    commit = git_commit(os.path.dirname(source) if source != "<interactive>" else os.getcwd())
    if commit:
        tags[tags_.GIT_COMMIT] = commit
    return tags
