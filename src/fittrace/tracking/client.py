"""The explicit, run-id based API that the fluent API and every integration are built on."""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fittrace import tags as tags_
from fittrace._lazy import lazy_module
from fittrace.entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from fittrace.exceptions import InvalidParameterError, ResourceNotFoundError
from fittrace.store.artifacts import ArtifactRepository, clean_artifact_path, run_repository
from fittrace.tracking import context, pending, provenance, stores, system_metrics, validation
from fittrace.tracking.registry_client import RegistryClient

if TYPE_CHECKING:
    from fittrace.entities.files import FileInfo
    from fittrace.entities.history import MetricHistory

search = lazy_module("fittrace.store.search")  # filters and paging: imported by a search, not a fit


def page_token_at(
    offset: int, after: list | None = None, order_by: Sequence[str] | None = None
) -> str:
    """The ``page_token`` of the page of search results that starts at ``offset``; for runs,
    ``after``: the ``search.page_key`` of the run before it under ``order_by``, so that the
    store reads that page without counting ``offset`` runs first."""
    token: dict = {"offset": offset}
    if after is not None:
        token.update(after=after, order=search.order_entries(order_by))
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def page_position(token: str | None, order_by: Sequence[str] | None) -> tuple[int, list | None]:
    """The offset a ``page_token`` names, and its page key when it was made for ``order_by``
    (a token from before page keys, or for another order, goes by its offset)."""
    if not token:
        return 0, None
    invalid = f"Invalid page_token {token!r}: not from a search"
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = position["offset"]
    except (ValueError, TypeError, KeyError) as e:
        raise InvalidParameterError(invalid) from e
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidParameterError(invalid)
    after = position.get("after")
    if after is None or position.get("order") != search.order_entries(order_by):
        return offset, None
    try:
        return offset, search.check_page_key(after, order_by)
    except InvalidParameterError as e:
        raise InvalidParameterError(invalid) from e


_IMAGE_KEY = re.compile(r"^[A-Za-z0-9_\-./ ]+$")
_THUMBNAIL_PX = 256  # the longer side of log_image's thumbnails, as MLflow's


