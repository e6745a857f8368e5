"""Signature types under the name MLflow users import them from (``mlflow.types``)."""

from fittrace.models.signature import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec

__all__ = ["ColSpec", "DataType", "ParamSchema", "ParamSpec", "Schema", "TensorSpec"]
