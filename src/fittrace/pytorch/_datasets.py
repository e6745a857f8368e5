"""The data a PyTorch training iterates, as run inputs (``log_datasets``): described, never copied.

Shared by Lightning (``_lightning``) and plain loops (``_loop``); what a ``DataLoader``'s
``dataset`` is recorded as:

- ``TensorDataset``: features = its first tensor, targets = its last (when it holds two or
  more), described like arrays in every integration (``fittrace.autologging.datasets``):
  MLflow's schema ``{"mlflow_tensorspec": {"features": "<schema JSON>", "targets": ...}}``
  (numpy dtype names: ``float32``), profile ``features_shape`` / ``features_size`` / ``features_nbytes``
  (and ``targets_*``), a digest of dtypes, shapes and bounded row samples (only the sampled
  rows are copied to the host, once per dataset and run);
- any other dataset: schema ``{"features": {"type": "dataset", "class": "<module>.<qualname>"}}``
  and profile ``num_rows`` (its ``len()``, when it has one). Its contents are not read: the
  digest hashes the class and that length only, so two datasets of one class and length
  share a digest;
- an iterable without a ``dataset`` attribute (not a DataLoader): nothing.

Inputs are named ``dataset`` (as Keras names its inputs); several loaders in a list are
``dataset_0``, ``dataset_1``, ... and loaders in a dict are named by their keys. The source is
the script (``source_type`` "code"), as for scikit-learn and XGBoost. A run records each
dataset once per context, however many loaders or epochs iterate it.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Callable, Mapping
from typing import Any

DEFAULT_NAME = "dataset"


def named_datasets(loaders: Any, name: str = DEFAULT_NAME) -> list[tuple[str, Any]]:
    """``(name, dataset)`` of each DataLoader in ``loaders`` (one, or lists/dicts of them, nested)."""
    if loaders is None:
        return []
    if isinstance(loaders, Mapping):
        return [pair for key, value in loaders.items() for pair in named_datasets(value, str(key))]
    if isinstance(loaders, (list, tuple)):
        if len(loaders) == 1:
            return named_datasets(loaders[0], name)
        return [
            pair
            for index, value in enumerate(loaders)
            for pair in named_datasets(value, f"{name}_{index}")
        ]
    dataset = getattr(loaders, "dataset", None)
    return [] if dataset is None else [(name, dataset)]


def _tensors(dataset: Any) -> tuple[Any, ...] | None:
    from torch.utils.data import TensorDataset

    if isinstance(dataset, TensorDataset) and dataset.tensors:
        return tuple(dataset.tensors)
    return None


def _length(dataset: Any) -> int | None:
    try:
        return int(len(dataset))
    except Exception:  # no __len__ (iterable-style datasets), or one that refuses
        return None


def describe(dataset: Any, name: str, context: str, source: str) -> Any:
    """The run input for one dataset (see the module docstring)."""
    from fittrace.autologging.datasets import dataset_input
    from fittrace.entities import DatasetInput

    tensors = _tensors(dataset)
    if tensors is not None:
        targets = tensors[-1] if len(tensors) > 1 else None
        return dataset_input(tensors[0], targets, name, context, source)
    cls = type(dataset)
    class_name = f"{cls.__module__}.{cls.__qualname__}"
    rows = _length(dataset)
    digest = hashlib.blake2b(f"{class_name}:{rows}".encode(), digest_size=4).hexdigest()
    return DatasetInput(
        name=name,
        digest=digest,
        source_type="code",
        source=json.dumps({"source_name": source}),
        schema=json.dumps({"features": {"type": "dataset", "class": class_name}}),
        profile=json.dumps({} if rows is None else {"num_rows": rows}),
        context=context,
    )


def _reference(obj: Any) -> Callable[[], Any]:
    try:
        return weakref.ref(obj)
    except TypeError:  # not weakly referenceable: kept alive until the run ends
        return lambda: obj


class RunInputs:
    """The datasets one run has recorded: each (dataset, context) is described and written once.

    Datasets are held by weak reference, so recording keeps none of them alive.
    """

    def __init__(self, client: Any, run_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self._seen: dict[tuple[int, str], Callable[[], Any]] = {}
        self._written: set[tuple[str, str, str]] = set()

    def seen(self, dataset: Any, context: str) -> bool:
        """Whether ``dataset`` was already recorded in ``context`` (one dict lookup)."""
        ref = self._seen.get((id(dataset), context))
        return ref is not None and ref() is dataset

    def _first_time(self, dataset: Any, context: str) -> bool:
        if self.seen(dataset, context):
            return False
        # a new dataset: forget those garbage-collected since (their ids may be reused)
        self._seen = {key: ref for key, ref in self._seen.items() if ref() is not None}
        self._seen[(id(dataset), context)] = _reference(dataset)
        return True

    def record(self, named: list[tuple[str, Any]], context: str) -> None:
        """Describe and log the datasets in ``named`` not yet recorded in ``context``.

        A dataset counts as recorded before it is described, so one that cannot be described
        fails once, not at every epoch; the others are still written, then its error is raised.
        """
        new = [(name, dataset) for name, dataset in named if self._first_time(dataset, context)]
        if not new:
            return
        from fittrace.tracking.context import source_name

        source = source_name()
        inputs, error = [], None
        for name, dataset in new:
            try:
                described = describe(dataset, name, context, source)
            except Exception as exc:
                error = error or exc
                continue
            key = (described.name, described.digest, described.context)
            if key not in self._written:
                self._written.add(key)
                inputs.append(described)
        if inputs:
            self.client.log_inputs(self.run_id, inputs)
        if error is not None:
            raise error
