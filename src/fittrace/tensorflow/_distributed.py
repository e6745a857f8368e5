"""Which process records in distributed Keras training: the chief, or rank 0."""

from __future__ import annotations

import json
import os
import sys


def is_chief() -> bool:
    """False on every process but the one that should record.

    TensorFlow multi-worker (``TF_CONFIG``): the ``chief`` task, or worker 0 when the
    cluster has no chief; evaluators and parameter servers never record. PyTorch
    (``torch.distributed`` initialized) and JAX multi-process: rank / process index 0.
    Frameworks are only consulted if already imported.
    """
    task = _tf_config_task()
    if task is not None:
        kind, index, cluster = task
        if kind == "chief":
            return True
        if kind == "worker":
            return index == 0 and "chief" not in cluster
        return False
    torch = sys.modules.get("torch")
    if torch is not None:
        dist = getattr(torch, "distributed", None)
        if dist is not None and dist.is_available() and dist.is_initialized():
            return dist.get_rank() == 0
    jax = sys.modules.get("jax")
    if jax is not None and os.environ.get("KERAS_BACKEND") == "jax":
        return jax.process_index() == 0
    return True


def _tf_config_task() -> tuple[str, int, dict] | None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
        task = config.get("task") or {}
        kind = task.get("type")
        if not kind:
            return None
        return str(kind), int(task.get("index", 0)), dict(config.get("cluster") or {})
    except (ValueError, TypeError, AttributeError):
        return None
