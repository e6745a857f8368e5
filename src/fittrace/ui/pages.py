"""The UI's pages, rendered from the entities the Client returns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fittrace import tags
from fittrace.entities import (
    Experiment,
    FileInfo,
    MetricHistory,
    ModelVersion,
    RegisteredModel,
    Run,
)
from fittrace.ui import series
from fittrace.ui.compare import chart_controls
from fittrace.ui.markup import (
    Html,
    duration,
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
    when,
)
from fittrace.ui.runs_table import PARENT_TAG, SYSTEM_TAG_PREFIX

NOTE_TAG = tags.NOTE
REFRESH_SECONDS = 10  # a RUNNING run's page reloads itself this often


def experiments_page(
    experiments: Sequence[Experiment], counts: dict[str, int], search: str = ""
) -> str:
    """The experiments, those whose name contains ``search`` (any case) when given."""
    wanted = search.casefold()
    rows = [
        (
            e.experiment_id,
            link(url("experiments", e.experiment_id), e.name),
            counts.get(e.experiment_id, 0),
            e.lifecycle_stage,
            e.artifact_location,
        )
        for e in experiments
        if wanted in e.name.casefold()
    ]
    box = tag(
        "form",
        void("input", type="search", name="q", value=search, placeholder="Experiment name")
        + tag("button", "Search", type="submit"),
        method="get",
    )
    listing = (
        table(("ID", "Name", "Runs", "Lifecycle", "Artifact location"), rows)
        if rows
        else tag("p", "No experiment matches." if search else "No experiments.", class_="muted")
    )
    return layout("Experiments", tag("h1", "Experiments") + box + listing)


@dataclass
class LoggedModel:
    """A model folder of a run's artifacts: its MLmodel as a dict, the versions registered from it."""

    path: str
    mlmodel: dict[str, Any]
    versions: list[ModelVersion] = field(default_factory=list)


@dataclass
class RunView:
    """Everything a run page shows besides the run itself."""

    experiment: Experiment | None
    histories: dict[str, MetricHistory]
    axis: str = "step"
    log: bool = False
    smooth: str = ""
    path: str = ""
    artifacts: Sequence[FileInfo] = ()
    artifact_error: str | None = None
    preview: Html = Html("")
    preview_path: str = ""
    evaluations: Sequence[tuple[str, Html]] = ()
    parent: Run | None = None
    children: Sequence[Run] = ()
    models: Sequence[LoggedModel] = ()
    editable: bool = False


def _form(action: str, content: Html, button: str) -> Html:
    """A POST form of an editable page (``fittrace server`` with a token)."""
    return tag(
        "form",
        content + " " + tag("button", button, type="submit"),
        method="post",
        action=action,
        class_="edit",
    )


def _describe_form(action: str, description: str) -> Html:
    return _form(
        action,
        void("input", type="hidden", name="action", value="describe")
        + tag("textarea", description, name="description", rows="3", cols="60"),
        "Save description",
    )


def _info(run: Run, view: RunView) -> Html:
    info, tags = run.info, run.data.tags
    experiment = view.experiment
    experiment_link = (
        link(url("experiments", experiment.experiment_id), experiment.name)
        if experiment
        else info.experiment_id
    )
    rows = [
        ("Run ID", info.run_id),
        ("Experiment", experiment_link),
        ("Status", info.status),
        ("Start", when(info.start_time)),
        ("End", when(info.end_time)),
        ("Duration", duration(info.start_time, info.end_time)),
        ("User", info.user_id),
        ("Artifact URI", info.artifact_uri),
        ("Lifecycle", info.lifecycle_stage),
    ]
    if PARENT_TAG in tags:
        parent_id = tags[PARENT_TAG]
        name = view.parent.info.run_name if view.parent else parent_id
        rows.insert(2, ("Parent run", link(url("runs", parent_id), name)))
    if view.children:
        links = join(
            (link(url("runs", c.info.run_id), c.info.run_name) for c in view.children), ", "
        )
        rows.insert(2, (f"Child runs ({len(view.children)})", links))
    if tags.get(NOTE_TAG):
        rows.append(("Description", tags[NOTE_TAG]))
    return pairs(rows)


