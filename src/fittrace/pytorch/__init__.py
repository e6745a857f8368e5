"""PyTorch: ``autolog()`` (Lightning and plain training loops) and the ``pytorch`` model flavor.

``import fittrace.pytorch`` does not import torch, and the flavor loads on first use.
"""

from __future__ import annotations

from typing import Any

from fittrace._lazy import lazy_attributes

_FLAVOR_NAMES = "FLAVOR_NAME load_model load_state_dict log_model save_model _load_pyfunc".split()
__getattr__ = lazy_attributes(__name__, dict.fromkeys(_FLAVOR_NAMES, "._flavor"))


def autolog(**kwargs: Any) -> None:
    """Record Lightning ``Trainer.fit`` and plain loops (see ``fittrace.pytorch._autolog.PytorchSettings``)."""
    from fittrace.pytorch._autolog import autolog as _autolog

    _autolog(**kwargs)


__all__ = ["autolog", *(n for n in _FLAVOR_NAMES if not n.startswith("_"))]
