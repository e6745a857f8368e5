"""The UI's pages, rendered from the entities the Client returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fittrace import tags
from fittrace.entities import (
    Experiment,
    FileInfo,
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
)
from fittrace.ui.charts import line_chart
from fittrace.ui.markup import (
    Html,
    duration,
    h,
    join,
    layout,
    link,
    number,
    pairs,
    size,
    table,
    tag,
    url,
    utc,
    void,
)

PAGE_SIZE = 100
SYSTEM_TAG_PREFIX = tags.PREFIX
PARENT_TAG = tags.PARENT_RUN_ID
NOTE_TAG = tags.NOTE


@dataclass(frozen=True)
class RunsQuery:
    """What the runs table of an experiment shows: a filter, an ordering, a page offset."""

    filter: str = ""
    order_by: str = ""
    offset: int = 0

    def link(self, experiment_id: str, offset: int) -> str:
        return url(
            "experiments", experiment_id, filter=self.filter, order_by=self.order_by, offset=offset
        )


def experiments_page(experiments: Sequence[Experiment], counts: dict[str, int]) -> str:
    rows = [
        (
            e.experiment_id,
            link(url("experiments", e.experiment_id), e.name),
            counts.get(e.experiment_id, 0),
            e.lifecycle_stage,
            e.artifact_location,
        )
        for e in experiments
    ]
    body = tag("h1", "Experiments") + table(
        ("ID", "Name", "Runs", "Lifecycle", "Artifact location"), rows
    )
    return layout("Experiments", body)


def _filter_form(query: RunsQuery) -> Html:
    fields = (
        tag("label", "Filter ")
        + void(
            "input", type="text", name="filter", value=query.filter, placeholder="metrics.acc > 0.5"
        )
        + tag("label", " Order by ")
        + void(
            "input",
            type="text",
            name="order_by",
            value=query.order_by,
            placeholder="metrics.acc DESC",
            class_="short",
        )
        + tag("button", "Search", type="submit")
    )
    return tag("form", fields, method="get")


def _runs_table(runs: Sequence[Run]) -> Html:
    param_keys = sorted({k for r in runs for k in r.data.params})
    metric_keys = sorted({k for r in runs for k in r.data.metrics})
    headers = ["Run name", "Status", "Start", "Duration", "User"]
    headers += [f"params.{k}" for k in param_keys] + [f"metrics.{k}" for k in metric_keys]
    rows = [
        [
            link(url("runs", r.info.run_id), r.info.run_name or r.info.run_id),
            r.info.status,
            utc(r.info.start_time),
            duration(r.info.start_time, r.info.end_time),
            r.info.user_id,
            *(r.data.params.get(k) for k in param_keys),
            *(number(r.data.metrics.get(k)) for k in metric_keys),
        ]
        for r in runs
    ]
    return tag("div", table(headers, rows, "runs"), class_="scroll")


def _pager(
    experiment_id: str, query: RunsQuery, shown: int, has_next: bool, total: int | None
) -> Html:
    first = query.offset + 1 if shown else query.offset
    of_total = f" of {total}" if total is not None else ""
    parts: list[Html] = [h(f"Runs {first}–{query.offset + shown}{of_total}")]
    if query.offset > 0:
        parts.append(
            link(query.link(experiment_id, max(query.offset - PAGE_SIZE, 0)), "← Previous")
        )
    if has_next:
        parts.append(link(query.link(experiment_id, query.offset + PAGE_SIZE), "Next →"))
    return tag("p", join(parts, " · "), class_="pager")


def runs_page(
    experiment: Experiment,
    query: RunsQuery,
    runs: Sequence[Run],
    has_next: bool,
    total: int | None,
    error: str | None = None,
) -> str:
    """The runs of one experiment, one page of them; ``error`` replaces the table."""
    body = tag("h1", f"Experiment {experiment.name}") + tag(
        "p", f"ID {experiment.experiment_id} · artifacts in {experiment.artifact_location}"
    )
    body += _filter_form(query)
    if error is not None:
        body += tag("p", error, class_="error")
    elif not runs and not query.offset:
        body += tag("p", "No runs match." if query.filter else "No runs yet.", class_="muted")
    else:
        pager = _pager(experiment.experiment_id, query, len(runs), has_next, total)
        body += pager + _runs_table(runs) + pager
    return layout(f"{experiment.name} · Experiment", body)


def _info(run: Run, experiment: Experiment | None) -> Html:
    info, tags = run.info, run.data.tags
    experiment_link = (
        link(url("experiments", experiment.experiment_id), experiment.name)
        if experiment
        else info.experiment_id
    )
    rows = [
        ("Run ID", info.run_id),
        ("Experiment", experiment_link),
        ("Status", info.status),
        ("Start", utc(info.start_time)),
        ("End", utc(info.end_time)),
        ("Duration", duration(info.start_time, info.end_time)),
        ("User", info.user_id),
        ("Artifact URI", info.artifact_uri),
        ("Lifecycle", info.lifecycle_stage),
    ]
    if PARENT_TAG in tags:
        rows.insert(2, ("Parent run", link(url("runs", tags[PARENT_TAG]), tags[PARENT_TAG])))
    if tags.get(NOTE_TAG):
        rows.append(("Description", tags[NOTE_TAG]))
    return pairs(rows)


def _metrics(run: Run, histories: dict[str, Sequence[Metric]]) -> Html:
    if not run.data.metrics:
        return tag("p", "None", class_="muted")
    rows = [
        (key, number(value, 6), Html(line_chart(histories.get(key, ()))))
        for key, value in sorted(run.data.metrics.items())
    ]
    return table(("Key", "Latest", "History"), rows, "kv")


def _tags(run: Run) -> Html:
    items = sorted(run.data.tags.items())
    user = [(k, v) for k, v in items if not k.startswith(SYSTEM_TAG_PREFIX)]
    system = [(k, v) for k, v in items if k.startswith(SYSTEM_TAG_PREFIX)]
    details = tag("details", tag("summary", f"System tags ({len(system)})") + pairs(system))
    return pairs(user) + tag("div", details, class_="muted")


def _datasets(run: Run) -> Html:
    inputs = run.inputs.dataset_inputs
    if not inputs:
        return tag("p", "None", class_="muted")
    rows = [(d.name, d.digest, d.context, d.source_type, d.source) for d in inputs]
    return table(("Name", "Digest", "Context", "Source type", "Source"), rows)


def _breadcrumbs(run_id: str, path: str) -> Html:
    crumbs = [link(url("runs", run_id) + "#artifacts", "artifacts")]
    parts = path.split("/") if path else []
    for i, part in enumerate(parts):
        crumbs.append(link(url("runs", run_id, path="/".join(parts[: i + 1])) + "#artifacts", part))
    return tag("p", join(crumbs, " / "))


def _artifacts(run_id: str, path: str, artifacts: Sequence[FileInfo], error: str | None) -> Html:
    rows = []
    for a in artifacts:
        name = a.path.rsplit("/", 1)[-1]
        if a.is_dir:
            rows.append((link(url("runs", run_id, path=a.path) + "#artifacts", name + "/"), ""))
        else:
            href = url("runs", run_id, "artifacts", *a.path.split("/"))
            rows.append((link(href, name), size(a.file_size)))
    if error is not None:
        listing = tag("p", error, class_="error")
    elif rows:
        listing = table(("Name", "Size"), rows)
    else:
        listing = tag("p", "None", class_="muted")
    return _breadcrumbs(run_id, path) + listing


def run_page(
    run: Run,
    experiment: Experiment | None,
    histories: dict[str, Sequence[Metric]],
    artifact_path: str,
    artifacts: Sequence[FileInfo],
    artifact_error: str | None = None,
) -> str:
    """One run: info, params, metrics with charts, tags, datasets and one artifact folder."""
    sections = (
        ("Parameters", pairs(sorted(run.data.params.items()))),
        ("Metrics", _metrics(run, histories)),
        ("Tags", _tags(run)),
        ("Datasets", _datasets(run)),
    )
    body = tag("h1", f"Run {run.info.run_name}") + _info(run, experiment)
    body += join(tag("h2", title) + content for title, content in sections)
    body += tag("h2", "Artifacts", id="artifacts")
    body += _artifacts(run.info.run_id, artifact_path, artifacts, artifact_error)
    return layout(f"{run.info.run_name} · Run", body)


def _aliases(aliases: dict[str, str]) -> str:
    return ", ".join(f"@{alias} → v{version}" for alias, version in sorted(aliases.items()))


def models_page(models: Sequence[RegisteredModel]) -> str:
    rows = [
        (
            link(url("models", m.name), m.name),
            max((int(v.version) for v in m.latest_versions), default=""),
            _aliases(m.aliases),
            utc(m.last_updated_timestamp),
            m.description,
        )
        for m in models
    ]
    body = tag("h1", "Registered models")
    if rows:
        body += table(("Name", "Latest version", "Aliases", "Updated", "Description"), rows)
    else:
        body += tag("p", "No registered models.", class_="muted")
    return layout("Registered models", body)


def _version_row(v: ModelVersion) -> tuple:
    run = link(url("runs", v.run_id), v.run_id) if v.run_id else ""
    tags = join((f"{k}={val}" for k, val in sorted(v.tags.items())), Html("<br>"))
    return (
        v.version,
        v.status,
        utc(v.creation_timestamp),
        v.source,
        run,
        ", ".join(f"@{a}" for a in v.aliases),
        tags,
        v.description,
    )


def model_page(model: RegisteredModel, versions: Sequence[ModelVersion]) -> str:
    """A registered model's description, tags, aliases and versions, newest first."""
    body = tag("h1", f"Model {model.name}")
    if model.description:
        body += tag("p", model.description)
    body += pairs(
        [("Aliases", _aliases(model.aliases)), ("Updated", utc(model.last_updated_timestamp))]
        + sorted(model.tags.items())
    )
    headers = ("Version", "Status", "Created", "Source", "Run", "Aliases", "Tags", "Description")
    body += tag("h2", "Versions") + table(headers, [_version_row(v) for v in versions])
    return layout(f"{model.name} · Model", body)


def error_page(status: int, message: str) -> str:
    return layout(
        f"Error {status}", tag("h1", f"Error {status}") + tag("p", message, class_="error")
    )