def _edit_run(run: Run) -> Html:
    action = url("runs", run.info.run_id, "edit")
    note = run.data.tags.get(NOTE_TAG, "")
    deleted = run.info.lifecycle_stage == "deleted"
    forms = [
        _form(
            action,
            void("input", type="hidden", name="action", value="rename")
            + void("input", type="text", name="name", value=run.info.run_name, class_="short"),
            "Rename",
        ),
        _describe_form(action, note),
        _form(
            action,
            void("input", type="hidden", name="action", value="tag")
            + void("input", type="text", name="key", placeholder="key", class_="short")
            + void("input", type="text", name="value", placeholder="value", class_="short"),
            "Set tag",
        ),
        _form(
            action,
            void("input", type="hidden", name="action", value="restore" if deleted else "delete"),
            "Restore run" if deleted else "Delete run",
        ),
    ]
    return tag("details", tag("summary", "Edit") + join(forms), class_="editing")


def _metric_table(run: Run, histories: dict[str, MetricHistory]) -> Html:
    rows = []
    for key, value in sorted(run.data.metrics.items()):
        history = histories.get(key)
        extremes = series.extremes(history)
        low, high = (number(v, 6) for v in extremes) if extremes else ("", "")
        rows.append((key, number(value, 6), low, high, len(history) if history else 0))
    return table(("Key", "Latest", "Min", "Max", "Points"), rows, "kv")


def _metrics(run: Run, view: RunView) -> Html:
    if not run.data.metrics:
        return tag("p", "None", class_="muted")
    start = run.info.start_time
    charted = [k for k in sorted(run.data.metrics) if len(view.histories.get(k, ())) > 1]
    body = _metric_table(run, view.histories)
    if not charted:
        return body
    hidden = join(
        void("input", type="hidden", name=n, value=v) for n, v in (("path", view.path),) if v
    )
    body += chart_controls(hidden, view.axis, view.log, view.smooth)
    lines = [series.series(k, view.histories[k], view.axis, start) for k in charted]
    if len(charted) > 1:
        body += tag("h3", "All metrics") + series.chart(
            "chart-all", "All metrics", view.axis, lines
        )
    for i, line in enumerate(lines):
        body += series.chart(f"chart-{i}", line.label, view.axis, [line])
    return body


def _tags(run: Run, editable: bool) -> Html:
    items = sorted(run.data.tags.items())
    user = [(k, v) for k, v in items if not k.startswith(SYSTEM_TAG_PREFIX)]
    system = [(k, v) for k, v in items if k.startswith(SYSTEM_TAG_PREFIX)]
    if editable:
        action = url("runs", run.info.run_id, "edit")
        user = [
            (
                k,
                v
                + _form(
                    action,
                    void("input", type="hidden", name="action", value="deltag")
                    + void("input", type="hidden", name="key", value=k),
                    "Delete",
                ),
            )
            for k, v in user
        ]
    details = tag("details", tag("summary", f"System tags ({len(system)})") + pairs(system))
    return pairs(user) + tag("div", details, class_="muted")


def _schema(text: str | None) -> Html:
    """A dataset schema (MLflow's ``{"mlflow_colspec": [...]}``) as name: type, else as is."""
    if not text:
        return Html("")
    try:
        spec = json.loads(text)
        columns = spec.get("mlflow_colspec") or spec.get("mlflow_tensorspec") or []
        return join((f"{c.get('name', '')}: {c.get('type', '')}" for c in columns), Html("<br>"))
    except (ValueError, AttributeError, TypeError):
        return Html(text[:500])


def _datasets(run: Run) -> Html:
    inputs = run.inputs.dataset_inputs
    if not inputs:
        return tag("p", "None", class_="muted")
    rows = [
        (d.name, d.digest, d.context, d.source_type, d.source, _schema(d.schema)) for d in inputs
    ]
    return table(("Name", "Digest", "Context", "Source type", "Source", "Schema"), rows)


