"""Looking at Keras training input without consuming it.

Keras takes arrays (numpy, backend tensors, pandas, and dicts/lists of them),
``tf.data.Dataset``, ``keras.utils.PyDataset``, torch ``DataLoader`` and Python
generators. The batch size and a small sample for the model signature are read
from each without using up the user's data: datasets are re-iterable (a fresh
``take(1)`` iterator runs the pipeline for one batch only, never the whole
dataset), ``PyDataset`` is indexable, and a Python generator is peeked once and
handed to Keras again as a generator yielding it first, then the rest.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Generator, Iterator, Mapping
from typing import Any

DEFAULT_BATCH_SIZE = 32  # what Keras uses for array input without batch_size or steps
SAMPLE_ROWS = 5


class Peeked:
    """A generator that was peeked: its ``first`` element, and ``iterator``, a generator replaying all."""

    def __init__(self, generator: Generator[Any, None, None]) -> None:
        self.first = next(generator)
        self.iterator = _replay(self.first, generator)


def _replay(first: Any, rest: Iterator[Any]) -> Generator[Any, None, None]:
    yield first
    yield from rest


def is_generator(x: Any) -> bool:
    """A Python generator: Keras's one-shot input, which loses what anyone else reads from it."""
    return inspect.isgenerator(x)


def is_tf_dataset(x: Any) -> bool:
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(x, tf.data.Dataset)


def is_py_dataset(x: Any) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(x, keras.utils.PyDataset)


def is_array_input(x: Any) -> bool:
    """Arrays, tensors, frames, and dicts/lists/tuples of them: what Keras batches itself."""
    if isinstance(x, Mapping):
        return bool(x) and all(is_array_input(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return bool(x) and all(is_array_input(v) for v in x)
    return hasattr(x, "shape") and hasattr(x, "__getitem__") and not is_tf_dataset(x)


def unpack(element: Any) -> tuple[Any, Any, Any]:
    """``x``, ``y``, ``sample_weight`` of one batch, following Keras's own rule."""
    if isinstance(element, list):
        element = tuple(element)
    if not isinstance(element, tuple):
        return element, None, None
    return (tuple(element) + (None, None))[:3]


def leading_dim(x: Any) -> int | None:
    """The number of rows of an array, or of the first array in a nested structure."""
    if isinstance(x, Mapping):
        x = next(iter(x.values()), None)
        return leading_dim(x)
    if isinstance(x, (list, tuple)):
        return leading_dim(x[0]) if x else None
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) == 0 or shape[0] is None:
        return None
    return int(shape[0])


def batch_size(
    x: Any, bound: int | None, steps_per_epoch: int | None, peeked: Peeked | None
) -> int | None:
    """The batch size this fit runs with, read without consuming ``x``."""
    if bound is not None:
        return int(bound)
    if peeked is not None:
        return leading_dim(unpack(peeked.first)[0])
    if is_tf_dataset(x):
        return _dataset_batch_size(x)
    own = getattr(x, "batch_size", None)  # torch DataLoader, most PyDataset subclasses
    if isinstance(own, int):
        return own
    if is_py_dataset(x):
        return leading_dim(unpack(x[0])[0]) if len(x) else None
    if is_array_input(x):
        rows = leading_dim(x)
        if steps_per_epoch and rows:
            return int(math.ceil(rows / steps_per_epoch))
        return DEFAULT_BATCH_SIZE
    return None


def _dataset_batch_size(dataset: Any) -> int | None:
    """Walk the pipeline from its last stage down to the nearest ``batch`` (None if there is none)."""
    node = dataset
    while node is not None:
        if "Unbatch" in type(node).__name__:
            return None
        size = getattr(node, "_batch_size", None)
        if size is not None:
            try:
                return int(size)
            except (TypeError, ValueError):
                return None
        node = getattr(node, "_input_dataset", None)
    return None


def sample_inputs(x: Any, peeked: Peeked | None, rows: int = SAMPLE_ROWS) -> Any | None:
    """A few rows of model input as numpy (or pandas) data, for signatures and input examples.

    Datasets give one batch from a fresh ``take(1)`` iterator; nothing is consumed or
    materialized beyond that batch. Returns None when the input cannot be looked at.
    """
    if peeked is not None:
        batch = unpack(peeked.first)[0]
    elif is_tf_dataset(x):
        batch = unpack(next(iter(x.take(1))))[0]
    elif is_py_dataset(x):
        batch = unpack(x[0])[0] if len(x) else None
    elif is_array_input(x):
        batch = x
    elif hasattr(x, "dataset") and hasattr(x, "batch_size"):  # torch DataLoader
        batch = unpack(next(iter(x)))[0]
    else:
        return None
    return None if batch is None else _head(batch, rows)


def _head(x: Any, rows: int) -> Any:
    if isinstance(x, Mapping):
        return {k: _head(v, rows) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_head(v, rows) for v in x]
    if hasattr(x, "iloc"):  # pandas
        return x.iloc[:rows]
    return to_numpy(x[:rows])


def to_numpy(x: Any) -> Any:
    """A numpy array from numpy, TensorFlow, torch or other backend tensors."""
    import numpy as np

    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy"):
        if hasattr(x, "detach"):  # torch
            x = x.detach().cpu()
        return np.asarray(x.numpy())
    return np.asarray(x)


def is_numpy_or_pandas(x: Any) -> bool:
    module = type(x).__module__
    return module == "numpy" or module.startswith("pandas")


def array_data(x: Any) -> Any | None:
    """``x`` as data a run input can describe: numpy/pandas as is, a backend tensor (TensorFlow,
    torch, JAX) as numpy; None for anything else (datasets, generators, dicts)."""
    if x is None or is_numpy_or_pandas(x):
        return x
    module = type(x).__module__
    if module.startswith(("tensorflow", "torch", "jax", "jaxlib")) and hasattr(x, "shape"):
        return to_numpy(x)
    return None


def dataset_input(x: Any, y: Any, context: str) -> Any:
    """A run input (name, digest, schema, profile; never the data) for numpy/pandas ``x`` and ``y``."""
    from fittrace.autologging.datasets import dataset_input as describe  # the shared digest code

    return describe(
        x,
        y if y is not None and is_numpy_or_pandas(y) else None,
        name="dataset",
        context=context,
        source="keras.Model.fit",
    )
