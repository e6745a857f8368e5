"""An experiment's runs table: chosen columns, sorting by header, nested runs, the selection.

Every state is in the URL: ``filter``, ``order_by`` (what search_runs takes), ``offset`` and
``col`` (repeated: ``metrics.<key>``, ``params.<key>``, ``tags.<key>``, ``attributes.<name>``;
absent: the default columns). The table is plain HTML; the script only folds nested runs away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from fittrace import tags
from fittrace.entities import Experiment, Run
from fittrace.ui.markup import (
    Html,
    duration,
    h,
    join,
    layout,
    link,
    number,
    tag,
    url,
    void,
    when,
)

PAGE_SIZE = 100
MAX_COMPARED = 20
PARENT_TAG = tags.PARENT_RUN_ID  # the tag naming a nested run's parent
SYSTEM_TAG_PREFIX = tags.PREFIX
CELL_CHARS = 120  # a longer value is cut in its cell; the full value is its hover title
_TITLE_CHARS = 5000
# attribute -> (header, the order_by column or None when the table cannot sort by it)
ATTRIBUTES = {
    "start_time": ("Created", "attributes.start_time"),
    "duration": ("Duration", None),
    "status": ("Status", "attributes.status"),
    "user_id": ("User", "attributes.user_id"),
    "run_id": ("Run ID", "attributes.run_id"),
}
_DEFAULT_ATTRIBUTES = ("attributes.start_time", "attributes.duration", "attributes.status")
_KINDS = {"metrics": "Metrics", "params": "Parameters", "tags": "Tags"}


@dataclass(frozen=True)
class RunsQuery:
    """What the runs table of an experiment shows."""

    filter: str = ""
    order_by: str = ""
    offset: int = 0
    columns: tuple[str, ...] = field(default=())  # empty: the default columns
    page: str = ""  # search_runs' page_token for this offset (from the Next link): no counting

    def link(self, experiment_id: str, **change: object) -> str:
        """This table's URL with ``change``; the page token only where ``change`` gives one."""
        values = {
            "filter": self.filter,
            "order_by": self.order_by,
            "offset": self.offset or None,
            "col": list(self.columns),
            "page": None,
            **change,
        }
        return url("experiments", experiment_id, **values)


def default_columns(runs: Sequence[Run]) -> list[str]:
    """Created, duration, status, every metric, then the params whose values differ between runs."""
    metrics = sorted({k for r in runs for k in r.data.metrics})
    params = sorted({k for r in runs for k in r.data.params})
    differing = [k for k in params if len({r.data.params.get(k) for r in runs}) > 1]
    return [*_DEFAULT_ATTRIBUTES, *(f"metrics.{k}" for k in metrics)] + [
        f"params.{k}" for k in differing
    ]


def _split(column: str) -> tuple[str, str]:
    kind, _, key = column.partition(".")
    return kind, key


def _header_text(column: str) -> str:
    kind, key = _split(column)
    return ATTRIBUTES[key][0] if kind == "attributes" else column


def _order_column(column: str) -> str | None:
    kind, key = _split(column)
    if kind == "attributes":
        return ATTRIBUTES[key][1]
    return None if "`" in key else f"{kind}.`{key}`"


def valid_column(column: str) -> bool:
    kind, key = _split(column)
    return (kind == "attributes" and key in ATTRIBUTES) or (kind in _KINDS and bool(key))


def _cell(value: object) -> Html:
    """A single-line cell: long values cut, the whole value on hover."""
    text = "" if value is None else str(value)
    if len(text) <= CELL_CHARS:
        return tag("td", text, title=text if len(text) > 20 else None)
    return tag("td", text[:CELL_CHARS] + "…", title=text[:_TITLE_CHARS])


def _value(run: Run, column: str) -> object:
    kind, key = _split(column)
    if kind == "metrics":
        return number(run.data.metrics.get(key))
    if kind == "params":
        return run.data.params.get(key)
    if kind == "tags":
        return run.data.tags.get(key)
    if key == "duration":
        return duration(run.info.start_time, run.info.end_time)
    return getattr(run.info, key)


def _sort_header(experiment_id: str, query: RunsQuery, column: str) -> Html:
    order = _order_column(column)
    text = _header_text(column)
    if order is None:
        return tag("th", text, title=text)
    descending = f"{order} DESC"
    mark = {descending: " ▼", f"{order} ASC": " ▲", order: " ▲"}.get(query.order_by, "")
    target = f"{order} ASC" if query.order_by == descending else descending
    href = query.link(experiment_id, order_by=target, offset=None)
    return tag("th", link(href, text + mark), title=f"Sort by {text}")


def _nest(runs: Sequence[Run]) -> list[tuple[Run, int]]:
    """The runs with each one's children (on this page) right after it: (run, depth)."""
    ids = {r.info.run_id for r in runs}
    children: dict[str, list[Run]] = {}
    roots = []
    for r in runs:
        parent = r.data.tags.get(PARENT_TAG)
        if parent in ids and parent != r.info.run_id:
            children.setdefault(parent, []).append(r)
        else:
            roots.append(r)
    ordered: list[tuple[Run, int]] = []

    def visit(run: Run, depth: int) -> None:
        ordered.append((run, depth))
        for child in children.get(run.info.run_id, ()) if depth < 32 else ():
            visit(child, depth + 1)

    for r in roots:
        visit(r, 0)
    return ordered


