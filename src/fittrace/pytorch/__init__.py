"""PyTorch: ``autolog()`` (Lightning and plain training loops) and the ``pytorch`` model flavor.

This module only declares the integration (loaded by ``fittrace.autolog()``);
``_autolog.install`` runs once ``torch``, ``lightning.pytorch`` or
``pytorch_lightning`` is imported. What is recorded is described in
``_lightning`` (Trainer.fit/test/validate) and ``_loop`` (plain loops). The
flavor loads on first use.
"""

from __future__ import annotations

from fittrace._lazy import lazy_attributes
from fittrace.autologging.checkpoints import CheckpointSettings
from fittrace.autologging.integration import Integration

_FLAVOR_NAMES = "FLAVOR_NAME load_checkpoint load_model load_state_dict log_model save_model _load_pyfunc".split()
__getattr__ = lazy_attributes(__name__, dict.fromkeys(_FLAVOR_NAMES, "._flavor"))


class PytorchSettings(CheckpointSettings):
    """The common options plus:

    - ``log_every_n_epoch``: log epoch metrics every n epochs (MLflow's option);
    - ``log_every_n_step``: also log step-level metrics every n training steps (None: never);
    - ``log_grad_norm``: plain loops: the total gradient L2 norm (per epoch, and per logged step);
    - ``checkpoint`` (and MLflow's ``checkpoint_monitor``, ``checkpoint_mode``,
      ``checkpoint_save_best_only``, ``checkpoint_save_weights_only``, ``checkpoint_save_freq``):
      Lightning: save checkpoints as artifacts while training (``autologging.checkpoints``;
      ``load_checkpoint`` reads them back) and upload the ModelCheckpoint's best and last files;
    - ``plain_loops``: track plain training loops (``optimizer.step()`` outside Lightning); a
      change applies from the next optimizer that starts training (``disable=True``: at once).
    """

    log_every_n_epoch: int = 1
    log_every_n_step: int | None = None
    log_grad_norm: bool = False
    plain_loops: bool = True


INTEGRATION = Integration(
    name="pytorch",
    module=("torch", "lightning.pytorch", "pytorch_lightning"),
    distribution="torch",
    supported_versions=">=2.3",
    settings_class=PytorchSettings,
    install="fittrace.pytorch._autolog:install",
)


def autolog(**kwargs: object) -> None:
    """Record Lightning ``Trainer.fit`` calls and plain PyTorch training loops.

    Options: ``PytorchSettings`` (common ones: log_models, log_input_examples,
    log_model_signatures, log_datasets, disable, exclusive,
    disable_for_unsupported_versions, silent, registered_model_name, extra_tags).
    """
    INTEGRATION.autolog(**kwargs)


__all__ = [
    "PytorchSettings",
    "autolog",
    *(n for n in _FLAVOR_NAMES if not n.startswith("_")),
]
