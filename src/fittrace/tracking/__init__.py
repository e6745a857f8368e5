"""Tracking: the fluent API, the Client, the recorder and store resolution."""

from fittrace.tracking.client import Client, MlflowClient

__all__ = ["Client", "MlflowClient"]
