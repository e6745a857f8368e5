"""The fluent API: module-level functions acting on the active run.

The active-run stack lives in a context variable, so each thread and each
asyncio task has its own. Runs started in this process and never ended are
ended at interpreter exit: FAILED if the exit is due to an uncaught
exception, FINISHED otherwise. A forked child inherits its parent's active
run to log into, but never ends it on its own exit. Runs whose process was
killed are marked KILLED the next time any process opens the store.
"""

from __future__ import annotations

import atexit
import contextvars
import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from fittrace import tags as system_tags
from fittrace.entities import (
    MODEL_INPUT_TAG_PREFIX,
    Experiment,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from fittrace.exceptions import (
    FittraceError,
    InvalidParameterError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
    StoreWarning,
)
from fittrace.tracking import stores, system_metrics
from fittrace.tracking.client import Client

set_tracking_uri = stores.set_tracking_uri
get_tracking_uri = stores.get_tracking_uri

_stack: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar(
    "fittrace_active_runs", default=()
)
_open: dict[str, Client] = {}  # runs this process started and has not ended, for the exit handler
_lock = threading.Lock()
_state: dict[str, Any] = {"experiment": None, "last_run": None}
_implicit: set[str] = set()  # runs autologging opened on the user's behalf
_end_hooks: list[Callable[[str, str], None]] = []


class ActiveRun(Run):
    """The run returned by ``start_run``; as a context manager it ends the run, FAILED on an exception."""

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        status = RunStatus.FINISHED if exc_type is None else RunStatus.FAILED
        if self.info.run_id in _open:
            _end(self.info.run_id, status)


def _client() -> Client:
    return Client()


# -- experiments -------------------------------------------------------------------
def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment current for new runs, creating it by name on first use."""
    client = _client()
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidParameterError(
            "set_experiment takes exactly one of experiment_name or experiment_id"
        )
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
    else:
        experiment = client.get_experiment_by_name(experiment_name)  # type: ignore[arg-type]
        if experiment is None:
            try:
                experiment = client.get_experiment(client.create_experiment(experiment_name))  # type: ignore[arg-type]
            except ResourceAlreadyExistsError:  # another process created it just now
                experiment = client.get_experiment_by_name(experiment_name)  # type: ignore[arg-type]
    if experiment.lifecycle_stage != "active":
        raise InvalidParameterError(
            f"Experiment {experiment.name!r} is deleted; restore it before using it"
        )
    _state["experiment"] = ("id", experiment.experiment_id, stores.store_key(client.tracking_uri))
    return experiment


def _current_experiment_id(client: Client) -> str:
    chosen = _state["experiment"]
    if chosen is not None and chosen[2] == stores.store_key(client.tracking_uri):
        return chosen[1]
    name = os.environ.get("FITTRACE_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        experiment = client.get_experiment_by_name(name)
        return experiment.experiment_id if experiment else client.create_experiment(name)
    return os.environ.get("FITTRACE_EXPERIMENT_ID") or os.environ.get("MLFLOW_EXPERIMENT_ID") or "0"


def create_experiment(
    name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
) -> str:
    return _client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    return _client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return _client().get_experiment_by_name(name)


def delete_experiment(experiment_id: str) -> None:
    _client().delete_experiment(experiment_id)


def set_experiment_tag(key: str, value: Any) -> None:
    client = _client()
    client.set_experiment_tag(_current_experiment_id(client), key, value)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    client = _client()
    experiment_id = _current_experiment_id(client)
    for key, value in tags.items():
        client.set_experiment_tag(experiment_id, key, value)


def search_experiments(
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
) -> list[Experiment]:
    """Experiments matching ``filter_string`` (e.g. ``"name LIKE 'fraud%'"``, ``"tags.team = 'risk'"``)."""
    return _client().search_experiments(view_type, max_results, filter_string, order_by)


# -- runs --------------------------------------------------------------------------
def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    parent_run_id: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a new run (or resume ``run_id``) and make it active in this thread/task.

    ``log_system_metrics``: sample CPU, memory, disk, network and GPU metrics while the run is
    open (None: as ``enable_system_metrics_logging()`` / ``FITTRACE_ENABLE_SYSTEM_METRICS_LOGGING``).
    """
    stack = _stack.get()
    if stack and not nested and stack[-1].info.run_id in _implicit:
        _end(stack[-1].info.run_id, RunStatus.FINISHED)  # a plain loop's run yields to the user's
        stack = _stack.get()
    if stack and not nested:
        raise FittraceError(
            f"Run {stack[-1].info.run_id} is already active. End it with end_run() first, "
            "or start a child run with start_run(nested=True)."
        )
    client = _client()
    extra = dict(tags or {})
    if description is not None:
        extra[system_tags.NOTE] = description
    if run_id is not None:
        run = client.get_run(run_id)
        if run.info.lifecycle_stage != "active":
            raise InvalidParameterError(f"Run {run_id} is deleted; restore it before resuming it")
        client.resume_run(run_id)
        if run_name:
            extra[system_tags.RUN_NAME] = run_name
        if extra:
            client.log_batch(run_id, tags=[RunTag(k, v) for k, v in extra.items()])
        run = client.get_run(run_id)
    else:
        parent = parent_run_id or (stack[-1].info.run_id if stack else None)
        if parent:
            extra[system_tags.PARENT_RUN_ID] = parent
        run = client.create_run(
            experiment_id if experiment_id is not None else _current_experiment_id(client),
            tags=extra,
            run_name=run_name,
        )
    active = ActiveRun(run.info, run.data, run.inputs)
    with _lock:
        _open[run.info.run_id] = client
    _stack.set(stack + (active,))
    if system_metrics.wanted(log_system_metrics):
        system_metrics.start(client, run.info.run_id)
    return active


def mark_implicit(run_id: str) -> None:
    """Mark a run started on the user's behalf (a plain PyTorch loop's): the user's next start_run ends it."""
    _implicit.add(run_id)


def on_run_end(hook: Callable[[str, str], None]) -> None:
    """Call ``hook(run_id, status)`` just before any run this process ends (end_run, a with-block, exit)."""
    _end_hooks.append(hook)


def _end(run_id: str, status: str) -> None:
    if status not in RunStatus.TERMINAL:
        raise InvalidParameterError(f"status must be one of {RunStatus.TERMINAL}, got {status!r}")
    implicit = run_id in _implicit
    _implicit.discard(run_id)
    for hook in list(_end_hooks):
        hook(run_id, status)
    with _lock:
        client = _open.pop(run_id, None)
    stack = _stack.get()
    if any(r.info.run_id == run_id for r in stack):
        _stack.set(tuple(r for r in stack if r.info.run_id != run_id))
    client = client or _client()
    _state["last_run"] = (run_id, client.tracking_uri)
    if not implicit:
        client.set_terminated(run_id, status)
        return
    try:  # autologging's run: its store errors warn, as autologging's always do
        client.set_terminated(run_id, status)
    except FittraceError as exc:
        warnings.warn(
            f"fittrace could not end the run autologging started ({run_id}): {exc}",
            StoreWarning,
            stacklevel=3,
        )


def end_run(status: str = RunStatus.FINISHED) -> None:
    """End the active run of this thread/task (no-op when none is active)."""
    stack = _stack.get()
    if stack:
        _end(stack[-1].info.run_id, status)


def active_run() -> ActiveRun | None:
    stack = _stack.get()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The active run, or else the most recently ended run of this process (fresh from the store)."""
    current = active_run()
    if current is not None:
        return get_run(current.info.run_id)
    last = _state["last_run"]
    return Client(last[1]).get_run(last[0]) if last else None


def get_run(run_id: str) -> Run:
    return _client().get_run(run_id)


def delete_run(run_id: str) -> None:
    _client().delete_run(run_id)


def _active_run_id() -> tuple[Client, str]:
    """The active run, starting one (like MLflow) when a log call comes with none."""
    stack = _stack.get()  # not active_run(): this is on every log call's path
    run_id = (stack[-1] if stack else start_run()).info.run_id
    return _open.get(run_id) or _client(), run_id


# -- logging -----------------------------------------------------------------------
def log_param(key: str, value: Any) -> Any:
    client, run_id = _active_run_id()
    return client.log_param(run_id, key, value)


def log_params(params: dict[str, Any]) -> None:
    client, run_id = _active_run_id()
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: int | None = None
) -> None:
    client, run_id = _active_run_id()
    client._recorder.log_metric(run_id, key, value, timestamp, step)


def log_metrics(
    metrics: dict[str, float], step: int | None = None, timestamp: int | None = None
) -> None:
    client, run_id = _active_run_id()
    client.log_batch(run_id, metrics=[Metric(k, v, timestamp, step) for k, v in metrics.items()])  # type: ignore[arg-type]


def set_tag(key: str, value: Any) -> None:
    client, run_id = _active_run_id()
    client.set_tag(run_id, key, value)


def set_tags(tags: dict[str, Any]) -> None:
    client, run_id = _active_run_id()
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])


def delete_tag(key: str) -> None:
    client, run_id = _active_run_id()
    client.delete_tag(run_id, key)


def log_artifact(local_path: str, artifact_path: str | None = None) -> None:
    client, run_id = _active_run_id()
    client.log_artifact(run_id, local_path, artifact_path)


def log_artifacts(local_dir: str, artifact_path: str | None = None) -> None:
    client, run_id = _active_run_id()
    client.log_artifacts(run_id, local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    client, run_id = _active_run_id()
    client.log_text(run_id, text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str) -> None:
    client, run_id = _active_run_id()
    client.log_dict(run_id, dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    client, run_id = _active_run_id()
    client.log_figure(run_id, figure, artifact_file)


def log_image(
    image: Any,
    artifact_file: str | None = None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
) -> None:
    """Save a numpy array or PIL image as ``artifact_file``, or as step ``step`` of the image
    series ``key`` (see ``Client.log_image``)."""
    client, run_id = _active_run_id()
    client.log_image(run_id, image, artifact_file, key=key, step=step, timestamp=timestamp)


def log_table(data: Any, artifact_file: str) -> None:
    """Save a dict of columns or a DataFrame as a JSON table artifact; rows add to an existing one."""
    client, run_id = _active_run_id()
    client.log_table(run_id, data, artifact_file)


def load_table(artifact_file: str, run_ids: Sequence[str] | None = None) -> Any:
    """The table ``log_table`` wrote, as a DataFrame; the rows of every run in ``run_ids``
    (default: all runs of the current experiment that have it)."""
    import pandas

    client = _client()
    if run_ids is None:
        run_ids = [r.info.run_id for r in client.search_runs([_current_experiment_id(client)])]
    frames = []
    for run_id in run_ids:
        table = client.load_table(run_id, artifact_file)
        if table is not None:
            frames.append(pandas.DataFrame(table["data"], columns=table["columns"]))
    return pandas.concat(frames, ignore_index=True) if frames else pandas.DataFrame()


def log_input(dataset: Any = None, context: str | None = None, model: Any = None) -> None:
    """Record a dataset the run used (by name and digest, never a copy of the data) and/or a
    logged model it used (``model``: a ``LoggedModelInput`` or anything with ``model_id``).

    ``dataset`` is a ``fittrace.data`` dataset, MLflow's (``mlflow.data.from_numpy``, ...) or a
    ``DatasetInput``.
    """
    from fittrace.data import dataset_input

    if dataset is None and model is None:
        raise InvalidParameterError("log_input needs a dataset or a model")
    record = dataset_input(dataset, context) if dataset is not None else None
    client, run_id = _active_run_id()
    if record is not None:
        client.log_inputs(run_id, [record])
    if model is not None:
        client.set_tag(run_id, MODEL_INPUT_TAG_PREFIX + str(model.model_id), str(model.model_id))


def get_artifact_uri(artifact_path: str | None = None) -> str:
    _, run_id = _active_run_id()
    uri = get_run(run_id).info.artifact_uri
    return f"{uri}/{artifact_path.lstrip('/')}" if artifact_path else uri


def flush() -> None:
    """Persist everything buffered so far."""
    _client().flush()


flush_async_logging = flush  # MLflow's name for the same call


# -- search ------------------------------------------------------------------------
def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int = 100_000,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> Any:
    """Search runs; a pandas DataFrame when pandas is installed and output_format='pandas', else a list of Runs."""
    if output_format not in ("pandas", "list"):
        raise InvalidParameterError(
            f"output_format must be 'pandas' or 'list', got {output_format!r}"
        )
    client = _client()
    ids = [str(e) for e in experiment_ids or []]
    for name in experiment_names or []:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise ResourceNotFoundError(f"No experiment named {name!r}")
        ids.append(experiment.experiment_id)
    if not ids:
        if search_all_experiments:
            ids = [e.experiment_id for e in client.search_experiments(ViewType.ALL)]
        else:
            ids = [_current_experiment_id(client)]
    runs = client.search_runs(ids, filter_string, run_view_type, max_results, order_by)
    if output_format == "list":
        return runs
    try:
        import pandas
    except ImportError:
        return runs
    return _to_frame(pandas, runs)


def _to_frame(pandas: Any, runs: list[Run]) -> Any:
    rows = []
    for run in runs:
        info = run.info
        row: dict[str, Any] = {
            "run_id": info.run_id,
            "experiment_id": info.experiment_id,
            "status": info.status,
            "artifact_uri": info.artifact_uri,
            "start_time": pandas.to_datetime(info.start_time, unit="ms", utc=True),
            "end_time": pandas.to_datetime(info.end_time, unit="ms", utc=True)
            if info.end_time
            else pandas.NaT,
        }
        row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
        row.update({f"params.{k}": v for k, v in run.data.params.items()})
        row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
        rows.append(row)
    columns = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    return pandas.DataFrame(rows, columns=None if rows else columns)


# -- interpreter exit --------------------------------------------------------------
def _end_open_runs_at_exit() -> None:
    crashed = (
        getattr(sys, "last_value", None) is not None or getattr(sys, "last_exc", None) is not None
    )
    status = RunStatus.FAILED if crashed else RunStatus.FINISHED
    for run_id in list(_open):
        try:
            _end(run_id, status)
        except Exception:  # never turn interpreter exit into a traceback
            pass


def _forget_parent_runs() -> None:
    """In a forked child: the runs the parent started are the parent's to end."""
    global _lock
    _lock = threading.Lock()
    _open.clear()
    _implicit.clear()


atexit.register(_end_open_runs_at_exit)
os.register_at_fork(after_in_child=_forget_parent_runs)
