"""Autologging for plain PyTorch training loops (no framework around them).

Rules, exactly as implemented:

Runs
  - A run opens at the first ``optimizer.step()`` of an optimizer fittrace has not seen, when it
    is called outside any autologged call (Lightning's ``Trainer.fit`` is one: its steps belong
    to the Lightning capture) and this process is global rank 0 (``torch.distributed`` rank when
    initialised, else ``RANK`` / ``LOCAL_RANK`` / ``SLURM_PROCID`` / ``JSM_NAMESPACE_RANK``).
  - With no active run, fittrace starts one (tag ``mlflow.autologging=pytorch``) and makes it
    the active run. With an active run, the training logs into it, unless an autologged call
    already logged there (then a child run is created) or ``exclusive=True`` (then nothing is
    recorded).
  - The run closes at ``fittrace.end_run()`` (or the end of the user's ``with start_run()``
    block, when training logged into that run), at interpreter exit (FAILED when the exit is due
    to an uncaught exception), or when an optimizer for a *different* model (no parameter in
    common) takes two steps in a row without the current run's optimizers stepping in between:
    then the current run is finished and a new one opens for the new model. An optimizer whose
    steps interleave with the current ones (a GAN's generator and discriminator) joins the
    current run, as does a new optimizer sharing parameters with the current model.
Model
  - The model is the top-level ``nn.Module`` called (not from inside another module) whose
    parameters overlap most with the optimizer's; it is found from the forward calls between
    two optimizer steps (global forward hooks, removed once it is found). DDP / DataParallel /
    ``torch.compile`` wrappers are unwrapped. Recorded: params ``model_class``,
    ``model_params_total``, ``model_params_trainable`` and the artifact ``model_summary.txt``;
    with ``log_models``, the final model (pytorch flavor) when the run ends normally, with a
    signature from the first single-tensor input and output seen.
Optimizers
  - params ``optimizer_name`` and ``optimizer.<hyperparameter>`` per param group (see
    ``_describe``), ``optimizer1_*`` ... for further optimizers.
Losses
  - Captured: every ``torch.nn.functional`` loss (``F.cross_entropy``, ``F.mse_loss``, ...: the
    functions named ``*_loss``, ``*cross_entropy*`` and ``kl_div``) called through the module
    attribute, which includes every torch loss module (``nn.CrossEntropyLoss()``, ...: each
    computes its value with one), when it returns one value; a functional loss computed inside
    another counts once. When a ``.backward()`` call
    follows no captured training loss (a hand-written loss such as ``((p - y) ** 2).mean()``),
    the tensor ``.backward()`` is called on counts instead.
  - A loss is a *validation* loss when autograd is off (``no_grad`` / ``inference_mode``), or
    when its output requires grad but the model is in eval mode and no ``.backward()`` follows
    it; it is a *training* loss when its output requires grad and the model is in training mode
    (or not known yet), or in eval mode with a ``.backward()`` following. Anything else is
    ignored, as are non-scalar losses (``reduction="none"``) and losses computed before the
    model's first optimizer step other than that step's own.
  - Not captured: loss functions of other libraries and custom loss modules that compute their
    value without a ``torch.nn.functional`` loss, except through ``.backward()`` (so their
    validation values are missed); ``torch.autograd.backward(...)`` /
    ``torch.autograd.grad`` calls; losses whose function name was imported before
    ``autolog()`` (``from torch.nn.functional import mse_loss``). A loss computed inside a
    ``torch.compile``-d function is left to the compiler and counts through ``.backward()``.
Epochs and metrics
  - An epoch is a full pass over a ``DataLoader`` (its iterator raising StopIteration) during
    which the run's optimizers stepped. At its end: ``train_loss`` (mean of the epoch's
    training losses), ``lr`` per param group (as at the epoch's first step), ``grad_norm``
    (mean total L2 norm of the gradients at each step, with ``log_grad_norm=True``), at
    step = epoch index (from 0), every ``log_every_n_epoch`` epochs. Loops without a
    ``DataLoader`` have no epoch ends: their losses are logged as one partial epoch at run end
    (use ``log_every_n_step`` for a curve).
  - ``val_loss`` (mean of the validation losses since the last epoch end) is logged at the
    epoch's index when a ``DataLoader`` pass without optimizer steps ends, when the next epoch's
    first step comes, or when the run ends.
  - With ``log_every_n_step=n``: ``train_loss_step`` (mean of that step's training losses) and
    ``grad_norm_step`` every n optimizer steps, at step = optimizer step count.
  - At run end: the partial epoch (if steps happened after the last epoch end), ``epochs``
    (completed epochs) and ``optimizer_steps``.
  - Loss values on an accelerator stay there: fittrace adds no per-step synchronisation; it
    reads one value per epoch (and per logged step). CPU values, which cost nothing to read,
    are read at once.
Datasets (``log_datasets``, described as in ``_datasets``)
  - The dataset of the ``DataLoader`` being iterated when the run opens is recorded with context
    ``train``; afterwards each ``DataLoader`` pass that ends (StopIteration) records its dataset,
    with context ``train`` when the run's optimizers stepped during it, else ``eval``. Each
    dataset is recorded once per context and run (later passes cost an identity check); a pass
    abandoned before its end (``break``) is only recorded if the run opened during it. Nothing
    is done per batch; a tensor dataset on an accelerator is read once per run (its sampled rows).
"""

