"""Framework version checks against PEP 440 specifiers, with a small comparator (``packaging`` costs ~10 ms to import)."""

from __future__ import annotations

import re
import sys
from types import ModuleType

_RELEASE = re.compile(
    r"^\s*v?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview|dev|post)[-_.]?(\d*))?"
)
_PRE_RANK = {
    "dev": 0,
    "a": 1,
    "alpha": 1,
    "b": 2,
    "beta": 2,
    "c": 3,
    "rc": 3,
    "pre": 3,
    "preview": 3,
}
_FINAL = 4
_POST = 5


def installed_version(distribution: str | None, module_name: str) -> str | None:
    """The imported module's ``__version__``, else the installed distribution's version, else None."""
    module = sys.modules.get(module_name)
    version = getattr(module, "__version__", None) if isinstance(module, ModuleType) else None
    if isinstance(version, str):
        return version
    if distribution:
        from fittrace.tracking.environment import installed_version

        return installed_version(distribution)
    return None


def version_matches(version: str, specifier: str) -> bool:
    """Whether ``version`` satisfies the PEP 440 ``specifier`` (e.g. ``">=1.3,<2"``)."""
    return all(
        _clause_matches(version, clause) for clause in specifier.split(",") if clause.strip()
    )


def _key(version: str) -> tuple[tuple[int, ...], int, int]:
    match = _RELEASE.match(version)
    if match is None:
        raise ValueError(f"cannot parse version {version!r}")
    release = tuple(int(p) for p in match.group(1).split("."))
    kind = match.group(2)
    rank = _FINAL if kind is None else _POST if kind == "post" else _PRE_RANK[kind]
    return release, rank, int(match.group(3) or 0)


def _padded(a: tuple[int, ...], n: int) -> tuple[int, ...]:
    return a + (0,) * (n - len(a))


def _clause_matches(version: str, clause: str) -> bool:
    clause = clause.strip()
    op = next(
        o for o in ("~=", "===", "==", "!=", "<=", ">=", "<", ">", "") if clause.startswith(o)
    )
    target = clause[len(op) :].strip()
    if op in ("==", "!=") and target.endswith(".*"):
        prefix = tuple(int(p) for p in target[:-2].split("."))
        equal = _key(version)[0][: len(prefix)] == prefix
        return equal if op == "==" else not equal
    (rel, rank, num), (trel, trank, tnum) = _key(version), _key(target)
    n = max(len(rel), len(trel))
    left, right = (_padded(rel, n), rank, num), (_padded(trel, n), trank, tnum)
    if op == "~=":
        prefix = trel[:-1]
        return left >= right and rel[: len(prefix)] == prefix
    same_release = left[0] == right[0]
    if op == ">" and same_release and rank == _POST and trank != _POST:
        return False  # PEP 440: >V excludes V's post-releases
    if op == "<" and same_release and rank < _FINAL and trank >= _FINAL:
        return False  # PEP 440: <V excludes V's pre-releases
    return {
        "": left == right,
        "==": left == right,
        "===": version == target,
        "!=": left != right,
        "<=": left <= right,
        ">=": left >= right,
        "<": left < right,
        ">": left > right,
    }[op]
