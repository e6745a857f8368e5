"""What a run knows about its git checkout, read from ``.git`` in-process.

Commit, branch and remote URL come from ``HEAD``, refs and ``config`` files
(cached per process). Whether the working tree has changes is decided
in-process too, from the index: a tracked file whose size or mtime differs
from its index entry is re-hashed, the index's cache-tree must be complete,
and the tree is walked (honouring ``.gitignore`` and ``info/exclude``, in an
approximation of git's rules) for files the index does not know. Only when
that check finds a possible change does fittrace run ``git diff HEAD`` and
``git ls-files --others --exclude-standard`` — once per process, in a
background thread — because git then gives the exact diff and untracked list
with its own filters and ignore rules, and a pure-Python diff engine (pack
files, deltas, tree walks, text diffs) would be a lot of code to get just as
right.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
import stat
import struct
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

MAX_DIFF_BYTES = 1 << 20  # FITTRACE_CODE_DIFF_MAX_BYTES overrides it
_WALK_LIMIT = 50_000  # entries visited looking for untracked files before leaving it to git


def git_dir(start: str) -> str | None:
    """The ``.git`` directory of the repository containing ``start`` (worktrees and submodules too)."""
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


def _common_dir(gdir: str) -> str:
    commondir_file = os.path.join(gdir, "commondir")
    if os.path.isfile(commondir_file):
        with open(commondir_file, encoding="utf-8") as f:
            return os.path.normpath(os.path.join(gdir, f.read().strip()))
    return gdir


def _read_ref(gdir: str, ref: str) -> str | None:
    common = _common_dir(gdir)
    for base in (gdir, common):
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


def strip_credentials(url: str) -> str:
    """``https://user:token@host/x.git`` -> ``https://host/x.git``; scp-style ``git@host:x`` is kept."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _remote_url(common: str) -> str | None:
    """The URL of remote ``origin`` (else of the first remote) in the repository's config."""
    urls: dict[str, str] = {}
    section = ""
    try:
        with open(os.path.join(common, "config"), encoding="utf-8") as f:
            for raw in f:
                line = raw.strip()
                if line.startswith("["):
                    section = line.strip("[]").strip()
                elif section.startswith("remote ") and "=" in line:
                    key, value = (s.strip() for s in line.split("=", 1))
                    if key.lower() == "url":
                        urls.setdefault(section[len("remote ") :].strip().strip('"'), value)
    except OSError:
        return None
    url = urls.get("origin") or next(iter(urls.values()), None)
    return strip_credentials(url) if url else None


class Checkout(NamedTuple):
    root: str
    git_dir: str
    commit: str | None
    branch: str | None
    remote_url: str | None


@functools.lru_cache(maxsize=8)
def checkout(start: str) -> Checkout | None:
    """The repository containing ``start`` and what is checked out there; None outside git."""
    try:
        gdir = git_dir(start)
        if gdir is None:
            return None
        with open(os.path.join(gdir, "HEAD"), encoding="utf-8") as f:
            head = f.read().strip()
        branch = None
        if head.startswith("ref:"):
            ref = head[4:].strip()
            commit = _read_ref(gdir, ref)
            branch = ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else None
        else:
            commit = head or None
        root = _work_tree(gdir, start)
        return Checkout(root, gdir, commit, branch, _remote_url(_common_dir(gdir)))
    except (OSError, UnicodeDecodeError):
        return None


def _work_tree(gdir: str, start: str) -> str:
    gitdir_file = os.path.join(gdir, "gitdir")  # a linked worktree points back at its .git file
    if os.path.isfile(gitdir_file):
        with open(gitdir_file, encoding="utf-8") as f:
            return os.path.dirname(f.read().strip())
    if os.path.basename(gdir) == ".git":
        return os.path.dirname(gdir)
    path = os.path.abspath(start)  # a submodule's git dir lives under the parent's .git/modules
    while not os.path.exists(os.path.join(path, ".git")) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


# -- is the working tree clean? (in-process) -------------------------------------------------


class _Entry(NamedTuple):
    mtime: tuple[int, int]
    mode: int
    size: int
    sha: bytes


def _read_index(gdir: str) -> tuple[dict[str, _Entry], bool] | None:
    """Index entries by path and whether its cache-tree covers the whole tree; None if unreadable."""
    try:
        with open(os.path.join(gdir, "index"), "rb") as f:
            data = f.read()
    except OSError:
        return None
    if len(data) < 12 or data[:4] != b"DIRC":
        return None
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3):
        return None  # v4 compresses paths; leave it to git
    entries: dict[str, _Entry] = {}
    pos = 12
    for _ in range(count):
        fields = struct.unpack(">10I20sH", data[pos : pos + 62])
        flags = fields[11]
        extended = version == 3 and flags & 0x4000
        name_at = pos + 62 + (2 if extended else 0)
        end = data.index(b"\0", name_at)
        if flags & 0x3000 or (extended and data[pos + 62] & 0x60):
            return None  # merge conflict, skip-worktree or intent-to-add: ask git
        entries[data[name_at:end].decode("utf-8", "surrogateescape")] = _Entry(
            (fields[2], fields[3]), fields[6], fields[9], fields[10]
        )
        pos += (end - pos + 8) & ~7
    complete = False
    while pos + 8 <= len(data) - 20:
        signature, size = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        if signature == b"TREE":
            root_count = data[pos + 9 : data.index(b" ", pos + 9)]
            complete = not root_count.startswith(b"-")
        pos += 8 + size
    return entries, complete