from __future__ import annotations

import atexit
import functools
import inspect
import os
import sys
import threading
import time
import weakref
from typing import Any

from fittrace.autologging import get_settings, runs, safety
from fittrace.autologging.call import _current as _current_call
from fittrace.exceptions import AutologgingError
from fittrace.pytorch import _datasets, _describe
from fittrace.pytorch._accumulator import Accumulator, mean, scalar

INTEGRATION_NAME = "pytorch"
MAX_PENDING = 1024  # training losses kept between two optimizer steps (grad accumulation included)
FIND_MODEL_TRIES = 3
SAMPLE_ROWS = 5


def _report(what: str, exc: Exception, session: _Session | None = None) -> None:
    """One warning per cause and the errors tag; raises in testing mode (FITTRACE_TESTING=1)."""
    if isinstance(exc, AutologgingError):  # already reported further down
        raise exc
    brief = safety.report(
        INTEGRATION_NAME, what, exc, silent=bool(session and session.settings.silent)
    )
    if session is not None:
        session.errors.append(brief)
    if safety.testing():
        raise safety.testing_error(INTEGRATION_NAME, brief, exc) from exc


def _unwrap(module: Any) -> Any:
    """The user's module inside DDP / DataParallel / torch.compile wrappers."""
    while True:
        name = type(module).__name__
        if name in ("DistributedDataParallel", "DataParallel") and hasattr(module, "module"):
            module = module.module
        elif hasattr(module, "_orig_mod"):
            module = module._orig_mod
        else:
            return module


def _param_ids(optimizer: Any) -> frozenset[int]:
    return frozenset(id(p) for group in optimizer.param_groups for p in group["params"])


def _sample(tensor: Any) -> Any:
    """A few rows of a tensor as a CPU numpy array (one device read), for signatures and examples."""
    return tensor[:SAMPLE_ROWS].detach().cpu().numpy()


class _ModelFinder:
    """Global forward hooks that note top-level module calls until the trained model is known."""

    def __init__(self) -> None:
        self._handles: tuple[Any, Any] | None = None
        self._depth = 0
        self._calls: dict[int, list[Any]] = {}
        self._tries = 0

    @property
    def active(self) -> bool:
        return self._handles is not None

    def start(self) -> None:
        from torch.nn.modules import module as module_hooks

        self._calls.clear()
        self._tries = 0
        if self._handles is None:
            self._depth = 0
            self._handles = (
                module_hooks.register_module_forward_pre_hook(self._pre),
                module_hooks.register_module_forward_hook(self._post, always_call=True),
            )

    def stop(self) -> None:
        if self._handles is not None:
            for handle in self._handles:
                handle.remove()
            self._handles = None
        self._calls.clear()

    def _pre(self, module: Any, args: tuple) -> None:
        if self._depth == 0 and not _in_call():
            first = args[0] if args else None
            self._calls[id(module)] = [module, first if _is_tensor(first) else None, None]
        self._depth += 1

    def _post(self, module: Any, args: tuple, output: Any) -> None:
        self._depth = max(self._depth - 1, 0)
        if self._depth == 0:
            entry = self._calls.get(id(module))
            if entry is not None and entry[0] is module and _is_tensor(output):
                entry[2] = output.detach()

    def find(self, param_ids: frozenset[int]) -> tuple[Any, Any, Any] | None:
        """(module, input, output) of the called module sharing most parameters with ``param_ids``."""
        best, best_overlap = None, 0
        for entry in self._calls.values():
            overlap = sum(1 for p in entry[0].parameters() if id(p) in param_ids)
            if overlap > best_overlap:
                best, best_overlap = entry, overlap
        self._calls.clear()
        if best is not None:
            self.stop()
            return best[0], best[1], best[2]
        self._tries += 1
        if self._tries >= FIND_MODEL_TRIES:
            self.stop()
        return None


