"""An entry of a run's artifact listing."""

from __future__ import annotations

from dataclasses import dataclass

from fittrace.entities import Record


@dataclass(frozen=True, repr=False, eq=False)
class FileInfo(Record):
    path: str
    is_dir: bool
    file_size: int | None = None
