"""Means of loss values that never make fittrace wait for a device.

Values come in as Python floats (read from CPU tensors: no device to wait for, and the same
float the user's own ``loss.item()`` gives) or as detached scalar tensors on an accelerator.
Those are only referenced (no kernel launch, no synchronisation); every ``FOLD_AT`` of them
are summed on the device (one kernel, still no sync) so memory stays bounded however long an
epoch is. ``mean()`` reads the device sum back: the only synchronisation, once per epoch (or
per logged step).
"""

from __future__ import annotations

from typing import Any

FOLD_AT = 512


def scalar(tensor: Any) -> Any:
    """What to keep of a one-element tensor: its float on CPU, else a detached reference."""
    return tensor.item() if tensor.is_cpu else tensor.detach()


def device_sum(values: list[Any]) -> Any:
    """The sum of scalar tensors as one scalar tensor (float64, float32 where the device has none)."""
    import torch

    try:
        stacked = torch.stack(values)
    except RuntimeError:  # different devices or shapes: bring them to the first one's device
        first = values[0].device
        stacked = torch.stack([v.reshape(()).to(first) for v in values])
    dtype = torch.float32 if stacked.device.type == "mps" else torch.float64
    return stacked.sum(dtype=dtype)


class Accumulator:
    """A running sum and count of values made by ``scalar``."""

    __slots__ = ("_tensors", "_total", "count")

    def __init__(self) -> None:
        self._tensors: list[Any] = []
        self._total = 0.0
        self.count = 0

    def add(self, value: Any) -> None:
        self.count += 1
        if type(value) is float:
            self._total += value
            return
        tensors = self._tensors
        tensors.append(value)
        if len(tensors) >= FOLD_AT:
            self._tensors = [device_sum(tensors)]

    def extend(self, values: list[Any]) -> None:
        for value in values:
            self.add(value)

    def mean(self) -> float | None:
        """The mean of everything added (at most one device read), or None when nothing was."""
        if not self.count:
            return None
        total = self._total + (float(device_sum(self._tensors)) if self._tensors else 0.0)
        return total / self.count

    def reset(self) -> None:
        self._tensors = []
        self._total = 0.0
        self.count = 0


def mean(values: list[Any]) -> float | None:
    """The mean of a few values made by ``scalar``."""
    accumulator = Accumulator()
    accumulator.extend(values)
    return accumulator.mean()