def _blob_sha(path: str, st: os.stat_result) -> bytes:
    if stat.S_ISLNK(st.st_mode):
        content = os.fsencode(os.readlink(path))
    else:
        with open(path, "rb") as f:
            content = f.read()
    return hashlib.sha1(b"blob %d\0" % len(content) + content).digest()


def _tracked_changed(root: str, entries: dict[str, _Entry]) -> bool:
    for rel, entry in entries.items():
        if entry.mode == 0o160000:  # a submodule: its own repository
            continue
        path = os.path.join(root, rel)
        try:
            st = os.lstat(path)
        except OSError:
            return True
        same_stat = (
            st.st_size & 0xFFFFFFFF == entry.size
            and divmod(st.st_mtime_ns, 1_000_000_000) == entry.mtime
        )
        if not same_stat and _blob_sha(path, st) != entry.sha:
            return True
    return False


def _ignore_rules(path: str, base: str) -> list[tuple[str, str, bool, bool, bool]]:
    """(base, pattern, negated, dir_only, anchored) per line of an ignore file."""
    rules = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return rules
    for line in lines:
        line = line.rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line[1:] if negated else line
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if line.startswith("**/"):
            line = line[3:]
        anchored = "/" in line
        rules.append((base, line.lstrip("/"), negated, dir_only, anchored))
    return rules


def _ignored(rules: list, rel: str, is_dir: bool) -> bool:
    result = False
    for base, pattern, negated, dir_only, anchored in rules:
        if dir_only and not is_dir:
            continue
        if base and not rel.startswith(base + "/"):
            continue
        subject = rel[len(base) + 1 :] if base else rel
        if fnmatch.fnmatchcase(subject if anchored else subject.rsplit("/", 1)[-1], pattern):
            result = not negated
    return result


def _has_untracked(root: str, gdir: str, tracked: set[str]) -> bool:
    """Whether the walk finds a file that is neither tracked nor ignored (or gives up: True)."""
    tracked_dirs = {p.rsplit("/", i)[0] for p in tracked for i in range(1, p.count("/") + 1)}
    visited = 0
    stack = [("", _ignore_rules(os.path.join(_common_dir(gdir), "info", "exclude"), ""))]
    while stack:
        rel_dir, inherited = stack.pop()
        directory = os.path.join(root, rel_dir)
        rules = inherited + _ignore_rules(os.path.join(directory, ".gitignore"), rel_dir)
        try:
            children = list(os.scandir(directory))
        except OSError:
            continue
        for child in children:
            visited += 1
            if visited > _WALK_LIMIT:
                return True
            rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
            if child.name == ".git" or rel in tracked:
                continue
            is_dir = child.is_dir(follow_symlinks=False)
            if _ignored(rules, rel, is_dir):
                continue
            if not is_dir:
                return True
            if rel in tracked_dirs or not os.path.exists(os.path.join(child.path, ".git")):
                stack.append((rel, rules))
    return False


def maybe_changed(repo: Checkout) -> bool:
    """False only when the tree certainly matches HEAD (tracked files and no untracked ones)."""
    index = _read_index(repo.git_dir)
    if index is None:
        return True
    entries, complete = index
    return (
        not complete
        or _tracked_changed(repo.root, entries)
        or _has_untracked(repo.root, repo.git_dir, set(entries))
    )


# -- the changes themselves (git, once per process, only when the tree may have changed) --------


class Changes(NamedTuple):
    dirty: bool | None  # None: git is not installed and the in-process check saw a change
    diff: str
    untracked: list[str]


def _diff_limit() -> int:
    text = os.environ.get("FITTRACE_CODE_DIFF_MAX_BYTES", "").strip()
    return int(text) if text.isdigit() else MAX_DIFF_BYTES


def cap_diff(diff: str, limit: int) -> str:
    """The diff, cut to ``limit`` bytes at a line end with a note saying so when longer."""
    data = diff.encode("utf-8", "surrogateescape")
    if len(data) <= limit:
        return diff
    cut = data[:limit]
    cut = cut[: cut.rfind(b"\n") + 1]
    return cut.decode("utf-8", "replace") + (
        f"# fittrace: diff cut at {len(cut)} of {len(data)} bytes "
        f"(limit {limit}); run 'git diff HEAD' in the checkout for all of it\n"
    )


def _git(repo: Checkout, *args: str) -> str:
    import subprocess  # only here: most processes never run git

    return subprocess.run(
        ["git", "-c", "core.quotepath=off", *args],
        cwd=repo.root,
        capture_output=True,
        check=True,
        timeout=60,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat"},
    ).stdout.decode("utf-8", "surrogateescape")


@functools.lru_cache(maxsize=8)
def changes(repo: Checkout) -> Changes:
    """The uncommitted diff and untracked files of ``repo`` (cached per process)."""
    import shutil

    if not maybe_changed(repo):
        return Changes(False, "", [])
    if shutil.which("git") is None:
        return Changes(None, "", [])
    diff = _git(repo, "diff", "HEAD", "--no-color", "--no-ext-diff", "--binary")
    untracked = _git(repo, "ls-files", "-z", "--others", "--exclude-standard").split("\0")
    return Changes(bool(diff), cap_diff(diff, _diff_limit()), sorted(p for p in untracked if p))


def file_sha256(path: str) -> str | None:
    """The SHA-256 of a file's content, or None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None
