"""Optuna autologging: one run per ``Study.optimize``, one child run per trial.

The optimize run
    Params ``study_name``, ``direction`` (or ``directions``), ``sampler`` and ``pruner``
    (class names), ``sampler_config``/``pruner_config`` (their scalar settings),
    ``n_trials``, ``timeout`` and ``n_jobs``. After the last trial: for a single objective
    the best trial's params as ``best_<name>`` and metrics ``best_value`` and
    ``best_trial_number``; for several objectives ``best_trials_count`` (the Pareto front).
    Inside a user's run the study logs into it (a second study becomes a child run).

Each trial (a child run named ``trial_<number>``)
    Params: the trial's params; metrics: ``value`` (``value_0``, ``value_1``... for several
    objectives), ``intermediate_value`` at each reported step, ``duration_seconds``; tags
    ``optuna.trial_number``, ``optuna.trial_state`` and the trial's user attributes as
    ``optuna.user_attr.<key>``. The run ends FINISHED for a complete trial, KILLED for a
    pruned one and FAILED for a failed one.

While the objective runs, the trial's run is the active run of its thread: a framework fit
inside it (``fittrace.autolog()`` with scikit-learn, LightGBM...) logs into the trial's
run, and ``fittrace.log_metric`` too. Trials run in threads (``n_jobs > 1``) get their own
runs. Several processes sharing one study through an RDB storage each record their own
optimize run with the trials they ran; the best trial is the study's, across processes.
Trials made with ``study.ask()``/``study.tell()`` outside ``optimize`` are not recorded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Generator
from typing import Any

from fittrace.autologging import Call, ChildRun, Patcher

_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}


def _config(obj: Any) -> dict[str, Any]:
    """The scalar settings of a sampler or pruner (Optuna keeps them as ``_name`` attributes)."""
    return {
        name.lstrip("_"): value
        for name, value in sorted(vars(obj).items())
        if isinstance(value, (int, float, str, bool)) and not name.startswith("__")
    }


def _study_params(call: Call, study: Any) -> dict[str, Any]:
    directions = [d.name.lower() for d in study.directions]
    params: dict[str, Any] = {"study_name": study.study_name}
    if len(directions) == 1:
        params["direction"] = directions[0]
    else:
        params["directions"] = directions
    for role in ("sampler", "pruner"):
        part = getattr(study, role)
        params[role] = type(part).__name__
        params[f"{role}_config"] = _config(part)
    for name, position in (("n_trials", 1), ("timeout", 2), ("n_jobs", 3)):
        params[name] = call.get_arg(name, position)
    return params


class _Trials:
    """The open trial runs of one optimize call, by trial number (objectives may run in threads)."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self._runs: dict[int, ChildRun] = {}
        self._lock = threading.Lock()

    def open(self, number: int) -> ChildRun:
        child = self._call.start_child_run(
            run_name=f"trial_{number}", tags={"optuna.trial_number": number}
        )
        with self._lock:
            self._runs[number] = child
        return child

    def finish(self, trial: Any) -> None:
        """Record a finished ``FrozenTrial`` into its run and end the run."""
        with self._lock:
            child = self._runs.pop(trial.number, None)
        if child is None:
            return
        state = trial.state.name
        try:
            child.log_params(trial.params)
            child.set_tags(
                {
                    "optuna.trial_state": state,
                    **{f"optuna.user_attr.{k}": v for k, v in trial.user_attrs.items()},
                }
            )
            values = trial.values or ()
            if len(values) == 1:
                child.log_metrics({"value": values[0]})
            else:
                child.log_metrics({f"value_{i}": v for i, v in enumerate(values)})
            for step, value in sorted(trial.intermediate_values.items()):
                child.log_metrics({"intermediate_value": value}, step=step)
            if trial.duration is not None:
                child.log_metrics({"duration_seconds": trial.duration.total_seconds()})
        finally:
            child.end(_STATUS.get(state, "FAILED"))

    def finish_left_open(self, study: Any) -> None:
        """Trials whose objective raised out of optimize reach no callback: record them from the study."""
        with self._lock:
            numbers = set(self._runs)
        for trial in study.get_trials(deepcopy=False):
            if trial.number in numbers:
                self.finish(trial)


class _TrialObjective:
    """The user's objective, run with its trial's run active (when that run could be made).

    Pickled (to ship the objective to another process), it is the user's objective alone.
    """

    def __init__(self, call: Call, trials: _Trials, func: Callable[[Any], Any]) -> None:
        self._call, self._trials, self.func = call, trials, func

    def __reduce__(self) -> tuple[Any, ...]:
        return _unwrapped, (self.func,)

    def __call__(self, trial: Any) -> Any:
        with contextlib.ExitStack() as stack:
            with self._call.guard("starting the trial run"):
                stack.enter_context(self._trials.open(trial.number).activate())
            return self.func(trial)


def _unwrapped(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return func


class TrialRecorder:
    """The callback that records each finished trial into its run.

    Pickled, it records nothing: its runs belong to the process that made them.
    """

    def __init__(self, call: Call | None, trials: _Trials | None) -> None:
        self._call, self._trials = call, trials

    def __reduce__(self) -> tuple[Any, ...]:
        return TrialRecorder, (None, None)

    def __call__(self, study: Any, trial: Any) -> None:
        if self._call is None or self._trials is None:
            return
        with self._call.guard("recording a trial"):
            self._trials.finish(trial)


def _log_best(call: Call, study: Any) -> None:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return
    if len(study.directions) > 1:
        call.log_metrics({"best_trials_count": len(study.best_trials)})
        return
    best = study.best_trial
    call.log_params({f"best_{k}": v for k, v in best.params.items()})
    call.log_metrics({"best_value": best.value, "best_trial_number": best.number})


def _capture_optimize(call: Call) -> Generator[None, Any, None]:
    study = call.instance
    func = call.get_arg("func", 0)
    if not callable(func):
        return
    call.log_params(_study_params(call, study))
    call.set_tags({"optuna.study_name": study.study_name})
    trials = _Trials(call)
    call.replace_arg("func", 0, _TrialObjective(call, trials, func))
    callbacks = call.get_arg("callbacks", 5)
    call.replace_arg("callbacks", 5, [*(callbacks or ()), TrialRecorder(call, trials)])
    try:
        yield
    finally:
        with call.guard("recording trials that raised"):
            trials.finish_left_open(study)
    _log_best(call, study)


def install(patcher: Patcher) -> None:
    import optuna

    patcher.patch(optuna.study.Study, "optimize", _capture_optimize)
