"""PyTorch: ``autolog()`` (Lightning and plain training loops) and the ``pytorch`` model flavor.

``import fittrace.pytorch`` does not import torch; the functions below do when called.
"""

from __future__ import annotations

from typing import Any

from fittrace.pytorch._flavor import (
    FLAVOR_NAME,
    _load_pyfunc,
    load_model,
    load_state_dict,
    log_model,
    save_model,
)


def autolog(**kwargs: Any) -> None:
    """Record Lightning ``Trainer.fit`` and plain loops (see ``fittrace.pytorch._autolog.PytorchSettings``)."""
    from fittrace.pytorch._autolog import autolog as _autolog

    _autolog(**kwargs)


__all__ = [
    "FLAVOR_NAME",
    "_load_pyfunc",
    "autolog",
    "load_model",
    "load_state_dict",
    "log_model",
    "save_model",
]