_tensor_type: Any = None


def _is_tensor(value: Any) -> bool:
    return isinstance(value, _tensor_type)


class _Session:
    """One tracked training: a run, its optimizers, its model and the per-epoch accumulators."""

    def __init__(
        self, run_id: str, owns_run: bool, parent_run_id: str | None, settings: Any
    ) -> None:
        self.run_id = run_id
        self.owns_run = owns_run
        self.parent_run_id = parent_run_id
        self.settings = settings
        self.per_step_work = bool(settings.log_grad_norm or settings.log_every_n_step)
        self.client = runs.recorder.client()
        self.optimizers: list[Any] = []
        self.optimizer_ids: set[int] = set()
        self.param_ids: frozenset[int] = frozenset()
        self.model: Any = None
        self.samples: tuple[Any, Any] | None = None
        self.epoch = 0
        self.epoch_closed = False
        self.epochs_completed = 0
        self.steps = 0
        self.steps_in_epoch = 0
        self.epoch_lrs: dict[str, float] = {}
        self.train = Accumulator()
        self.val = Accumulator()
        self.grad_norms = Accumulator()
        self.errors: list[str] = []
        self.finished = False
        self.inputs: _datasets.RunInputs | None = None

    # -- writing (a failed write is reported and training bookkeeping goes on) -----------------
    def _write(self, what: str, **batch: Any) -> None:
        try:
            self.client.log_batch(self.run_id, **batch)
        except Exception as exc:
            _report(what, exc, self)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from fittrace.entities import Metric

        if metrics:
            now = time.time_ns() // 1_000_000
            self._write(
                "logging metrics",
                metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()],
            )

    def log_params(self, params: dict[str, Any]) -> None:
        from fittrace.entities import Param

        if params:
            self._write("logging params", params=[Param(k, str(v)) for k, v in params.items()])

    def record_data(self, dataset: Any, context: str) -> None:
        """Record ``dataset`` as a run input (once per context); a failure is reported, never raised."""
        inputs = self.inputs
        if inputs is not None and inputs.seen(dataset, context):  # every later pass: one lookup
            return
        try:
            if inputs is None:
                inputs = self.inputs = _datasets.RunInputs(self.client, self.run_id)
            inputs.record([(_datasets.DEFAULT_NAME, dataset)], context)
        except Exception as exc:
            _report(f"recording the {context} data", exc, self)

    # -- training events ------------------------------------------------------------------
    def add_optimizer(self, optimizer: Any, param_ids: frozenset[int]) -> None:
        self.optimizers.append(optimizer)
        self.optimizer_ids.add(id(optimizer))
        self.param_ids = self.param_ids | param_ids
        self.log_params(_describe.optimizer_params(optimizer, len(self.optimizers) - 1))

    def set_model(self, module: Any, inputs: Any, outputs: Any) -> None:
        self.model = _unwrap(module)
        if inputs is not None and outputs is not None:
            self.samples = (_sample(inputs), _sample(outputs))
        self.log_params(_describe.model_params(self.model))
        try:
            self.client.log_text(
                self.run_id, _describe.model_summary(self.model), "model_summary.txt"
            )
        except Exception as exc:
            _report("logging the model summary", exc, self)

    def step(self, optimizer: Any, losses: list[Any]) -> None:
        if self.epoch_closed:
            self.flush_val()
            self.epoch += 1
            self.epoch_closed = False
        if not self.steps_in_epoch:
            self.epoch_lrs = _describe.lr_metrics(self.optimizers)
        self.steps += 1
        self.steps_in_epoch += 1
        if self.per_step_work:
            self._step_extras(optimizer, losses)
        if losses:
            self.train.extend(losses)

    def _step_extras(self, optimizer: Any, losses: list[Any]) -> None:
        """Grad norms and step-level metrics, when asked for."""
        norm = self._grad_norm(optimizer) if self.settings.log_grad_norm else None
        every = self.settings.log_every_n_step
        if every and self.steps % every == 0:
            metrics = {}
            if losses:
                metrics["train_loss_step"] = mean(losses)
            if norm is not None:
                metrics["grad_norm_step"] = mean([norm])
            self.log_metrics(metrics, self.steps)
        if norm is not None:
            self.grad_norms.add(norm)

    @staticmethod
    def _grad_norm(optimizer: Any) -> Any:
        import torch

        grads = [
            p.grad
            for group in optimizer.param_groups
            for p in group["params"]
            if p.grad is not None
        ]
        if not grads:
            return None
        total_norm = getattr(torch.nn.utils, "get_total_norm", None)  # torch >= 2.6
        if total_norm is not None:
            return scalar(total_norm(grads))
        return scalar(
            torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        )

    def _epoch_metrics(self) -> dict[str, float]:
        metrics = dict(self.epoch_lrs)
        for name, accumulator in (("train_loss", self.train), ("grad_norm", self.grad_norms)):
            mean = accumulator.mean()
            if mean is not None:
                metrics[name] = mean
            accumulator.reset()
        return metrics

    def end_train_epoch(self) -> None:
        metrics = self._epoch_metrics()
        if (self.epoch + 1) % max(self.settings.log_every_n_epoch, 1) == 0:
            self.log_metrics(metrics, self.epoch)
        self.epoch_closed = True
        self.epochs_completed += 1
        self.steps_in_epoch = 0

    def flush_val(self) -> None:
        mean = self.val.mean()
        self.val.reset()
        if mean is not None:
            self.log_metrics({"val_loss": mean}, self.epoch)

    def finish(self, status: str) -> None:
        """Log what is left (partial epoch, counts, the model) once; the caller ends the run."""
        if self.finished:
            return
        self.finished = True
        if not self.epoch_closed and (self.steps_in_epoch or self.train.count):
            self.log_metrics(self._epoch_metrics(), self.epoch)
        self.flush_val()
        self.log_metrics({"epochs": self.epochs_completed, "optimizer_steps": self.steps}, 0)
        if status == "FINISHED" and self.settings.log_models and self.model is not None:
            self._log_model()

    def _log_model(self) -> None:
        from fittrace.pytorch._flavor import log_model

        signature = example = None
        if self.samples is not None:
            if self.settings.log_model_signatures:
                from fittrace.models import infer_signature

                signature = infer_signature(*self.samples)
            if self.settings.log_input_examples:
                example = self.samples[0]
        log_model(
            self.model,
            "model",
            run_id=self.run_id,
            signature=signature,
            input_example=example,
            registered_model_name=self.settings.registered_model_name,
        )