def signature(mlmodel: dict[str, Any]) -> Html:
    """A model's signature: its inputs and outputs, each name with its type."""
    sig = mlmodel.get("signature")
    if not isinstance(sig, dict):
        return tag("p", "No signature.", class_="muted")
    parts = []
    for side in ("inputs", "outputs", "params"):
        try:
            spec = json.loads(sig.get(side) or "null")
        except ValueError:
            spec = None
        if not isinstance(spec, list):
            continue
        rows = []
        for column in spec:
            kind = column.get("type", "")
            if kind == "tensor":
                tensor = column.get("tensor-spec", {})
                kind = f"tensor {tensor.get('dtype', '')} {tensor.get('shape', '')}"
            rows.append((column.get("name", ""), kind))
        parts.append(tag("h4", side.capitalize()) + table(("Name", "Type"), rows, "signature"))
    return join(parts)


def _models(run: Run, models: Sequence[LoggedModel]) -> Html:
    if not models:
        return tag("p", "None", class_="muted")
    parts = []
    for model in models:
        flavors = ", ".join(sorted(model.mlmodel.get("flavors", {})))
        versions = join(
            (
                link(url("models", v.name, "versions", v.version), f"{v.name} v{v.version}")
                for v in model.versions
            ),
            ", ",
        )
        rows = [
            (
                "Path",
                link(url("runs", run.info.run_id, path=model.path) + "#artifacts", model.path),
            ),
            ("Flavors", flavors),
        ]
        rows.append(("Registered as", versions or "not registered"))
        rows.append(
            (
                "Load",
                tag("code", f"fittrace.pyfunc.load_model('runs:/{run.info.run_id}/{model.path}')"),
            )
        )
        parts.append(tag("h3", model.path) + pairs(rows) + signature(model.mlmodel))
    return join(parts)


def _breadcrumbs(run_id: str, path: str) -> Html:
    crumbs = [link(url("runs", run_id) + "#artifacts", "artifacts")]
    parts = path.split("/") if path else []
    for i, part in enumerate(parts):
        crumbs.append(link(url("runs", run_id, path="/".join(parts[: i + 1])) + "#artifacts", part))
    return tag("p", join(crumbs, " / "))


def _artifacts(run_id: str, view: RunView) -> Html:
    rows = []
    for a in view.artifacts:
        name = a.path.rsplit("/", 1)[-1]
        if a.is_dir:
            rows.append((link(url("runs", run_id, path=a.path) + "#artifacts", name + "/"), "", ""))
        else:
            href = url("runs", run_id, "artifacts", *a.path.split("/"))
            show = link(url("runs", run_id, path=view.path, preview=a.path) + "#preview", name)
            rows.append((show, size(a.file_size), link(href, "download")))
    if view.artifact_error is not None:
        listing = tag("p", view.artifact_error, class_="error")
    elif rows:
        listing = table(("Name", "Size", ""), rows)
    else:
        listing = tag("p", "None", class_="muted")
    body = _breadcrumbs(run_id, view.path) + listing
    if view.preview_path:
        body += tag("h3", view.preview_path, id="preview") + view.preview
    return body


def _evaluations(items: Sequence[tuple[str, Html]]) -> Html:
    return join(
        tag("figure", chart + tag("figcaption", name), class_="evaluation") for name, chart in items
    )


def run_page(run: Run, view: RunView) -> str:
    """One run: info, params, metrics with charts, tags, datasets, models, artifacts."""
    sections = [
        ("Parameters", pairs(sorted(run.data.params.items()))),
        ("Metrics", _metrics(run, view)),
        ("Tags", _tags(run, view.editable)),
        ("Datasets", _datasets(run)),
        ("Models", _models(run, view.models)),
    ]
    if view.evaluations:
        sections.insert(2, ("Evaluation", _evaluations(view.evaluations)))
    body = tag("h1", f"Run {run.info.run_name}") + _info(run, view)
    if view.editable:
        body += _edit_run(run)
    body += join(tag("h2", title) + content for title, content in sections)
    body += tag("h2", "Artifacts", id="artifacts") + _artifacts(run.info.run_id, view)
    refresh = (
        void("meta", http_equiv="refresh", content=str(REFRESH_SECONDS))
        if run.info.status == "RUNNING"
        else Html("")
    )
    return layout(f"{run.info.run_name} · Run", body, refresh)


