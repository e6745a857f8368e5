"""Lightning: what ``Trainer.fit`` / ``test`` / ``validate`` record (``lightning.pytorch`` or ``pytorch_lightning``).

``fit`` (a managed run: the active run, or a run of its own), on global rank 0 only:

- params before training: trainer settings (``epochs``/``max_epochs``, ``min_epochs``,
  ``max_steps``, ``precision``, ``accumulate_grad_batches``, ``gradient_clip_val``,
  ``gradient_clip_algorithm``, ``devices``, ``num_nodes``, ``strategy``, ``accelerator``,
  ``check_val_every_n_epoch``, ``val_check_interval``), the LightningModule's and the
  DataModule's ``hparams`` (flattened; a name clashing with a setting becomes ``hparams.<name>``),
  ``early_stopping.{monitor,mode,patience,min_delta}`` (canonical) and, for the first
  EarlyStopping, MLflow's unprefixed ``monitor``, ``mode``, ``patience``, ``min_delta``;
  ``model_checkpoint.{monitor,mode,save_top_k}``;
- params at train start: every optimizer (see ``_describe``: ``optimizer_name``,
  ``optimizer.<key>``, canonical) plus MLflow's unprefixed names for the first optimizer's
  defaults (``lr``, ``betas``, ``eps``, ``weight_decay``, ...; a name an hparam already holds
  with another value is left to the hparam), and ``lr_scheduler`` class, interval, frequency
  and scalar settings (``lr_scheduler.gamma``, ...);
- metrics: ``trainer.callback_metrics`` at each training epoch end (step = epoch, every
  ``log_every_n_epoch``), validation metrics at each validation end outside the sanity check
  (the keys validation updated, step = epoch), ``lr`` per param group at each epoch's start;
  with ``log_every_n_step=n``, every n training steps (batches that stepped the optimizers, one
  per batch however many optimizers) the metrics that batch logged with ``on_step=True``, at
  step = global step; those are then left out of the epoch logs (``x_step`` per step, ``x`` and
  ``x_epoch`` per epoch for a forked metric; an ``on_epoch``-only metric per epoch only);
- after training, from the callbacks' own state: ``early_stopping.stopped_epoch``,
  ``.best_score``, ``.wait_count``, ``.best_epoch`` (the epoch at which ``best_score`` last
  changed) and the tag ``early_stopping.stopping_reason``; MLflow's param ``stopped_epoch`` and,
  when it stopped training, metrics ``stopped_epoch``, ``restored_epoch`` (= best epoch),
  ``best_score``, ``wait_count``; with ``log_models`` and early stopping, the checkpoint
  callback's best file under ``restored_model_checkpoint/``; ModelCheckpoint's tag
  ``model_checkpoint.best_model_path`` and metric ``model_checkpoint.best_model_score``;
- with ``checkpoint=True``: checkpoints saved while training (``autologging.checkpoints``,
  per epoch or every ``checkpoint_save_freq`` steps; ``load_checkpoint`` reads them) and the
  ModelCheckpoint's best and last files under ``checkpoints/``;
- ``model_summary.txt`` (Lightning's ModelSummary, all depths), params ``model_class`` and
  parameter counts, and with ``log_models`` the LightningModule (pytorch flavor, under
  ``model``) with a signature from the first single-tensor ``forward`` call of the fit (seen
  by a global forward hook: nothing is set on the module);
- with ``log_datasets``, the datasets (see ``_datasets``) of the loaders the trainer actually
  uses — ``train_dataloaders``, ``val_dataloaders``, a datamodule's or the module's own —
  read from ``trainer.train_dataloader`` at each training epoch's start (context ``train``)
  and ``trainer.val_dataloaders`` at each validation's start, sanity check included (context
  ``eval``); each dataset once per context. Validation that never runs records nothing.

The callback pickles (``ddp_spawn``, ``torch.save``, ``deepcopy``): a copy logs into the same
run through a ``RunHandle``, so with ``ddp_spawn`` the rank-0 worker records the metrics.

``test`` / ``validate`` log the metrics they return into the run the trainer was fitted in
(else the active run), at step = ``trainer.current_epoch``, and with ``log_datasets`` the
datasets they evaluated on (context ``test`` / ``eval``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from fittrace.autologging import Call, checkpoints
from fittrace.pytorch import _datasets, _describe

_logger = logging.getLogger("fittrace.pytorch")
_callback_classes: dict[type, type] = {}


def _rank(trainer: Any) -> int:
    """Lightning's global rank when it runs several processes, else the launcher's environment."""
    if getattr(trainer, "world_size", 1) > 1:
        return int(trainer.global_rank)
    return _describe.env_rank()


def _number(value: Any) -> float:
    return float(value.item() if hasattr(value, "item") else value)


def _enum_text(value: Any) -> Any:
    return getattr(value, "value", value)


# -- params ---------------------------------------------------------------------------------
def trainer_params(trainer: Any) -> dict[str, Any]:
    return {
        "epochs": trainer.max_epochs,
        "max_epochs": trainer.max_epochs,
        "min_epochs": trainer.min_epochs,
        "max_steps": trainer.max_steps,
        "precision": trainer.precision,
        "accumulate_grad_batches": trainer.accumulate_grad_batches,
        "gradient_clip_val": trainer.gradient_clip_val,
        "gradient_clip_algorithm": _enum_text(trainer.gradient_clip_algorithm),
        "devices": trainer.num_devices,
        "num_nodes": trainer.num_nodes,
        "strategy": type(trainer.strategy).__name__,
        "accelerator": type(trainer.accelerator).__name__,
        "check_val_every_n_epoch": trainer.check_val_every_n_epoch,
        "val_check_interval": trainer.val_check_interval,
    }


def _indexed(name: str, index: int) -> str:
    return name if index == 0 else f"{name}{index}"


def callback_params(trainer: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for index, callback in enumerate(trainer.early_stopping_callbacks):
        head = _indexed("early_stopping", index)
        settings = {
            "monitor": callback.monitor,
            "mode": callback.mode,
            "patience": callback.patience,
            "min_delta": abs(callback.min_delta),
        }
        params.update({f"{head}.{key}": value for key, value in settings.items()})
        if index == 0:
            params.update(settings)  # MLflow's names
    for index, callback in enumerate(_model_checkpoints(trainer)):
        head = _indexed("model_checkpoint", index)
        params[f"{head}.monitor"] = callback.monitor
        params[f"{head}.mode"] = callback.mode
        params[f"{head}.save_top_k"] = callback.save_top_k
    return params


def _model_checkpoints(trainer: Any) -> list[Any]:
    return [c for c in trainer.checkpoint_callbacks if hasattr(c, "best_model_path")]


def hparams_params(model: Any, datamodule: Any, reserved: dict[str, Any]) -> dict[str, Any]:
    """Flattened hparams; a key also in ``reserved`` with another value is logged as ``hparams.<key>``."""
    from fittrace.tracking.validation import MAX_PARAM_VALUE_LENGTH

    merged: dict[str, Any] = {}
    for owner in (datamodule, model):
        hparams = getattr(owner, "hparams", None)
        if hparams:
            merged.update(_describe.flatten(dict(hparams)))
    params = {}
    for key, value in merged.items():
        if key in reserved and str(reserved[key]) != str(value):
            key = f"hparams.{key}"
        if len(str(value)) > MAX_PARAM_VALUE_LENGTH:
            _logger.debug("hparam %s is too long to log as a param; skipped", key)
            continue
        params[key] = value
    return params


def unclaimed(params: dict[str, Any], logged: dict[str, Any]) -> dict[str, Any]:
    """``params`` less the names already logged with another value (an hparam called ``lr``)."""
    return {k: v for k, v in params.items() if k not in logged or str(logged[k]) == str(v)}


def scheduler_params(configs: list[Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for index, config in enumerate(configs):
        head = _indexed("lr_scheduler", index)
        scheduler = config.scheduler
        params[head] = type(scheduler).__name__
        params[f"{head}.interval"] = config.interval
        params[f"{head}.frequency"] = config.frequency
        if config.monitor:
            params[f"{head}.monitor"] = config.monitor
        for key, value in scheduler.state_dict().items():
            if (
                not key.startswith("_")
                and key not in ("last_epoch", "verbose")
                and isinstance(value, (bool, int, float, str))
            ):
                params[f"{head}.{key}"] = value
    return params


# -- the callback ---------------------------------------------------------------------------
def callback_class(base: type) -> type:
    """The fittrace callback class for a Lightning package's ``Callback`` base class."""
    cls = _callback_classes.get(base)
    if cls is None:
        cls = _callback_classes[base] = type("FittraceCallback", (_CallbackMixin, base), {})
    return cls