class _Candidate:
    """An optimizer for another model, waiting to show whether it replaces or joins the session."""

    def __init__(self, optimizer: Any, param_ids: frozenset[int], losses: list[Any]) -> None:
        self.optimizer = optimizer
        self.param_ids = param_ids
        self.losses = losses


class Tracker:
    """Process-wide state of plain-loop autologging; every entry point is guarded by its caller."""

    def __init__(self) -> None:
        self.session: _Session | None = None
        self.candidate: _Candidate | None = None
        self.pending: list[Any] = []  # training losses since the last tracked optimizer step
        self.since_backward = 0  # captured training losses since the last .backward()
        # eval-mode losses computed with autograd on, since the last .backward()
        self.tentative: list[Any] = []
        self.total_steps = 0
        self.current_pass: Any = None  # weak reference to the DataLoader iterator started last
        self.ignored: weakref.WeakSet[Any] = weakref.WeakSet()
        self.finder = _ModelFinder()
        self.lock = threading.RLock()
        self._exit_hooks_installed = False

    # -- losses ------------------------------------------------------------------------------
    def record_loss(self, output: Any, grad_enabled: bool) -> None:
        if not isinstance(output, _tensor_type) or output.numel() != 1:
            return
        session = self.session
        if not grad_enabled:
            if session is not None:
                session.val.add(scalar(output))
        elif output.requires_grad:
            model = session.model if session is not None else None
            if model is None or model.training:
                self._add_pending(scalar(output))
                self.since_backward += 1
            else:  # eval mode with autograd on: validation, unless a .backward() follows
                self.tentative.append(scalar(output))

    def record_backward(self, tensor: Any) -> None:
        if self.since_backward == 0:
            if self.tentative:  # it was trained on after all (e.g. another model's first step)
                for value in self.tentative:
                    self._add_pending(value)
                self.tentative = []
            elif _is_tensor(tensor) and tensor.numel() == 1 and tensor.requires_grad:
                self._add_pending(scalar(tensor))
        self._commit_tentative()
        self.since_backward = 0

    def _commit_tentative(self) -> None:
        if self.tentative:
            if self.session is not None:
                self.session.val.extend(self.tentative)
            self.tentative = []

    def _add_pending(self, value: Any) -> None:
        pending = self.pending
        pending.append(value)
        if len(pending) >= MAX_PENDING:  # no step is coming soon: keep memory bounded
            session = self.session
            if session is not None:
                session.train.extend(pending)
            pending.clear()

    def _take_pending(self) -> list[Any]:
        losses, self.pending = self.pending, []
        return losses

    # -- optimizer steps ------------------------------------------------------------------------
    def on_step(self, optimizer: Any) -> None:
        if self.tentative:
            self._commit_tentative()
        session = self.session
        if session is not None and id(optimizer) in session.optimizer_ids:
            if self.candidate is not None:  # steps interleave: the other model trains alongside
                self._join_candidate(session)
            self.total_steps += 1
            losses, self.pending = self.pending, []
            session.step(optimizer, losses)
            if session.model is None:
                self._find_model(session, optimizer)
            return
        if optimizer in self.ignored:
            return
        settings = _enabled_settings()
        if settings is None:
            return
        candidate = self.candidate
        if candidate is not None and candidate.optimizer is optimizer:
            self._replace_session(settings)
        else:
            self._new_optimizer(optimizer, settings)

    def _find_model(self, session: _Session, optimizer: Any) -> None:
        if self.finder.active:
            found = self.finder.find(_param_ids(optimizer))
            if found is not None:
                session.set_model(*found)

    def _new_optimizer(self, optimizer: Any, settings: Any) -> None:
        with self.lock:
            if _describe.global_rank() != 0:
                self.ignored.add(optimizer)
                return
            param_ids = _param_ids(optimizer)
            session = self.session
            if session is not None:
                if param_ids & session.param_ids:
                    session.add_optimizer(optimizer, param_ids)
                    self.total_steps += 1
                    session.step(optimizer, self._take_pending())
                else:
                    self.candidate = _Candidate(optimizer, param_ids, self._take_pending())
                    self.finder.start()  # to know the other model should it replace this one
                return
            try:
                self._start_session(optimizer, param_ids, settings, self._take_pending())
            except Exception:
                if self.session is None:
                    self.ignored.add(optimizer)  # no run: do not retry at every step
                raise

    def _join_candidate(self, session: _Session) -> None:
        candidate, self.candidate = self.candidate, None
        assert candidate is not None
        if session.model is not None:
            self.finder.stop()
        session.add_optimizer(candidate.optimizer, candidate.param_ids)
        self.total_steps += 1
        session.step(candidate.optimizer, candidate.losses)

    def _replace_session(self, settings: Any) -> None:
        with self.lock:
            candidate, self.candidate = self.candidate, None
            assert candidate is not None
            found = self.finder.find(candidate.param_ids) if self.finder.active else None
            losses = self._take_pending()
            self.end_session("FINISHED")
            self._start_session(
                candidate.optimizer, candidate.param_ids, settings, candidate.losses
            )
            session = self.session
            if session is None:
                return
            # the candidate's current step, after its first one replayed above
            self.total_steps += 1
            session.step(candidate.optimizer, losses)
            if found is not None:
                self.finder.stop()
                session.set_model(*found)

    def _start_session(
        self, optimizer: Any, param_ids: frozenset[int], settings: Any, losses: list[Any]
    ) -> None:
        tags = {runs.AUTOLOGGING_TAG: INTEGRATION_NAME, **(settings.extra_tags or {})}
        active = runs.recorder.active_run_id()
        parent = None
        if active is None:
            run_id, owns = runs.recorder.start_implicit_run(tags), True
            runs.recorder.sample_system_metrics(run_id, settings.log_system_metrics)
        elif settings.exclusive:
            self.ignored.add(optimizer)
            return
        elif runs.claim_user_run(active):
            run_id, owns = active, False
        else:
            run_id, owns, parent = runs.recorder.create_child_run(active, tags, None), True, active
        self._install_exit_hooks()
        session = _Session(run_id, owns, parent, settings)
        self.session = session
        session.add_optimizer(optimizer, param_ids)
        self.total_steps += 1
        session.step(optimizer, losses)
        self.finder.start()
        if settings.log_datasets:
            self._record_current_pass(session)

    def _record_current_pass(self, session: _Session) -> None:
        """The run opens during a DataLoader pass: that pass trains, its dataset is training data."""
        iterator = self.current_pass() if self.current_pass is not None else None
        if iterator is None:
            return
        state = iterator.__dict__
        dataset = state.get("_fittrace_dataset")
        if "_fittrace_pass_start" in state and dataset is not None:
            session.record_data(dataset, "train")

    # -- epochs ---------------------------------------------------------------------------------
    def on_pass_end(self, steps_at_start: int, dataset: Any = None) -> None:
        self._commit_tentative()
        session = self.session
        if session is None:
            return
        trained = self.total_steps > steps_at_start
        if trained:
            session.end_train_epoch()
        else:
            session.flush_val()
        if dataset is not None and session.settings.log_datasets:
            session.record_data(dataset, "train" if trained else "eval")

    # -- run end --------------------------------------------------------------------------------
    def end_session(self, status: str, *, end_run: bool = True) -> None:
        """Finish the current session; end its run when it is fittrace's and ``end_run``."""
        with self.lock:
            self._commit_tentative()
            session, self.session = self.session, None
            self.candidate = None
            self.pending = []
            self.finder.stop()
            if session is None:
                return
            try:
                session.finish(status)
            except Exception as exc:
                _report("finishing the training run", exc, session)
            finally:
                if session.errors:
                    session.client.set_tag(
                        session.run_id, safety.ERRORS_TAG, safety.errors_tag_value(session.errors)
                    )
                if end_run and session.owns_run:
                    runs.recorder.end_run(session.run_id, status)

    def on_run_end(self, run_id: str, status: str) -> None:
        """Something ends ``run_id`` (end_run, a with-block): finish a session logging there or below."""
        session = self.session
        if session is None or session.finished:
            return
        if session.run_id == run_id:
            self.end_session(status, end_run=False)
        elif session.parent_run_id == run_id:
            self.end_session(status)

    def at_exit(self, pid: int) -> None:
        """End the session at exit of process ``pid``, not in a child forked from it (its parent
        still trains; the child's own runs end with the fluent API's exit handler)."""
        if pid != os.getpid():
            return
        crashed = (
            getattr(sys, "last_value", None) is not None
            or getattr(sys, "last_exc", None) is not None
        )
        self.end_session("FAILED" if crashed else "FINISHED")

    def _install_exit_hooks(self) -> None:
        if self._exit_hooks_installed:
            return
        self._exit_hooks_installed = True
        _hook_run_end(self)
        atexit.register(_guarded, self.at_exit, "ending the training run at exit", os.getpid())


