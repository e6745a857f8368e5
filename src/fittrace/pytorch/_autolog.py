"""What ``fittrace.pytorch.autolog()`` patches once torch or Lightning is imported.

``torch``: plain training loops (``_loop``). ``lightning.pytorch`` /
``pytorch_lightning``: ``Trainer`` (``_lightning``), from Lightning 2.0 on.
"""

from __future__ import annotations

from fittrace.autologging import Patcher

LIGHTNING_VERSIONS = ">=2.0"


def install(patcher: Patcher) -> None:
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
