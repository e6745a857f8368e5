"""Datasets to log as run inputs, as MLflow users build them: ``fittrace.data.from_numpy/from_pandas``.

A ``Dataset`` holds the data in memory and describes it by ``name``, ``digest``, ``source``,
``schema`` and ``profile``; ``fittrace.log_input(dataset, context="training")`` records that
description (never a copy of the data). MLflow's own datasets (``mlflow.data.from_numpy``) are
accepted by ``log_input`` too, through their ``to_dict()``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any
from urllib.parse import urlparse

from fittrace import tags
from fittrace.entities import DatasetInput
from fittrace.exceptions import InvalidParameterError

__all__ = ["Dataset", "DatasetSource", "from_numpy", "from_pandas", "dataset_input"]


class DatasetSource:
    """Where a dataset came from: a path or URI, or (none given) the code that built it."""

    def __init__(self, uri: str | os.PathLike | None = None) -> None:
        self.uri = os.fspath(uri) if uri is not None else None

    @property
    def source_type(self) -> str:
        if self.uri is None:
            return "code"
        scheme = urlparse(self.uri).scheme.lower()
        if scheme in ("", "file") or len(scheme) == 1:  # a Windows drive letter is a path
            return "local"
        return "http" if scheme == "https" else scheme

    def to_dict(self) -> dict[str, Any]:
        if self.uri is None:
            return {"tags": {tags.SOURCE_NAME: sys.argv[0] if sys.argv else ""}}
        return {"uri": self.uri}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def _get_source_type(self) -> str:  # MLflow's spelling
        return self.source_type

    def __repr__(self) -> str:
        return f"DatasetSource({self.uri!r})"


class Dataset:
    """In-memory features (and targets) plus their description; what ``log_input`` records.

    ``df`` is the whole DataFrame of ``from_pandas`` (None for arrays); the schema describes all
    its columns, targets included, as MLflow's does.
    """

    def __init__(
        self,
        features: Any,
        targets: Any = None,
        source: str | os.PathLike | DatasetSource | None = None,
        name: str | None = None,
        digest: str | None = None,
        predictions: Any = None,
        *,
        df: Any = None,
    ) -> None:
        from fittrace.autologging import datasets

        self.features = features
        self.targets = targets
        self.predictions = predictions
        self.df = df
        self.source = source if isinstance(source, DatasetSource) else DatasetSource(source)
        self.name = name or "dataset"
        self.digest = digest or datasets.digest(features, targets)
        self._schema = (
            datasets.schema_text(features, targets)
            if df is None
            else datasets.schema_text(df, None)
        )
        self._profile = json.dumps(datasets.profile(features, targets))

    @property
    def source_type(self) -> str:
        return self.source.source_type

    @property
    def schema(self) -> dict[str, Any]:
        """MLflow's schema dict: ``{"mlflow_colspec": [...]}`` (a DataFrame's columns) or
        ``{"mlflow_tensorspec": {"features": "<schema JSON>", "targets": ...}}`` (arrays)."""
        return json.loads(self._schema)

    @property
    def profile(self) -> dict[str, Any]:
        """Shapes, element counts and byte sizes of the features and targets."""
        return json.loads(self._profile)

    def to_dict(self) -> dict[str, str]:
        """MLflow's dict form: ``source``, ``schema`` and ``profile`` as JSON strings."""
        return {
            "name": self.name,
            "digest": self.digest,
            "source": self.source.to_json(),
            "source_type": self.source_type,
            "schema": self._schema,
            "profile": self._profile,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, digest={self.digest!r}, source_type={self.source_type!r})"
        )


def from_numpy(
    features: Any,
    source: str | os.PathLike | DatasetSource | None = None,
    targets: Any = None,
    name: str | None = None,
    digest: str | None = None,
) -> Dataset:
    """A dataset of numpy arrays (features, optional targets)."""
    return Dataset(features, targets, source, name, digest)


def from_pandas(
    df: Any,
    source: str | os.PathLike | DatasetSource | None = None,
    targets: str | None = None,
    name: str | None = None,
    digest: str | None = None,
    predictions: str | None = None,
) -> Dataset:
    """A dataset of a DataFrame; ``targets``/``predictions`` name columns of it."""
    for column in (targets, predictions):
        if column is not None and column not in df.columns:
            raise InvalidParameterError(f"The DataFrame has no column {column!r}")
    features = df.drop(columns=[c for c in (targets, predictions) if c is not None])
    return Dataset(
        features,
        df[targets] if targets is not None else None,
        source,
        name,
        digest,
        df[predictions] if predictions is not None else None,
        df=df,
    )


def dataset_input(dataset: Any, context: str | None = None) -> DatasetInput:
    """A run input for a fittrace or MLflow dataset (read through its ``to_dict()``) or a DatasetInput."""
    from fittrace.models.signature import dict_form

    if isinstance(dataset, DatasetInput):
        record = dataset
    else:
        fields = dict_form(dataset)
        if not isinstance(fields, dict) or "name" not in fields or "digest" not in fields:
            raise InvalidParameterError(
                "log_input takes a dataset from fittrace.data (or mlflow.data) or a DatasetInput, "
                f"got {type(dataset).__name__}"
            )
        record = DatasetInput(
            **{key: _text(fields.get(key)) for key in ("name", "digest", "source_type", "source")},
            schema=_text(fields.get("schema")),
            profile=_text(fields.get("profile")),
        )
    if context is not None:
        record = DatasetInput(**{**record.__dict__, "context": context})
    return record


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)