def _guarded(function: Any, what: str, *args: Any) -> None:
    try:
        function(*args)
    except Exception as exc:
        _report(what, exc, TRACKER.session)


def _hook_run_end(tracker: Tracker) -> None:
    """Have every run end (end_run, with-blocks, exit) tell the tracker first."""
    from fittrace.tracking import fluent

    fluent.on_run_end(functools.partial(_guarded, tracker.on_run_end, "finishing the training run"))


TRACKER = Tracker()


# -- the wrappers and hooks installed into torch --------------------------------------------------
# They run on every loss, backward, batch and step, between long stretches of torch's own code:
# plain functions reading plain flags (no wrapt binding, no settings lookup on the fast path).
class _State:
    on = False  # the settings enable plain-loop tracking (read at install and for each new optimizer)
    switch: Any = None  # the integration's switch: off after autolog(disable=True) or unpatch()


_STATE = _State()


def _enabled_settings() -> Any:
    settings = get_settings(INTEGRATION_NAME)
    _STATE.on = settings is not None and not settings.disable and settings.plain_loops
    return settings if _STATE.on else None


def _loss_wrapper(original: Any, switch: Any) -> Any:
    """A ``torch.nn.functional`` loss: record its value (torch's loss modules all call one)."""

    @functools.wraps(original)
    def loss(*args: Any, **kwargs: Any) -> Any:
        local = _local
        if (
            not (switch.on and _STATE.on)
            or local.in_loss
            or _is_compiling()  # under torch.compile tracing: leave the graph alone
            or _current_call.get() is not None
        ):
            return original(*args, **kwargs)
        local.in_loss = True
        try:
            output = original(*args, **kwargs)
        finally:
            local.in_loss = False
        try:
            TRACKER.record_loss(output, _grad_enabled())
        except Exception as exc:
            _report("recording a loss", exc, TRACKER.session)
        return output

    return loss


