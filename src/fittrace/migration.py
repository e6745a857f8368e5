"""Copy experiments, runs, artifacts and the model registry between MLflow and fittrace.

``fittrace import --from-mlflow URI`` and ``fittrace export --to-mlflow URI`` call
:func:`import_from_mlflow` and :func:`export_to_mlflow`. The MLflow side is read and written with
MLflow's own client (the ``mlflow`` package, any tracking URI it takes); the fittrace side is the
current store (``FITTRACE_TRACKING_URI``).

Both directions are resumable and idempotent: experiments match by name, a run is found again by
its id (kept when copying into fittrace) or by the ``fittrace.sourceRunId`` tag (written on runs
copied into MLflow, whose ids cannot be chosen), and each part of a run is topped up: missing
params, changed tags, metric points beyond those already copied, artifact files missing or of
another size, dataset inputs not yet recorded. A run already complete is skipped without reading
its metric histories. Registered model versions are copied in order; a source with gaps in its
version numbers (deleted versions) gets consecutive numbers, and the counts say so.

MLflow 3 keeps a logged model outside its run's artifacts; importing copies it into the run's
artifacts under the model's name, and a registered version pointing at it becomes
``runs:/<run_id>/<name>``, so ``models:/name/1`` loads the same model.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

SOURCE_RUN_TAG = "fittrace.sourceRunId"
_TERMINAL = ("FINISHED", "FAILED", "KILLED")
_PAGE = 1000  # runs per search page, metric points per batch (MLflow's log_batch limit)
_SMALL_BATCH = 100  # params or tags per batch (MLflow's limit)


@dataclasses.dataclass
class Counts:
    """What one import or export copied and skipped."""

    experiments_created: int = 0
    runs_copied: int = 0
    runs_updated: int = 0
    runs_skipped: int = 0
    params: int = 0
    tags: int = 0
    metric_points: int = 0
    datasets: int = 0
    artifact_files: int = 0
    artifact_bytes: int = 0
    models_created: int = 0
    versions_copied: int = 0
    versions_skipped: int = 0
    versions_renumbered: int = 0
    aliases: int = 0

    def lines(self) -> list[str]:
        return [
            f"{f.name.replace('_', ' ')}: {getattr(self, f.name)}" for f in dataclasses.fields(self)
        ]


@dataclasses.dataclass
class _Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str
    profile: str
    context: str


class _Progress:
    """``what: n/total`` on stderr: redrawn in place on a terminal, every tenth otherwise."""

    def __init__(self, what: str, total: int, enabled: bool) -> None:
        self.what, self.total, self.done = what, total, 0
        self.enabled = enabled and total > 0
        self.tty = sys.stderr.isatty()

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.tty:
            width = 30
            filled = width * self.done // self.total
            bar = "#" * filled + "." * (width - filled)
            end = "\n" if self.done == self.total else ""
            print(f"\r{self.what} [{bar}] {self.done}/{self.total}", end=end, file=sys.stderr)
        elif self.done == self.total or self.done % max(1, self.total // 10) == 0:
            print(f"{self.what}: {self.done}/{self.total}", file=sys.stderr)


# -------------------------------------------------------------------------------- the two sides


class _Side:
    """One end of a copy, through its client; subclasses adapt the entity shapes."""

    keeps_run_ids = False

    def __init__(self, client: Any) -> None:
        self.client = client

    # experiments and runs
    def experiments(self) -> list[Any]:
        return list(self.client.search_experiments(view_type=3))

    def experiment_by_name(self, name: str) -> Any:
        return self.client.get_experiment_by_name(name)

    def runs(self, experiment_id: str) -> Iterator[Any]:
        return _pages(
            lambda token: self.client.search_runs(
                [experiment_id], run_view_type=3, max_results=_PAGE, page_token=token
            )
        )

    def history(self, run_id: str, key: str) -> list[Any]:
        return list(self.client.get_metric_history(run_id, key))

    def datasets(self, run: Any) -> list[_Dataset]:
        raise NotImplementedError

    def files(self, run_id: str, path: str = "") -> dict[str, int]:
        """Every artifact file of a run below ``path``: relative path -> size."""
        found: dict[str, int] = {}
        for info in self.client.list_artifacts(run_id, path or None):
            if info.is_dir:
                found.update(self.files(run_id, info.path))
            else:
                found[info.path] = info.file_size or 0
        return found

    # registry
    def registered_models(self) -> list[Any]:
        return list(self.client.search_registered_models(max_results=_PAGE))

    def versions(self, name: str) -> list[Any]:
        found = self.client.search_model_versions(f"name = '{_quote(name)}'")
        return sorted(found, key=lambda v: int(v.version))


class _FittraceSide(_Side):
    keeps_run_ids = True

    def datasets(self, run: Any) -> list[_Dataset]:
        return [
            _Dataset(d.name, d.digest, d.source_type, d.source, d.schema, d.profile, d.context)
            for d in run.inputs.dataset_inputs
        ]

    def find_run(self, run_id: str) -> Any:
        from fittrace.exceptions import ResourceNotFoundError

        try:
            return self.client.get_run(run_id)
        except ResourceNotFoundError:
            return None

    def create_run(self, experiment_id: str, source: Any, tags: dict[str, str]) -> str:
        from fittrace.tracking import validation

        info = source.info
        run = self.client._store.create_run(
            experiment_id,
            info.user_id or "",
            info.start_time,
            info.run_name or info.run_id,
            {validation.tag_key(k): validation.tag_value(k, v) for k, v in tags.items()},
            owned=False,
            run_id=info.run_id,
        )
        return run.info.run_id

    def log_inputs(self, run_id: str, datasets: list[_Dataset]) -> None:
        from fittrace.entities import DatasetInput

        self.client.log_inputs(run_id, [DatasetInput(**dataclasses.asdict(d)) for d in datasets])

    def entities(self) -> Any:
        from fittrace import entities

        return entities


class _MlflowSide(_Side):
    def __init__(self, client: Any, uri: str) -> None:
        super().__init__(client)
        self.uri = uri

    def datasets(self, run: Any) -> list[_Dataset]:
        found = []
        for item in run.inputs.dataset_inputs:
            d = item.dataset
            context = next((t.value for t in item.tags if t.key == "mlflow.data.context"), "")
            found.append(
                _Dataset(
                    d.name,
                    d.digest,
                    d.source_type,
                    d.source,
                    d.schema or "",
                    d.profile or "",
                    context,
                )
            )
        return found

    def create_run(self, experiment_id: str, source: Any, tags: dict[str, str]) -> str:
        info = source.info
        run = self.client.create_run(
            experiment_id,
            start_time=info.start_time,
            tags={**tags, SOURCE_RUN_TAG: info.run_id, "mlflow.user": info.user_id or ""},
            run_name=info.run_name or None,
        )
        return run.info.run_id

    def log_inputs(self, run_id: str, datasets: list[_Dataset]) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        self.client.log_inputs(
            run_id,
            [
                DatasetInput(
                    Dataset(d.name, d.digest, d.source_type, d.source, d.schema, d.profile),
                    [InputTag("mlflow.data.context", d.context)] if d.context else [],
                )
                for d in datasets
            ],
        )

    def entities(self) -> Any:
        from mlflow import entities

        return entities

    def registered_models(self) -> list[Any]:
        return list(
            _pages(
                lambda token: self.client.search_registered_models(
                    max_results=_PAGE, page_token=token
                )
            )
        )

    def logged_models(self, experiment_id: str) -> list[Any]:
        search = getattr(self.client, "search_logged_models", None)
        return list(search(experiment_ids=[experiment_id])) if search else []


def _pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    """Every item of a paged search: ``fetch(page_token)`` returns a page with a ``token``."""
    token = None
    while True:
        page = fetch(token)
        yield from page
        token = page.token
        if not token:
            return


def _quote(text: str) -> str:
    return text.replace("'", "\\'")


# -------------------------------------------------------------------------------- copying


class _Copy:
    def __init__(self, source: _Side, dest: _Side, progress: bool) -> None:
        self.source, self.dest, self.progress = source, dest, progress
        self.counts = Counts()
        self.run_ids: dict[str, str] = {}  # source run id -> dest run id
        self.model_paths: dict[str, str] = {}  # MLflow logged-model URI -> runs:/ URI in the dest

    def run(self, experiment_names: list[str] | None) -> Counts:
        experiments = [
            e
            for e in self.source.experiments()
            if experiment_names is None or e.name in experiment_names
        ]
        for experiment in experiments:
            self.experiment(experiment)
        self.registry()
        return self.counts

    def experiment(self, experiment: Any) -> None:
        found = self.dest.experiment_by_name(experiment.name)
        tags = dict(experiment.tags)
        if found is None:
            dest_id = self.dest.client.create_experiment(experiment.name, tags=tags or None)
            self.counts.experiments_created += 1
        else:
            dest_id = found.experiment_id
            for key, value in tags.items():
                if found.tags.get(key) != value:
                    self.dest.client.set_experiment_tag(dest_id, key, value)
        existing = {}
        if not self.dest.keeps_run_ids:
            existing = {
                r.data.tags[SOURCE_RUN_TAG]: r
                for r in self.dest.runs(dest_id)
                if SOURCE_RUN_TAG in r.data.tags
            }
        runs = list(self.source.runs(experiment.experiment_id))
        bar = _Progress(f"{experiment.name}: runs", len(runs), self.progress)
        logged = self._logged_models(experiment.experiment_id)
        for run in reversed(runs):  # oldest first, so parents exist before their children
            self.one_run(
                dest_id, run, existing.get(run.info.run_id), logged.get(run.info.run_id, [])
            )
            bar.step()
        if experiment.lifecycle_stage == "deleted" and found is None:
            self.dest.client.delete_experiment(dest_id)

    def _logged_models(self, experiment_id: str) -> dict[str, list[Any]]:
        by_run: dict[str, list[Any]] = {}
        if isinstance(self.source, _MlflowSide):
            for model in self.source.logged_models(experiment_id):
                by_run.setdefault(model.source_run_id or "", []).append(model)
        return by_run

    def one_run(self, dest_exp: str, run: Any, known: Any, logged: list[Any]) -> None:
        info, data = run.info, run.data
        dest = self.dest.find_run(info.run_id) if self.dest.keeps_run_ids else known
        tags = dict(data.tags)
        if not self.dest.keeps_run_ids:  # the parent was copied first, under a new id
            tags.pop(SOURCE_RUN_TAG, None)
            parent = tags.get("mlflow.parentRunId")
            if parent in self.run_ids:
                tags["mlflow.parentRunId"] = self.run_ids[parent]
        if dest is not None and _complete(run, dest):
            self.run_ids[info.run_id] = dest.info.run_id
            self._map_logged(dest.info.run_id, logged)
            self.counts.runs_skipped += 1
            return
        if dest is None:
            dest_id = self.dest.create_run(dest_exp, run, tags)
            self.counts.runs_copied += 1
            dest_params, dest_tags, dest_metrics = {}, {}, {}
            dest_datasets: set[tuple] = set()
        else:
            dest_id = dest.info.run_id
            self.counts.runs_updated += 1
            dest_params, dest_tags = dict(dest.data.params), dict(dest.data.tags)
            dest_metrics = dict(dest.data.metrics)
            dest_datasets = {(d.name, d.digest, d.context) for d in self.dest.datasets(dest)}
        self.run_ids[info.run_id] = dest_id
        ent = self.dest.entities()
        params = [ent.Param(k, v) for k, v in data.params.items() if k not in dest_params]
        new_tags = [ent.RunTag(k, v) for k, v in tags.items() if dest_tags.get(k) != v]
        for i in range(0, max(len(params), len(new_tags)), _SMALL_BATCH):
            self.dest.client.log_batch(
                dest_id,
                params=params[i : i + _SMALL_BATCH],
                tags=new_tags[i : i + _SMALL_BATCH],
            )
        self.counts.params += len(params)
        self.counts.tags += len(new_tags)
        for key in data.metrics:
            have = len(self.dest.history(dest_id, key)) if key in dest_metrics else 0
            points = self.source.history(info.run_id, key)[have:]
            for i in range(0, len(points), _PAGE):
                chunk = [
                    ent.Metric(key, m.value, m.timestamp, m.step) for m in points[i : i + _PAGE]
                ]
                self.dest.client.log_batch(dest_id, metrics=chunk)
            self.counts.metric_points += len(points)
        datasets = [
            d
            for d in self.source.datasets(run)
            if (d.name, d.digest, d.context) not in dest_datasets
        ]
        if datasets:
            self.dest.log_inputs(dest_id, datasets)
            self.counts.datasets += len(datasets)
        self._artifacts(info.run_id, dest_id)
        for model in logged:
            self._logged_model(dest_id, model)
        self._map_logged(dest_id, logged)
        if info.status in _TERMINAL:
            self.dest.client.set_terminated(dest_id, info.status, end_time=info.end_time)
        if info.lifecycle_stage == "deleted":
            self.dest.client.delete_run(dest_id)

    def _artifacts(self, source_id: str, dest_id: str) -> None:
        wanted = self.source.files(source_id)
        have = self.dest.files(dest_id) if wanted else {}
        missing = [p for p, size in wanted.items() if have.get(p) != size]
        if not missing:
            return
        with tempfile.TemporaryDirectory(prefix="fittrace-copy-") as tmp:
            for path in missing:
                local = self.source.client.download_artifacts(source_id, path, tmp)
                self.dest.client.log_artifact(dest_id, local, posixpath.dirname(path) or None)
                self.counts.artifact_files += 1
                self.counts.artifact_bytes += wanted[path]

    def _logged_model(self, dest_id: str, model: Any) -> None:
        """An MLflow 3 logged model, copied into the run's artifacts under its name."""
        have = self.dest.files(dest_id, model.name)
        if have:
            return
        import mlflow

        with tempfile.TemporaryDirectory(prefix="fittrace-model-") as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=model.artifact_location, dst_path=tmp, tracking_uri=self.source.uri
            )
            self.dest.client.log_artifacts(dest_id, local, model.name)
            for root, _, names in os.walk(local):
                for name in names:
                    self.counts.artifact_files += 1
                    self.counts.artifact_bytes += os.path.getsize(os.path.join(root, name))

    def _map_logged(self, dest_id: str, logged: list[Any]) -> None:
        for model in logged:
            self.model_paths[f"models:/{model.model_id}"] = f"runs:/{dest_id}/{model.name}"

    # registry
    def registry(self) -> None:
        models = self.source.registered_models()
        bar = _Progress("registered models", len(models), self.progress)
        for model in models:
            self.one_model(model)
            bar.step()

    def one_model(self, model: Any) -> None:
        client = self.dest.client
        try:
            found = client.get_registered_model(model.name)
        except Exception:  # noqa: BLE001 - any "no such model" the store raises
            found = None
        if found is None:
            client.create_registered_model(
                model.name, tags=dict(model.tags) or None, description=model.description or None
            )
            self.counts.models_created += 1
        else:
            for key, value in dict(model.tags).items():
                if found.tags.get(key) != value:
                    client.set_registered_model_tag(model.name, key, value)
        have = {int(v.version) for v in self.dest.versions(model.name)} if found else set()
        numbers: dict[int, int] = {}  # source version -> dest version
        for version in self.source.versions(model.name):
            number = int(version.version)
            if number in have:
                numbers[number] = number
                self.counts.versions_skipped += 1
                continue
            created = client.create_model_version(
                model.name,
                self._source_uri(version),
                run_id=self.run_ids.get(version.run_id or "", version.run_id),
                tags=dict(version.tags) or None,
                description=version.description or None,
            )
            numbers[number] = int(created.version)
            self.counts.versions_copied += 1
            self.counts.versions_renumbered += int(created.version) != number
        for alias, number in _aliases(model).items():
            if number in numbers:
                client.set_registered_model_alias(model.name, alias, numbers[number])
                self.counts.aliases += 1

    def _source_uri(self, version: Any) -> str:
        source = version.source or ""
        if source in self.model_paths:
            return self.model_paths[source]
        old_run = version.run_id or ""
        if source.startswith(f"runs:/{old_run}/") and old_run in self.run_ids:
            return f"runs:/{self.run_ids[old_run]}/" + source[len(f"runs:/{old_run}/") :]
        if old_run in self.run_ids:
            artifact_uri = self.source.client.get_run(old_run).info.artifact_uri.rstrip("/")
            if source.startswith(artifact_uri + "/"):
                return f"runs:/{self.run_ids[old_run]}/" + source[len(artifact_uri) + 1 :]
        return source