def _row(
    run: Run,
    depth: int,
    columns: Sequence[str],
    counts: dict[str, int],
    parents: dict[str, str],
    show_parent: bool,
) -> Html:
    info = run.info
    parent = run.data.tags.get(PARENT_TAG)
    box = void("input", type="checkbox", name="runs", value=info.run_id, title="Select to compare")
    name = link(url("runs", info.run_id), info.run_name or info.run_id)
    n = counts.get(info.run_id, 0)
    if n:
        toggle = tag(
            "button",
            f"▸ {n}",
            type="button",
            class_="expand",
            hidden=True,
            data_run=info.run_id,
            data_count=n,
            aria_expanded="false",
            title="Show the child runs",
        )
        name = toggle + " " + name
    cells = [tag("td", box), tag("td", name, title=info.run_name)]
    if show_parent:
        parent_cell = link(url("runs", parent), parents.get(parent, parent)) if parent else ""
        cells.append(tag("td", parent_cell))
    for column in columns:
        if column == "attributes.start_time":
            cells.append(tag("td", when(info.start_time)))
        else:
            cells.append(_cell(_value(run, column)))
    return tag(
        "tr",
        join(cells),
        class_="child" if depth else None,
        data_parent=parent if depth else None,
        data_depth=min(depth, 4) if depth > 1 else None,
    )


def _table(
    experiment_id: str,
    query: RunsQuery,
    runs: Sequence[Run],
    columns: Sequence[str],
    parents: dict[str, str],
) -> Html:
    nested = _nest(runs)
    counts: dict[str, int] = {}
    for run, depth in nested:
        if depth:
            parent = run.data.tags[PARENT_TAG]
            counts[parent] = counts.get(parent, 0) + 1
    show_parent = any(PARENT_TAG in r.data.tags for r in runs)
    headers = [tag("th", ""), tag("th", "Run name")]
    if show_parent:
        headers.append(tag("th", "Parent run"))
    headers += [_sort_header(experiment_id, query, c) for c in columns]
    body = join(_row(r, d, columns, counts, parents, show_parent) for r, d in nested)
    table = tag("table", tag("thead", tag("tr", join(headers))) + tag("tbody", body), class_="runs")
    return tag("div", table, class_="scroll")


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
        + join(void("input", type="hidden", name="col", value=c) for c in query.columns)
        + tag("button", "Search", type="submit")
    )
    return tag("form", fields, method="get")


def _column_chooser(query: RunsQuery, runs: Sequence[Run], shown: Sequence[str]) -> Html:
    """Checkboxes for every column the runs on this page have; submitting sets ``col``."""
    groups: dict[str, list[str]] = {
        "attributes": [f"attributes.{a}" for a in ATTRIBUTES],
        "metrics": sorted({f"metrics.{k}" for r in runs for k in r.data.metrics}),
        "params": sorted({f"params.{k}" for r in runs for k in r.data.params}),
        "tags": sorted(
            {f"tags.{k}" for r in runs for k in r.data.tags if not k.startswith(SYSTEM_TAG_PREFIX)}
        ),
    }
    for column in shown:  # chosen before, absent from this page
        kind = _split(column)[0]
        if column not in groups[kind]:
            groups[kind].append(column)
    fieldsets = join(
        tag(
            "fieldset",
            tag("legend", kind.capitalize())
            + join(
                tag(
                    "label",
                    void(
                        "input",
                        type="checkbox",
                        name="col",
                        value=c,
                        checked=True if c in shown else None,
                    )
                    + " "
                    + (_header_text(c) if kind == "attributes" else _split(c)[1]),
                )
                + Html("<br>")
                for c in columns
            ),
        )
        for kind, columns in groups.items()
        if columns
    )
    hidden = join(
        void("input", type="hidden", name=name, value=value)
        for name, value in (("filter", query.filter), ("order_by", query.order_by))
        if value
    )
    form = tag("form", hidden + fieldsets + tag("p", tag("button", "Show columns")), method="get")
    return tag("details", tag("summary", f"Columns ({len(shown)} shown)") + form, class_="columns")


def _pager(
    experiment_id: str, query: RunsQuery, shown: int, next_page: str | None, total: int
) -> Html:
    first = query.offset + 1 if shown else query.offset
    parts: list[Html] = [h(f"Runs {first}–{query.offset + shown} of {total}")]
    if query.offset > 0:
        previous = max(query.offset - PAGE_SIZE, 0)
        parts.append(link(query.link(experiment_id, offset=previous or None), "← Previous"))
    if next_page is not None:
        following = query.link(experiment_id, offset=query.offset + PAGE_SIZE, page=next_page)
        parts.append(link(following, "Next →"))
    return tag("p", join(parts, " · "), class_="pager")


def runs_page(
    experiment: Experiment,
    query: RunsQuery,
    runs: Sequence[Run],
    next_page: str | None,
    total: int,
    parents: dict[str, str],
    error: str | None = None,
) -> str:
    """One page of an experiment's runs; ``error`` (a bad filter) replaces the table."""
    experiment_id = experiment.experiment_id
    body = tag("h1", f"Experiment {experiment.name}") + tag(
        "p", f"ID {experiment_id} · artifacts in {experiment.artifact_location}"
    )
    body += _filter_form(query)
    if error is not None:
        body += tag("p", error, class_="error")
    elif not runs:
        body += tag("p", "No runs match." if query.filter else "No runs yet.", class_="muted")
    else:
        columns = list(query.columns) or default_columns(runs)
        pager = _pager(experiment_id, query, len(runs), next_page, total)
        compare = tag(
            "p",
            tag("button", "Compare", type="submit", id="compare")
            + tag("span", f" Select 2–{MAX_COMPARED} runs to compare.", class_="muted"),
        )
        selection = tag(
            "form",
            compare + _table(experiment_id, query, runs, columns, parents),
            method="get",
            action="/compare",
        )
        body += _column_chooser(query, runs, columns) + pager + selection + pager
    return layout(f"{experiment.name} · Experiment", body)
