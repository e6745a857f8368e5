"""Periodic training checkpoints as run artifacts (``checkpoint=True``), in MLflow's layout.

Shared by the Keras and Lightning integrations; each supplies the function that writes the
file. Layout (so ``mlflow.<flavor>.load_checkpoint`` and fittrace's ``load_checkpoint`` read
the same runs):

- ``save_best_only``: ``checkpoints/latest_checkpoint<suffix>`` and
  ``checkpoints/latest_checkpoint_metrics.json``, replaced each time ``monitor`` improves;
- otherwise one folder per save: ``checkpoints/epoch_<n>/`` (``save_freq="epoch"``) or
  ``checkpoints/global_step_<n>/`` (``save_freq=<n batches>``), each with ``checkpoint<suffix>``
  and ``checkpoint_metrics.json`` (the metrics at that point plus ``epoch`` and ``global_step``);
- weights-only files are named ``...checkpoint.weights<suffix>``;
- the run tag ``mlflow.latest_checkpoint_artifact`` names the latest file.
"""

from __future__ import annotations

import os

from fittrace.autologging.settings import AutologSettings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

LATEST_TAG = "mlflow.latest_checkpoint_artifact"
DIRECTORY = "checkpoints"


class CheckpointSettings(AutologSettings):
    """MLflow's checkpoint options (``checkpoint`` itself defaults to False in fittrace)."""

    checkpoint: bool = False
    checkpoint_monitor: str | None = "val_loss"
    checkpoint_mode: str | None = "min"
    checkpoint_save_best_only: bool = True
    checkpoint_save_weights_only: bool = False
    checkpoint_save_freq: str | int = "epoch"

    def validate(self) -> None:
        super().validate()
        from fittrace.exceptions import InvalidParameterError

        freq = self.checkpoint_save_freq
        if freq != "epoch" and not (isinstance(freq, int) and freq > 0):
            raise InvalidParameterError(
                f"checkpoint_save_freq={freq!r}: expected 'epoch' or a positive number of batches"
            )
        if self.checkpoint_mode not in (None, "min", "max"):
            raise InvalidParameterError(
                f"checkpoint_mode={self.checkpoint_mode!r}: expected 'min' or 'max'"
            )


class CheckpointPolicy:
    """When to save and where, from the ``checkpoint_*`` autolog options."""

    def __init__(self, settings: Any, suffix: str) -> None:
        self.monitor: str | None = settings.checkpoint_monitor
        self.mode: str = settings.checkpoint_mode or "min"
        self.save_best_only: bool = settings.checkpoint_save_best_only and bool(self.monitor)
        self.weights_only: bool = settings.checkpoint_save_weights_only
        self.save_freq: str | int = settings.checkpoint_save_freq
        self.suffix = suffix
        self.best: float | None = None

    @property
    def per_epoch(self) -> bool:
        return self.save_freq == "epoch"

    def due_at_step(self, global_step: int) -> bool:
        return not self.per_epoch and global_step > 0 and global_step % int(self.save_freq) == 0

    def _improved(self, metrics: Mapping[str, float]) -> bool:
        value = metrics.get(self.monitor) if self.monitor else None
        if value is None or value != value:  # missing or NaN
            return False
        if self.best is not None and (
            value >= self.best if self.mode == "min" else value <= self.best
        ):
            return False
        self.best = value
        return True

    def _paths(self, epoch: int, global_step: int) -> tuple[str, str, str]:
        """(artifact folder, checkpoint file name, metrics file name)."""
        weights = ".weights" if self.weights_only else ""
        if self.save_best_only:
            return (
                DIRECTORY,
                f"latest_checkpoint{weights}{self.suffix}",
                "latest_checkpoint_metrics.json",
            )
        folder = f"epoch_{epoch}" if self.per_epoch else f"global_step_{global_step}"
        return (
            f"{DIRECTORY}/{folder}",
            f"checkpoint{weights}{self.suffix}",
            "checkpoint_metrics.json",
        )

    def save(
        self,
        writer: Any,
        write: Callable[[str, bool], None],
        metrics: Mapping[str, float],
        epoch: int,
        global_step: int,
    ) -> bool:
        """Save and upload a checkpoint if this one is due (best-only: if ``monitor`` improved).

        ``write(path, weights_only)`` writes the file; ``writer`` is the call's run writer.
        """
        if self.save_best_only and not self._improved(metrics):
            return False
        folder, name, metrics_name = self._paths(epoch, global_step)
        writer.log_dict(
            {**metrics, "epoch": epoch, "global_step": global_step}, f"{folder}/{metrics_name}"
        )
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, name)
            write(path, self.weights_only)
            writer.log_artifact(path, folder)
        writer.set_tags({LATEST_TAG: f"{folder}/{name}"})
        return True


def download(
    run_id: str | None, epoch: int | None, global_step: int | None, dst_path: str | None
) -> str:
    """The local path of a run's checkpoint: the latest, or the one saved at ``epoch`` / ``global_step``."""
    from fittrace.exceptions import FittraceError
    from fittrace.tracking import fluent
    from fittrace.tracking.client import Client

    if run_id is None:
        active = fluent.active_run()
        if active is None:
            raise FittraceError("load_checkpoint needs a run_id when no run is active")
        run_id = active.info.run_id
    if epoch is not None and global_step is not None:
        raise FittraceError("load_checkpoint takes epoch or global_step, not both")
    client = Client()
    latest = client.get_run(run_id).data.tags.get(LATEST_TAG)
    if latest is None:
        raise FittraceError(f"run {run_id} has no checkpoint (autolog with checkpoint=True)")
    name = latest.rsplit("/", 1)[-1]
    if epoch is not None:
        latest = f"{DIRECTORY}/epoch_{epoch}/{name}"
    elif global_step is not None:
        latest = f"{DIRECTORY}/global_step_{global_step}/{name}"
    return client.download_artifacts(run_id, latest, dst_path=dst_path)