def _pil_image(image: Any) -> Any:
    """A PIL image from a PIL image or a numpy array (floats in [0, 1] or uint8)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    import numpy as np

    array = np.asarray(image)
    if array.dtype.kind == "f":
        array = np.clip(array * 255, 0, 255).round()
    return Image.fromarray(array.astype(np.uint8))


EXPERIMENT_ATTRIBUTES = ("name", "experiment_id", "creation_time", "last_update_time")


def _now() -> int:
    return time.time_ns() // 1_000_000


class Client(RegistryClient):
    """Read and write experiments, runs and artifacts of one tracking store by id."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri or stores.get_tracking_uri()
        self._recorder = stores.recorder_for(self.tracking_uri)
        self._store = self._recorder.store

    # -- experiments ---------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str:
        return self._store.create_experiment(
            name,
            artifact_location,
            {validation.tag_key(k): validation.tag_value(k, v) for k, v in (tags or {}).items()},
        )

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._store.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self._store.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """Experiments matching ``filter_string`` (``name LIKE 'x%'``, ``tags.k = 'v'``), newest
        first when filtered or ordered; ``max_results`` a page, its ``token`` the next one's."""
        experiments = self._store.search_experiments(view_type)
        if filter_string or order_by:
            from fittrace.tracking import entity_filter

            order = order_by or ["creation_time DESC"]
            experiments = entity_filter.search(
                experiments, filter_string, order, EXPERIMENT_ATTRIBUTES
            )
        offset = page_position(page_token, None)[0]
        if max_results is None:
            return PagedList(experiments[offset:], None)
        search.check_count("max_results", max_results)
        end = offset + max_results
        token = page_token_at(end) if end < len(experiments) else None
        return PagedList(experiments[offset:end], token)

    def count_runs(self) -> dict[str, int]:
        """Number of active runs per experiment id."""
        self._recorder.flush()
        return self._store.count_runs()

    def count_matching_runs(self, experiment_id: str, filter_string: str = "") -> int:
        """Number of active runs of an experiment that ``filter_string`` matches."""
        self._recorder.flush()
        return self._store.count_matching_runs([experiment_id], filter_string)

    def delete_experiment(self, experiment_id: str) -> None:
        self._store.set_experiment_lifecycle(experiment_id, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self._store.set_experiment_lifecycle(experiment_id, LifecycleStage.ACTIVE)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self._store.set_experiment_tag(
            experiment_id, validation.tag_key(key), validation.tag_value(key, value)
        )

    # -- runs ----------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        """Create a RUNNING run with the system tags (user, source, git, Python) plus ``tags``.

        A top-level run also gets its environment and uncommitted changes recorded
        in the background (see ``fittrace.tracking.provenance``).
        """
        clean = {validation.tag_key(k): validation.tag_value(k, v) for k, v in (tags or {}).items()}
        name = validation.run_name(
            run_name or clean.get(tags_.RUN_NAME) or context.random_run_name()
        )
        all_tags = {**context.system_tags(), **clean, tags_.RUN_NAME: name}
        run = self._store.create_run(
            str(experiment_id), all_tags[tags_.USER], start_time or _now(), name, all_tags
        )
        # child runs share their parent's environment
        if tags_.PARENT_RUN_ID not in all_tags and provenance.enabled():
            source = all_tags[tags_.SOURCE_NAME]
            provenance.record(self, run.info.run_id, context.source_dir(source))
        return run

    def get_run(self, run_id: str) -> Run:
        pending.wait_deferred(run_id)  # e.g. the environment tags
        self._recorder.flush()
        return self._store.get_run(run_id)

    def set_terminated(
        self, run_id: str, status: str = RunStatus.FINISHED, end_time: int | None = None
    ) -> None:
        """End a run: flush its buffered data, then record the final status."""
        if status not in RunStatus.TERMINAL:
            raise InvalidParameterError(
                f"status must be one of {RunStatus.TERMINAL}, got {status!r}"
            )
        system_metrics.stop(run_id)
        pending.wait_at_end(run_id)
        self._recorder.flush()
        self._store.update_run_info(run_id, status, end_time or _now())
        self._recorder.forget(run_id)

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        if name is not None:
            self.set_tag(run_id, tags_.RUN_NAME, validation.run_name(name))
        if status is not None:
            if status not in RunStatus.ALL:
                raise InvalidParameterError(
                    f"status must be one of {RunStatus.ALL}, got {status!r}"
                )
            self._recorder.flush()
            end = None if status in (RunStatus.RUNNING, RunStatus.SCHEDULED) else _now()
            self._store.update_run_info(run_id, status, end)

    def resume_run(self, run_id: str) -> Run:
        self._store.resume_run(run_id)
        return self.get_run(run_id)

    def delete_run(self, run_id: str) -> None:
        self._store.set_run_lifecycle(run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self._store.set_run_lifecycle(run_id, LifecycleStage.ACTIVE)

    def log_param(self, run_id: str, key: str, value: Any) -> Any:
        self._recorder.log_batch(run_id, params=[Param(key, value)])
        return value

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
    ) -> None:
        self._recorder.log_metric(run_id, key, value, timestamp, step)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self._recorder.log_batch(run_id, tags=[RunTag(key, value)])

    def delete_tag(self, run_id: str, key: str) -> None:
        self._recorder.flush()
        self._store.delete_tag(run_id, validation.tag_key(key))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        self._recorder.log_batch(run_id, metrics, params, tags)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self._store.log_inputs(run_id, datasets)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self._recorder.flush()
        return self._store.get_metric_history(run_id, key)

    def get_metric_history_columns(self, run_id: str, key: str) -> MetricHistory:
        """The history as three columns (``steps``, ``timestamps``, ``values``: ``array.array``s,
        ``numpy.asarray`` shares them), without a ``Metric`` per point: long histories read
        many times faster than with ``get_metric_history``."""
        self._recorder.flush()
        return self._store.get_metric_history_columns(run_id, key)

    def search_runs(
        self,
        experiment_ids: Sequence[str] | str,
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """One page of matching runs (newest first unless ``order_by``); pass its ``token`` for the next."""
        search.check_count("max_results", max_results)
        pending.wait_deferred()
        self._recorder.flush()
        ids = [experiment_ids] if isinstance(experiment_ids, (str, int)) else list(experiment_ids)
        offset, after = page_position(page_token, order_by)
        runs = self._store.search_runs(
            ids,
            filter_string,
            run_view_type,
            min(max_results + 1, search.MAX_COUNT),
            order_by,
            offset,
            after,
        )
        if len(runs) <= max_results:
            return PagedList(runs, None)
        last = runs[max_results - 1]
        token = page_token_at(offset + max_results, search.page_key(last, order_by), order_by)
        return PagedList(runs[:max_results], token)

    def flush(self) -> None:
        pending.wait()  # first: deferred writes (the environment tags) log through the recorder
        self._recorder.flush()

    # -- artifacts -----------------------------------------------------------------
    @property
    def is_remote(self) -> bool:
        """Whether the store is a tracking server's (an ``http(s)://`` tracking URI)."""
        return bool(getattr(self._store, "is_remote", False))

    def artifact_repository(self, run_id: str) -> ArtifactRepository:
        """Where a run's artifacts are read and written: through the tracking server for an
        ``http(s)://`` tracking URI, else at the run's artifact URI."""
        return run_repository(self._store, run_id)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        repo = self.artifact_repository(run_id)
        if os.path.isdir(local_path):
            name = os.path.basename(os.path.normpath(local_path))
            repo.log_artifacts(
                local_path, "/".join(p for p in (clean_artifact_path(artifact_path), name) if p)
            )
        else:
            repo.log_artifact(local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        self.artifact_repository(run_id).log_artifacts(local_dir, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.artifact_repository(run_id).write_bytes(artifact_file, text.encode("utf-8"))

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Write a dict as JSON, or as YAML when ``artifact_file`` ends in .yaml/.yml."""
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            text = yaml.safe_dump(dictionary, default_flow_style=False, sort_keys=False)
        else:
            text = json.dumps(dictionary, indent=2, default=str)
        self.log_text(run_id, text, artifact_file)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        """Save a matplotlib figure (any savefig format) or a plotly figure (.html/.png)."""
        suffix = os.path.splitext(artifact_file)[1] or ".png"
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "figure" + suffix)
            if hasattr(figure, "savefig"):
                figure.savefig(path)
            elif hasattr(figure, "write_html") and suffix in (".html", ".htm"):
                figure.write_html(path)
            elif hasattr(figure, "write_image"):
                figure.write_image(path)
            else:
                raise InvalidParameterError(
                    f"log_figure takes a matplotlib or plotly figure, got {type(figure).__name__}"
                )
            with open(path, "rb") as f:
                self.artifact_repository(run_id).write_bytes(artifact_file, f.read())

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Save a numpy array (HxW, HxWx3, HxWx4; floats in [0, 1] or uint8) or a PIL image (needs Pillow).

        Either as ``artifact_file``, or as one step of the image series ``key``: MLflow's layout,
        ``images/<key>+step+<step>+timestamp+<ms>+<uuid>.png`` beside a thumbnail of at most
        256 px ``...+compressed.webp``, and the run tagged ``mlflow.loggedImages``.
        """
        if (artifact_file is None) == (key is None):
            raise InvalidParameterError("log_image takes exactly one of artifact_file and key")
        image = _pil_image(image)
        if artifact_file is not None:
            self._write_image(run_id, image, artifact_file)
            return
        if not _IMAGE_KEY.match(key):
            raise InvalidParameterError(
                f"log_image key {key!r} may only hold letters, digits, '_', '-', '.', ' ' and '/'"
            )
        timestamp = (
            int(time.time() * 1000)
            if timestamp is None
            else validation.integer("timestamp", timestamp)
        )
        stem = "images/{}+step+{}+timestamp+{}+{}".format(
            key.replace("/", "~"), validation.integer("step", step or 0), timestamp, uuid.uuid4()
        )
        self._write_image(run_id, image, stem + ".png")
        thumbnail = image.copy()
        thumbnail.thumbnail((_THUMBNAIL_PX, _THUMBNAIL_PX))
        self._write_image(run_id, thumbnail, stem + "+compressed.webp")
        self.set_tag(run_id, tags_.LOGGED_IMAGES, "True")

    def _write_image(self, run_id: str, image: Any, artifact_file: str) -> None:
        import io

        buffer = io.BytesIO()
        suffix = (os.path.splitext(artifact_file)[1][1:] or "png").upper()
        image.save(buffer, format=suffix.replace("JPG", "JPEG"))
        self.artifact_repository(run_id).write_bytes(artifact_file, buffer.getvalue())

    def load_table(self, run_id: str, artifact_file: str) -> dict[str, list] | None:
        """The ``{"columns": [...], "data": [[...], ...]}`` table ``log_table`` wrote (None if absent)."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self.download_artifacts(run_id, artifact_file, tmp)
            except ResourceNotFoundError:
                return None
            with open(local, encoding="utf-8") as f:
                return json.load(f)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Save a dict of columns or a DataFrame as a JSON table; rows are added to an existing one."""
        import pandas

        frame = data if isinstance(data, pandas.DataFrame) else pandas.DataFrame(data)
        existing = self.load_table(run_id, artifact_file)
        if existing is not None:
            old = pandas.DataFrame(existing["data"], columns=existing["columns"])
            frame = pandas.concat([old, frame], ignore_index=True)
        self.log_text(run_id, frame.to_json(orient="split", index=False), artifact_file)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        pending.wait(run_id)
        return self.artifact_repository(run_id).list_artifacts(path)

    def download_artifacts(self, run_id: str, path: str = "", dst_path: str | None = None) -> str:
        """Copy a run's artifact file or directory to ``dst_path`` (a new temp dir if None); return its local path."""
        pending.wait(run_id)
        dst = dst_path or tempfile.mkdtemp(prefix="fittrace-artifacts-")
        os.makedirs(dst, exist_ok=True)
        try:
            return self.artifact_repository(run_id).download_artifacts(path, dst)
        except ResourceNotFoundError as e:
            raise ResourceNotFoundError(f"Run {run_id} has no artifact {path!r}") from e


MlflowClient = Client