def _aliases(model: Any) -> dict[str, int]:
    aliases = model.aliases
    if isinstance(aliases, dict):
        return {k: int(v) for k, v in aliases.items()}
    return {a.alias: int(a.version) for a in aliases}  # MLflow's RegisteredModelAlias list


def _complete(source: Any, dest: Any) -> bool:
    """Whether a copied run already holds everything: same terminal state, params and latest metrics."""
    s, d = source.info, dest.info
    return (
        s.status in _TERMINAL
        and (s.status, s.end_time, s.lifecycle_stage) == (d.status, d.end_time, d.lifecycle_stage)
        and dict(source.data.params) == dict(dest.data.params)
        and dict(source.data.metrics) == dict(dest.data.metrics)
    )


# -------------------------------------------------------------------------------- entry points


def _mlflow_client(uri: str) -> Any:
    try:
        from mlflow import MlflowClient
    except ImportError as e:
        raise ImportError(
            "Copying to or from MLflow reads MLflow's store with its own client: "
            "pip install 'fittrace[mlflow]'"
        ) from e
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # fittrace shows its own
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _copy(source: _Side, dest: _Side, experiment_names: list[str] | None, progress: bool) -> Counts:
    counts = _Copy(source, dest, progress).run(experiment_names)
    flush: Callable[[], None] | None = getattr(dest.client, "flush", None)
    if flush is not None:
        flush()
    return counts


def import_from_mlflow(
    uri: str,
    experiment_names: list[str] | None = None,
    progress: bool = False,
    tracking_uri: str | None = None,
) -> Counts:
    """Copy the MLflow store at ``uri`` into fittrace's store at ``tracking_uri`` (default: the
    current one); run again, it copies only what is new."""
    from fittrace.tracking.client import Client

    source = _MlflowSide(_mlflow_client(uri), uri)
    return _copy(source, _FittraceSide(Client(tracking_uri)), experiment_names, progress)


def export_to_mlflow(
    uri: str,
    experiment_names: list[str] | None = None,
    progress: bool = False,
    tracking_uri: str | None = None,
) -> Counts:
    """Copy fittrace's store at ``tracking_uri`` (default: the current one) into the MLflow store
    at ``uri``; run again, it copies only what is new."""
    from fittrace.tracking.client import Client

    dest = _MlflowSide(_mlflow_client(uri), uri)
    return _copy(_FittraceSide(Client(tracking_uri)), dest, experiment_names, progress)