def _aliases(aliases: dict[str, str]) -> str:
    return ", ".join(f"@{alias} → v{version}" for alias, version in sorted(aliases.items()))


def models_page(models: Sequence[RegisteredModel]) -> str:
    rows = [
        (
            link(url("models", m.name), m.name),
            max((int(v.version) for v in m.latest_versions), default=""),
            _aliases(m.aliases),
            when(m.last_updated_timestamp),
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


def _run_link(run_id: str | None, run_names: dict[str, str]) -> Html:
    return link(url("runs", run_id), run_names.get(run_id, run_id)) if run_id else Html("")


def _version_row(v: ModelVersion, run_names: dict[str, str]) -> tuple:
    tags = join((f"{k}={val}" for k, val in sorted(v.tags.items())), Html("<br>"))
    return (
        link(url("models", v.name, "versions", v.version), v.version),
        v.status,
        when(v.creation_timestamp),
        _run_link(v.run_id, run_names),
        ", ".join(f"@{a}" for a in v.aliases),
        tags,
        v.description,
    )


def model_page(
    model: RegisteredModel,
    versions: Sequence[ModelVersion],
    run_names: dict[str, str],
    editable: bool = False,
) -> str:
    """A registered model's description, tags, aliases and versions, newest first."""
    body = tag("h1", f"Model {model.name}")
    if model.description:
        body += tag("p", model.description)
    if editable:
        body += tag(
            "details",
            tag("summary", "Edit")
            + _describe_form(url("models", model.name, "edit"), model.description),
            class_="editing",
        )
    body += pairs(
        [("Aliases", _aliases(model.aliases)), ("Updated", utc(model.last_updated_timestamp))]
        + sorted(model.tags.items())
    )
    headers = ("Version", "Status", "Created", "Run", "Aliases", "Tags", "Description")
    body += tag("h2", "Versions") + table(headers, [_version_row(v, run_names) for v in versions])
    return layout(f"{model.name} · Model", body)


def version_page(
    version: ModelVersion,
    run_names: dict[str, str],
    mlmodel: dict[str, Any] | None,
    editable: bool,
) -> str:
    """One model version: source run, aliases, tags, signature and how to load it."""
    name = version.name
    target = f"@{version.aliases[0]}" if version.aliases else f"/{version.version}"
    snippet = f'import fittrace\nmodel = fittrace.pyfunc.load_model("models:/{name}{target}")'
    rows = [
        ("Model", link(url("models", name), name)),
        ("Version", version.version),
        ("Status", version.status),
        ("Created", when(version.creation_timestamp)),
        ("Source run", _run_link(version.run_id, run_names)),
        ("Source", version.source),
        ("Aliases", ", ".join(f"@{a}" for a in version.aliases)),
        ("Description", version.description),
        *sorted(version.tags.items()),
    ]
    body = tag("h1", f"{name} version {version.version}") + pairs(rows)
    if editable:
        action = url("models", name, "versions", version.version, "edit")
        body += tag(
            "details",
            tag("summary", "Edit")
            + _describe_form(action, version.description)
            + _form(
                action,
                void("input", type="hidden", name="action", value="alias")
                + void("input", type="text", name="alias", placeholder="alias", class_="short"),
                f"Point alias at v{version.version}",
            ),
            class_="editing",
        )
    body += tag("h2", "Load it") + tag("pre", snippet, class_="snippet")
    body += tag("h2", "Signature")
    body += (
        signature(mlmodel)
        if mlmodel is not None
        else tag("p", "No MLmodel found at the source.", class_="muted")
    )
    return layout(f"{name} v{version.version} · Model version", body)


def error_page(status: int, message: str) -> str:
    return layout(
        f"Error {status}", tag("h1", f"Error {status}") + tag("p", message, class_="error")
    )
