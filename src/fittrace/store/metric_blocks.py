"""Metric histories as column blocks: each row of ``metric_blocks`` holds a run's points of one
key as three packed little-endian columns (int64 steps, int64 timestamps, float64 values).

A million points read as a few hundred rows and three ``array.frombytes`` per row, where one
row per point costs the database driver about half a microsecond each. A write adds one block
per (run, key) in the batch; a few points (fewer than ``SMALL_BLOCK``) extend their key's last
block instead while it is small too, so a slow logger, one point per write, leaves a block per
256 points, not per point, and each write rewrites at most 6 KB.
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


def unpacked(steps: bytes, timestamps: bytes, values: bytes) -> Block:
    return unpack("q", steps), unpack("q", timestamps), unpack("d", values)


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
    if ordered and more_ordered:
        last = (_INT64.unpack_from(steps, len(steps) - 8)[0],)
        last += (_INT64.unpack_from(timestamps, len(timestamps) - 8)[0],)
        ordered = last <= (more[0][0], more[1][0])
    else:
        ordered = False
    added = packed(more)
    return (steps + added[0], timestamps + added[1], values + added[2]), ordered


def history(rows: Sequence[tuple[Any, bytes, bytes, bytes]]) -> Block:
    """One key's history from its ``(ordered, steps, timestamps, values)`` block rows in the
    order written: concatenated, or stably sorted by (step, timestamp) when the blocks are not
    already in that order."""
    blocks = [unpacked(s, t, v) for _, s, t, v in rows]
    ordered = all(row[0] for row in rows)
    steps, timestamps, values = array("q"), array("q"), array("d")
    for b in blocks:
        if steps and ordered:
            ordered = (steps[-1], timestamps[-1]) <= (b[0][0], b[1][0])
        steps += b[0]
        timestamps += b[1]
        values += b[2]
    if not ordered:
        order = sorted(range(len(steps)), key=lambda i: (steps[i], timestamps[i]))
        steps, timestamps, values = (
            array(c.typecode, map(c.__getitem__, order)) for c in (steps, timestamps, values)
        )
    return steps, timestamps, values