def _backward_wrapper(original: Any, switch: Any) -> Any:
    @functools.wraps(original)
    def backward(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(tensor, *args, **kwargs)
        if switch.on and _STATE.on and _current_call.get() is None:
            try:
                TRACKER.record_backward(tensor)
            except Exception as exc:
                _report("recording a backward pass", exc, TRACKER.session)
        return result

    return backward


def _loader_iter_wrapper(original: Any, switch: Any) -> Any:
    """``DataLoader.__iter__``: note the optimizer step count and the dataset at the start of each pass."""

    @functools.wraps(original)
    def __iter__(loader: Any) -> Any:
        iterator = original(loader)
        if switch.on and _current_call.get() is None and hasattr(iterator, "__dict__"):
            try:
                iterator._fittrace_pass_start = TRACKER.total_steps
                iterator._fittrace_dataset = getattr(loader, "dataset", None)
                TRACKER.current_pass = weakref.ref(iterator)
            except Exception as exc:
                _report("starting a DataLoader pass", exc, TRACKER.session)
        return iterator

    return __iter__


def _loader_next_wrapper(original: Any, switch: Any) -> Any:
    """``_BaseDataLoaderIter.__next__``: a pass ended when it raises StopIteration (once)."""

    @functools.wraps(original)
    def __next__(iterator: Any) -> Any:
        try:
            return original(iterator)
        except StopIteration:
            start = iterator.__dict__.pop("_fittrace_pass_start", None)
            if start is not None and switch.on and _STATE.on:
                try:
                    TRACKER.on_pass_end(start, iterator.__dict__.get("_fittrace_dataset"))
                except Exception as exc:
                    _report("ending an epoch", exc, TRACKER.session)
            raise

    return __next__


def _step_hook(optimizer: Any, args: tuple, kwargs: dict) -> None:
    switch = _STATE.switch
    if switch is None or not switch.on or _current_call.get() is not None:
        return
    try:
        TRACKER.on_step(optimizer)
    except Exception as exc:
        _report("recording an optimizer step", exc, TRACKER.session)


class _Local(threading.local):
    in_loss = False


def _in_call() -> bool:
    """Inside an autologged call (Lightning's fit, ...): its steps and losses are not a plain loop."""
    return _current_call.get() is not None


_local = _Local()
_grad_enabled: Any = None
_is_compiling: Any = None
_step_hook_handle: Any = None


def functional_losses(functional: Any) -> list[str]:
    """The loss functions of ``torch.nn.functional`` (``*_loss``, ``*cross_entropy*``, ``kl_div``)."""
    return sorted(
        name
        for name, value in vars(functional).items()
        if not name.startswith("_")
        and inspect.isfunction(value)
        and (name.endswith("_loss") or "cross_entropy" in name or name == "kl_div")
    )


def install(patcher: Any) -> None:
    """Patch functional losses, backward and DataLoader iteration; hook optimizer steps."""
    global _tensor_type, _grad_enabled, _is_compiling, _step_hook_handle
    import torch
    import torch.nn.functional as functional
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from torch.utils.data.dataloader import DataLoader, _BaseDataLoaderIter

    # The run recorder and the model writer are needed at the first optimizer step and at run end;
    # importing them now, with torch, keeps that time out of the training loop.
    import fittrace.models.saving  # noqa: F401
    import fittrace.tracking.fluent  # noqa: F401

    _tensor_type = torch.Tensor
    _grad_enabled = torch.is_grad_enabled
    _is_compiling = torch.compiler.is_compiling
    _STATE.switch = patcher.switch
    _enabled_settings()
    for name in functional_losses(functional):
        patcher.replace(functional, name, _loss_wrapper)
    patcher.replace(torch.Tensor, "backward", _backward_wrapper)
    patcher.replace(DataLoader, "__iter__", _loader_iter_wrapper)
    patcher.replace(_BaseDataLoaderIter, "__next__", _loader_next_wrapper)
    if _step_hook_handle is None:
        _step_hook_handle = register_optimizer_step_post_hook(_step_hook)
