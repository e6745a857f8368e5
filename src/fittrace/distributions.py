"""Distribution names as pip compares them; standard library only, cheap to import."""

from __future__ import annotations


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them (runs of "-", "_" and "." are one "-", lower
    case): ``Scikit_Learn`` -> ``scikit-learn``."""
    for separator in "_.":
        name = name.replace(separator, "-")
    while "--" in name:
        name = name.replace("--", "-")
    return name.lower()
