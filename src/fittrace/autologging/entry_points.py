"""Find the ``fittrace.autologgers`` entry points without importing ``importlib.metadata``.

``importlib.metadata`` takes ~30 ms to import and reads every distribution's
metadata; this scans ``*.dist-info``/``*.egg-info`` folders on ``sys.path`` for
an ``entry_points.txt`` and reads only the wanted section, in a few
milliseconds. Like ``importlib.metadata``, the first distribution of a name on
``sys.path`` wins. Zip archives on ``sys.path`` are not searched.
"""

from __future__ import annotations

import os
import sys

from fittrace.distributions import normalized


class EntryPoint:
    """One entry point: its name, its "module:attr" value and the distribution declaring it."""

    __slots__ = ("name", "value", "distribution")

    def __init__(self, name: str, value: str, distribution: str) -> None:
        self.name = name
        self.value = value
        self.distribution = distribution

    def __repr__(self) -> str:
        return f"EntryPoint({self.name!r}, {self.value!r}, {self.distribution!r})"

    def load(self) -> object:
        """Import the module and return the object ``value`` ("module:attr.path") names."""
        import importlib

        module_name, _, attrs = self.value.partition(":")
        obj: object = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


def entry_points(group: str) -> list[EntryPoint]:
    """Every entry point of ``group`` declared by a distribution on ``sys.path``."""
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for entry in sys.path:
        base = entry or os.curdir
        try:
            with os.scandir(base) as it:
                names = sorted(e.name for e in it if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        for folder in names:
            dist = normalized(folder.rsplit(".", 1)[0].split("-")[0])
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(base, folder, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            found.extend(EntryPoint(n, v, dist) for n, v in _section(text, group))
    return found


def _section(text: str, group: str) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == group
        elif inside and "=" in line:
            name, _, value = line.partition("=")
            items.append((name.strip(), value.strip()))
    return items
