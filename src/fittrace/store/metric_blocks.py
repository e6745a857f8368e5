"""Metric histories as column blocks: each row of ``metric_blocks`` holds a run's points of one
key as three packed little-endian columns (int64 steps, int64 timestamps, float64 values).

A million points read as a few hundred rows and three ``array.frombytes`` per row, where one
row per point costs the database driver about half a microsecond each. A write adds one block
per (run, key) in the batch; a few points (fewer than ``SMALL_BLOCK``) extend their key's last
block instead while it is small too, so a slow logger, one point per write, leaves a block per
256 points, not per point, and each write rewrites at most about 12 KB.
``ordered`` says the block's points are already in history order; a history is read in the
order ``(step, timestamp)``, ties in the order logged, as one row per point was.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence
from itertools import islice
from operator import le, lt
from typing import Any

SMALL_BLOCK = 256  # points: a write of fewer joins its key's last block, if that holds fewer
_LITTLE = sys.byteorder == "little"
_INT64 = struct.Struct("<q")

Block = tuple[array, array, array]  # steps ('q'), timestamps ('q'), values ('d')


def pack(column: array) -> bytes:
    """The column's bytes, little-endian."""
    if not _LITTLE:
        column = array(column.typecode, column)
        column.byteswap()
    return column.tobytes()


def unpack(code: str, data: bytes) -> array:
    column = array(code)
    column.frombytes(data)
    if not _LITTLE:
        column.byteswap()
    return column


def block(steps: Sequence[int], timestamps: Sequence[int], values: Sequence[float]) -> Block:
    return array("q", steps), array("q", timestamps), array("d", values)


def packed(b: Block) -> tuple[bytes, bytes, bytes]:
    return pack(b[0]), pack(b[1]), pack(b[2])


def _point(steps: bytes, timestamps: bytes, offset: int) -> tuple[int, int]:
    """The (step, timestamp) at byte ``offset`` of packed columns (-8: the last)."""
    step = _INT64.unpack_from(steps, offset % len(steps))[0]
    return step, _INT64.unpack_from(timestamps, offset % len(timestamps))[0]


def in_order(steps: Sequence[int], timestamps: Sequence[int]) -> bool:
    """Whether the points are non-decreasing in (step, timestamp). Cheap when steps rise or all
    share one step (the usual shapes); pairs are compared only otherwise."""
    if len(steps) < 2 or all(map(lt, steps, islice(steps, 1, None))):
        return True
    if steps and steps[0] == steps[-1] and steps.count(steps[0]) == len(steps):
        return all(map(le, timestamps, islice(timestamps, 1, None)))
    pairs = list(zip(steps, timestamps, strict=True))
    return all(map(le, pairs, islice(pairs, 1, None)))


def last_index(steps: Sequence[int], timestamps: Sequence[int], ordered: bool) -> int:
    """The index of the point a key's latest value comes from: the highest (step, timestamp),
    the later one on a tie."""
    if ordered:
        return len(steps) - 1
    return max(range(len(steps)), key=lambda i: (steps[i], timestamps[i], i))


def appended(
    columns: tuple[bytes, bytes, bytes], ordered: bool, more: Block, more_ordered: bool
) -> tuple[tuple[bytes, bytes, bytes], bool]:
    """A stored block's packed columns with ``more`` points after them, and whether the whole
    is in order (the stored block's last point is read from its bytes, nothing is unpacked)."""
    steps, timestamps, values = columns
    ordered = ordered and more_ordered and _point(steps, timestamps, -8) <= (more[0][0], more[1][0])
    added = packed(more)
    return (steps + added[0], timestamps + added[1], values + added[2]), ordered


def history(rows: Sequence[tuple[Any, bytes, bytes, bytes]]) -> Block:
    """One key's history from its ``(ordered, steps, timestamps, values)`` block rows in the
    order written: concatenated (one copy of the bytes), or stably sorted by (step, timestamp)
    when the blocks are not already in that order."""
    ordered = all(row[0] for row in rows)
    last = None
    for _, steps, timestamps, _ in rows if ordered else ():
        if last is not None and last > _point(steps, timestamps, 0):
            ordered = False
            break
        last = _point(steps, timestamps, -8)
    steps, timestamps, values = (
        unpack(code, b"".join(row[i] for row in rows)) for i, code in ((1, "q"), (2, "q"), (3, "d"))
    )
    if not ordered:
        order = sorted(range(len(steps)), key=lambda i: (steps[i], timestamps[i]))
        steps, timestamps, values = (
            array(c.typecode, map(c.__getitem__, order)) for c in (steps, timestamps, values)
        )
    return steps, timestamps, values
