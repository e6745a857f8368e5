"""``fittrace.pytorch.autolog()``: Lightning's ``Trainer`` and plain PyTorch loops.

Nothing heavy is imported here: the machinery calls ``_install`` once ``torch``,
``lightning.pytorch`` or ``pytorch_lightning`` is imported. What is recorded is described
in ``_lightning`` (Trainer.fit/test/validate) and ``_loop`` (plain loops).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fittrace.autologging import AutologSettings, Integration, Patcher


@dataclass(frozen=True)
class PytorchSettings(AutologSettings):
    """The common options plus:

    - ``log_every_n_epoch``: log epoch metrics every n epochs (MLflow's option);
    - ``log_every_n_step``: also log step-level metrics every n optimizer steps (None: never);
    - ``log_grad_norm``: plain loops: the total gradient L2 norm (per epoch, and per logged step);
    - ``checkpoint``: Lightning: upload the ModelCheckpoint's best and last files as artifacts;
    - ``plain_loops``: track plain training loops (``optimizer.step()`` outside Lightning); a
      change applies from the next optimizer that starts training (``disable=True``: at once).
    """

    log_every_n_epoch: int = 1
    log_every_n_step: int | None = None
    log_grad_norm: bool = False
    checkpoint: bool = False
    plain_loops: bool = True


LIGHTNING_VERSIONS = ">=2.0"


def _install(patcher: Patcher) -> None:
    name = patcher.module.__name__
    if name == "torch":
        from fittrace.pytorch import _loop

        _loop.install(patcher)
        return
    from fittrace.autologging import safety
    from fittrace.autologging.versions import installed_version, version_matches
    from fittrace.pytorch import _lightning

    distribution = "pytorch-lightning" if name == "pytorch_lightning" else "lightning"
    version = installed_version(distribution, name.partition(".")[0])
    if version is not None and not version_matches(version, LIGHTNING_VERSIONS):
        safety.warn(
            f"fittrace autologging for 'pytorch' supports {distribution} {LIGHTNING_VERSIONS}, "
            f"but {version} is installed: Trainer.fit is not autologged"
        )
        return
    if name == "pytorch_lightning":
        from pytorch_lightning import Trainer
    else:
        from lightning.pytorch import Trainer
    _lightning.install(patcher, Trainer)


INTEGRATION = Integration(
    name="pytorch",
    module=("torch", "lightning.pytorch", "pytorch_lightning"),
    distribution="torch",
    supported_versions=">=2.3",
    settings_class=PytorchSettings,
    install=_install,
)


def autolog(**kwargs: Any) -> None:
    """Record Lightning ``Trainer.fit`` calls and plain PyTorch training loops.

    Options: ``PytorchSettings`` (common ones: log_models, log_input_examples,
    log_model_signatures, log_datasets, disable, exclusive,
    disable_for_unsupported_versions, silent, registered_model_name, extra_tags).
    """
    INTEGRATION.autolog(**kwargs)