def _rebuilt_callback(package: str, state: dict[str, Any]) -> Any:
    """A copied callback (see ``_CallbackMixin.__reduce__``): the class for ``package``, ``state``."""
    import importlib

    cls = callback_class(importlib.import_module(package).Callback)
    callback = cls.__new__(cls)
    callback.__dict__.update(state)
    return callback


def _guarded(hook: Callable[..., None]) -> Callable[..., None]:
    """A callback hook whose failure is reported (a warning, the run's errors tag), never raised
    into the user's ``fit``: the safety contract for code that runs inside Lightning's loop."""

    @functools.wraps(hook)
    def guarded(self: _CallbackMixin, *args: Any, **kwargs: Any) -> None:
        try:
            hook(self, *args, **kwargs)
        except Exception as exc:
            self.call.record_error(f"fit ({hook.__name__})", exc)

    return guarded


class _CallbackMixin:
    """Logs parameters, metrics and early-stopping state while ``fit`` runs (global rank 0 only)."""

    def __init__(self, call: Call, logged: dict[str, Any]) -> None:
        super().__init__()
        self.call = call
        self.settings = call.settings
        self.logged = logged  # the params logged before fit
        self.checkpoints = (
            checkpoints.CheckpointPolicy(call.settings, ".pth")
            if call.settings.checkpoint
            else None
        )
        self._batch_start: dict[str, Any] = {}
        self._train_steps = 0
        self._step_keys: set[str] = set()
        self._eval_keys: set[str] = set()
        self._snapshot: dict[str, Any] = {}
        self._last_step = 0
        self._best_refs: list[Any] = []
        self.best_epochs: list[int | None] = []
        self._epoch_lrs: dict[str, float] = {}
        self._inputs: _datasets.RunInputs | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        """Copies (``ddp_spawn``, ``torch.save`` of the trainer, ``deepcopy``) log into the same run.

        The class is made per Lightning package, so a copy names the package, not the class;
        ``call`` becomes a ``RunHandle``.
        """
        package = (
            "pytorch_lightning" if _callback_base_is_classic(type(self)) else "lightning.pytorch"
        )
        return (_rebuilt_callback, (package, {**self.__dict__, "_inputs": None}))

    def _record_datasets(self, trainer: Any, context: str) -> None:
        """The datasets behind the loaders the fit uses now; reported, never raised, on failure."""
        if not self.settings.log_datasets:
            return
        try:
            if _enum_text(trainer.state.fn) != "fit":
                return  # the callback stays on the trainer: a later validate() records its own data
            loaders = trainer.train_dataloader if context == "train" else trainer.val_dataloaders
            if self._inputs is None:
                self._inputs = _datasets.RunInputs(self.call.client, self.call.run_id)
            self._inputs.record(_datasets.named_datasets(loaders), context)
        except Exception as exc:
            self.call.record_error(f"fit (recording the {context} data)", exc)

    def _log(self, metrics: dict[str, Any], step: int) -> None:
        self.call.log_metrics({k: _number(v) for k, v in metrics.items()}, step=step)

    @_guarded
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero:
            return
        params: dict[str, Any] = {}
        for index, optimizer in enumerate(trainer.optimizers):
            params.update(_describe.optimizer_params(optimizer, index))
        params.update(scheduler_params(trainer.lr_scheduler_configs))
        if trainer.optimizers:  # MLflow's names: the first optimizer's class and defaults
            params.update(unclaimed(dict(trainer.optimizers[0].defaults), self.logged))
        self.call.log_params(params)
        self._best_refs = [c.best_score for c in trainer.early_stopping_callbacks]
        self.best_epochs = [None] * len(self._best_refs)

    @_guarded
    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self.observe_early_stopping(trainer, trainer.current_epoch - 1)
            self._epoch_lrs = _describe.lr_metrics(trainer.optimizers)
            self._record_datasets(trainer, "train")  # reloaded loaders are new datasets

    def observe_early_stopping(self, trainer: Any, epoch: int) -> None:
        """Note the epoch whose check replaced an EarlyStopping's ``best_score`` (it only does on improvement).

        Called when the previous epoch's checks are all done: at the next epoch's start and after fit.
        """
        for index, callback in enumerate(trainer.early_stopping_callbacks[: len(self._best_refs)]):
            if callback.best_score is not self._best_refs[index]:
                self._best_refs[index] = callback.best_score
                self.best_epochs[index] = epoch

    @_guarded
    def on_train_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.settings.log_every_n_step and trainer.is_global_zero:
            self._batch_start = dict(trainer.callback_metrics)

    @_guarded
    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Every n training steps (batches that stepped the optimizers, however many), the
        metrics this batch logged with ``on_step=True``, at step = global step."""
        step = trainer.global_step
        if step == self._last_step or not trainer.is_global_zero:
            return  # gradient accumulation: no optimizer step in this batch
        self._last_step = step
        self._train_steps += 1
        if self.checkpoints is not None and self.checkpoints.due_at_step(step):
            self._save_checkpoint(trainer)
        every = self.settings.log_every_n_step
        if not every:
            return
        before, metrics = self._batch_start, trainer.callback_metrics
        items = {
            k: v
            for k, v in metrics.items()
            if before.get(k) is not v and k not in self._eval_keys and f"{k}_step" not in metrics
        }
        self._step_keys.update(items)  # from the first batch: these never go into epoch logs
        if self._train_steps % every == 0:
            self._log(items, step)

    def _save_checkpoint(self, trainer: Any) -> None:
        def write(path: str, weights_only: bool) -> None:
            checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only)
            trainer.strategy.save_checkpoint(checkpoint, path)

        metrics = {k: _number(v) for k, v in trainer.callback_metrics.items()}
        self.checkpoints.save(self.call, write, metrics, trainer.current_epoch, trainer.global_step)

    @_guarded
    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self._record_datasets(trainer, "eval")
        if trainer.is_global_zero and not trainer.sanity_checking:
            self._snapshot = dict(trainer.callback_metrics)

    @_guarded
    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        before = self._snapshot
        updated = {k: v for k, v in trainer.callback_metrics.items() if before.get(k) is not v}
        self._eval_keys.update(updated)
        self._log(updated, trainer.current_epoch)

    @_guarded
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero:
            return
        epoch = trainer.current_epoch
        if (epoch + 1) % max(self.settings.log_every_n_epoch, 1):
            return
        metrics: dict[str, Any] = {
            k: v
            for k, v in trainer.callback_metrics.items()
            if k not in self._eval_keys and k not in self._step_keys
        }
        metrics.update(self._epoch_lrs)
        self._log(metrics, epoch)
        if self.checkpoints is not None and self.checkpoints.per_epoch:
            self._save_checkpoint(trainer)


# -- the forward sampler (signature from a real batch) -------------------------------------------
class _ForwardSampler:
    """Keeps a few rows of the module's first ``forward`` call (input and output).

    A global forward hook, removed at that first call: nothing is set on the user's module, so
    it pickles, deep-copies and ``torch.save``-s as if fittrace were not there.
    """

    def __init__(self, module: Any) -> None:
        from torch.nn.modules.module import register_module_forward_hook

        self.module = module
        self.samples: tuple[Any, Any] | None = None
        self._handle = register_module_forward_hook(self._hook)

    def _hook(self, module: Any, args: tuple, output: Any) -> None:
        if module is not self.module:
            return
        self.restore()
        try:
            self._take(args, output)
        except Exception:  # a batch we cannot sample only means no signature
            _logger.debug("could not sample the model's first forward call", exc_info=True)

    def _take(self, args: tuple, output: Any) -> None:
        import torch

        from fittrace.pytorch._loop import _sample

        if (
            len(args) == 1
            and isinstance(args[0], torch.Tensor)
            and isinstance(output, torch.Tensor)
        ):
            self.samples = (_sample(args[0]), _sample(output))

    def restore(self) -> None:
        self._handle.remove()


# -- captures -----------------------------------------------------------------------------------
def capture_fit(call: Call) -> Any:
    """``Trainer.fit``: params before, a callback during, early stopping, checkpoints and the model after."""
    from fittrace.pytorch import _loop

    trainer = call.instance
    if _rank(trainer) != 0:
        return
    if _loop.TRACKER.session is not None:  # an open plain-loop run belongs to earlier training
        _loop.TRACKER.end_session("FINISHED")
    settings = call.settings
    model = call.get_arg("model", 0)
    datamodule = call.get_arg("datamodule", 3)
    system = {**trainer_params(trainer), **callback_params(trainer)}
    logged = {**hparams_params(model, datamodule, system), **system}
    call.log_params(logged)
    callback = callback_class(_callback_base(trainer))(call, logged)
    trainer.callbacks[:] = [
        c for c in trainer.callbacks if type(c).__name__ != "FittraceCallback"
    ] + [callback]
    call.remember_run(trainer)
    sampler = None
    if (
        settings.log_models
        and (settings.log_model_signatures or settings.log_input_examples)
        and model is not None
    ):
        sampler = _ForwardSampler(model)
    try:
        yield
    finally:
        if sampler is not None:
            sampler.restore()
    module = trainer.lightning_module or model
    _log_callback_state(call, trainer, callback)
    call.log_params(_describe.model_params(module))
    call.log_text(_model_summary(trainer, module), "model_summary.txt")
    if settings.log_models:
        _log_model(call, module, sampler.samples if sampler is not None else None)


def _callback_base(trainer: Any) -> type:
    package = type(trainer).__module__.partition(".")[0]
    if package == "pytorch_lightning":
        import pytorch_lightning

        return pytorch_lightning.Callback
    import lightning.pytorch

    return lightning.pytorch.Callback


def _callback_base_is_classic(cls: type) -> bool:
    return any(base.__module__.startswith("pytorch_lightning") for base in cls.__mro__)


def _model_summary(trainer: Any, module: Any) -> str:
    if type(trainer).__module__.startswith("pytorch_lightning"):
        from pytorch_lightning.utilities.model_summary import ModelSummary
    else:
        from lightning.pytorch.utilities.model_summary import ModelSummary
    return f"{ModelSummary(module, max_depth=-1)}\n"


def _log_callback_state(call: Call, trainer: Any, callback: Any) -> None:
    callback.observe_early_stopping(trainer, trainer.current_epoch - 1)
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    for index, stopper in enumerate(trainer.early_stopping_callbacks):
        head = _indexed("early_stopping", index)
        metrics[f"{head}.stopped_epoch"] = stopper.stopped_epoch
        metrics[f"{head}.wait_count"] = stopper.wait_count
        metrics[f"{head}.best_score"] = _number(stopper.best_score)
        if index < len(callback.best_epochs) and callback.best_epochs[index] is not None:
            metrics[f"{head}.best_epoch"] = callback.best_epochs[index]
        reason = getattr(stopper, "stopping_reason", None)
        if reason is not None:
            tags[f"{head}.stopping_reason"] = reason.name.lower()
        if index == 0:
            _log_mlflow_early_stopping(call, stopper, metrics, callback)
    for index, checkpoint in enumerate(_model_checkpoints(trainer)):
        head = _indexed("model_checkpoint", index)
        if checkpoint.best_model_path:
            tags[f"{head}.best_model_path"] = checkpoint.best_model_path
        if checkpoint.best_model_score is not None:
            metrics[f"{head}.best_model_score"] = _number(checkpoint.best_model_score)
        if call.settings.checkpoint:
            for path in dict.fromkeys((checkpoint.best_model_path, checkpoint.last_model_path)):
                if path and os.path.isfile(path):
                    call.log_artifact(path, "checkpoints")
    call.log_metrics(metrics, step=trainer.current_epoch)
    call.set_tags(tags)
    best_path = getattr(trainer.checkpoint_callback, "best_model_path", None)
    if (
        call.settings.log_models
        and trainer.early_stopping_callbacks
        and best_path
        and os.path.isfile(best_path)
    ):
        call.log_artifact(best_path, "restored_model_checkpoint")


def _log_mlflow_early_stopping(
    call: Call, stopper: Any, metrics: dict[str, float], callback: Any
) -> None:
    """MLflow's names for the first EarlyStopping: param ``stopped_epoch``; when it stopped
    training, metrics ``stopped_epoch``, ``restored_epoch`` (the best epoch, which the
    ``restored_model_checkpoint`` holds), ``best_score`` and ``wait_count``."""
    call.log_params(unclaimed({"stopped_epoch": stopper.stopped_epoch}, callback.logged))
    if not stopper.stopped_epoch:
        return
    metrics["stopped_epoch"] = stopper.stopped_epoch
    metrics["best_score"] = _number(stopper.best_score)
    metrics["wait_count"] = stopper.wait_count
    if callback.best_epochs and callback.best_epochs[0] is not None:
        metrics["restored_epoch"] = callback.best_epochs[0]


def _log_model(call: Call, module: Any, samples: tuple[Any, Any] | None) -> None:
    from fittrace.pytorch._flavor import log_model

    settings = call.settings
    signature = example = None
    if samples is not None:
        if settings.log_model_signatures:
            from fittrace.models import infer_signature

            signature = infer_signature(*samples)
        if settings.log_input_examples:
            example = samples[0]
    log_model(
        module,
        "model",
        run_id=call.run_id,
        signature=signature,
        input_example=example,
        registered_model_name=settings.registered_model_name,
    )


def capture_evaluate(call: Call) -> Any:
    """``Trainer.test`` / ``Trainer.validate``: the metrics they return, into the fit's run."""
    trainer = call.instance
    if _rank(trainer) != 0:
        return
    results = yield
    metrics = {k: _number(v) for result in results or () for k, v in result.items()}
    call.log_metrics(metrics, step=trainer.current_epoch)
    if call.settings.log_datasets:
        context = "test" if call.function == "test" else "eval"
        try:
            inputs = _datasets.RunInputs(call.client, call.run_id)
            inputs.record(_datasets.named_datasets(_evaluated_loaders(trainer, context)), context)
        except Exception as exc:
            call.record_error(f"{call.function} (recording the {context} data)", exc)


def _evaluated_loaders(trainer: Any, context: str) -> Any:
    """The loaders ``test`` / ``validate`` just ran on (each entry point detaches the previous ones)."""
    return trainer.test_dataloaders if context == "test" else trainer.val_dataloaders


def install(patcher: Any, trainer_class: type) -> None:
    patcher.patch(trainer_class, "fit", capture_fit)
    patcher.patch(trainer_class, "test", capture_evaluate, run="model")
    patcher.patch(trainer_class, "validate", capture_evaluate, run="model")
