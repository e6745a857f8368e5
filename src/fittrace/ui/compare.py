"""The compare page: 2–20 runs side by side (``/compare?runs=<id>&runs=<id>...``).

Other state in the URL: ``diff=1`` (only differing params), ``x`` (step, wall, relative),
``log=1``, ``smooth`` (0–0.99, applied in the browser), ``pc`` (the metric of the parallel
coordinates), ``sx``/``sy`` (the scatter's axes, ``params.<key>`` or ``metrics.<key>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fittrace.entities import MetricHistory, Run
from fittrace.ui import plots, series
from fittrace.ui.markup import Html, join, layout, link, number, tag, url, void, when

Histories = dict[str, dict[str, MetricHistory]]  # run id -> metric key -> history


@dataclass(frozen=True)
class CompareQuery:
    run_ids: tuple[str, ...]
    diff: bool = False
    x: str = "step"
    log: bool = False
    smooth: str = ""
    pc: str = ""
    sx: str = ""
    sy: str = ""

    def link(self, **change: object) -> str:
        values = {
            "runs": list(self.run_ids),
            "diff": "1" if self.diff else None,
            "x": None if self.x == "step" else self.x,
            "log": "1" if self.log else None,
            "smooth": self.smooth,
            "pc": self.pc,
            "sx": self.sx,
            "sy": self.sy,
            **change,
        }
        return url("compare", **values)


def _label(run: Run) -> str:
    return run.info.run_name or run.info.run_id


def _hidden(query: CompareQuery, *names: str) -> Html:
    values = {"runs": list(query.run_ids), "diff": "1" if query.diff else ""}
    values.update({n: getattr(query, n) for n in ("pc", "sx", "sy", "smooth")})
    values["log"] = "1" if query.log else ""
    values["x"] = query.x
    fields = []
    for name, value in values.items():
        if name in names:
            continue
        for v in value if isinstance(value, list) else [value]:
            if v:
                fields.append(void("input", type="hidden", name=name, value=v))
    return join(fields)


def _runs(runs: Sequence[Run]) -> Html:
    header = ("Run", "Status", "Created", "Run ID")
    rows = [
        (
            link(url("runs", r.info.run_id), _label(r)),
            r.info.status,
            when(r.info.start_time),
            r.info.run_id,
        )
        for r in runs
    ]
    head = tag("tr", join(tag("th", c) for c in header))
    body = join(tag("tr", join(tag("td", c) for c in row)) for row in rows)
    return tag("table", tag("thead", head) + tag("tbody", body))


def _params(runs: Sequence[Run], query: CompareQuery) -> Html:
    keys = sorted({k for r in runs for k in r.data.params})
    if not keys:
        return tag("p", "No parameters.", class_="muted")
    rows = []
    differing = 0
    for key in keys:
        values = [r.data.params.get(key) for r in runs]
        differs = len(set(values)) > 1
        differing += differs
        if query.diff and not differs:
            continue
        cells = tag("td", key) + join(tag("td", "" if v is None else v) for v in values)
        rows.append(tag("tr", cells, class_="diff" if differs else None))
    switch = link(
        query.link(diff=None if query.diff else "1"),
        "Show all params" if query.diff else "Differences only",
    )
    note = tag("p", f"{differing} of {len(keys)} params differ (highlighted) · " + switch)
    head = tag("tr", tag("th", "Param") + join(tag("th", _label(r)) for r in runs))
    table = tag("table", tag("thead", head) + tag("tbody", join(rows)), class_="params")
    return note + tag("div", table, class_="scroll")


def _metrics(runs: Sequence[Run], histories: Histories) -> Html:
    keys = sorted({k for r in runs for k in r.data.metrics})
    if not keys:
        return tag("p", "No metrics.", class_="muted")
    head1 = tag(
        "tr", tag("th", "", rowspan=2) + join(tag("th", _label(r), colspan=3) for r in runs)
    )
    head2 = tag("tr", join(tag("th", t) for _ in runs for t in ("Latest", "Min", "Max")))
    rows = []
    for key in keys:
        cells = [tag("td", key)]
        for r in runs:
            extremes = series.extremes(histories[r.info.run_id].get(key))
            low, high = (number(v) for v in extremes) if extremes else ("", "")
            cells += [tag("td", number(r.data.metrics.get(key))), tag("td", low), tag("td", high)]
        rows.append(tag("tr", join(cells)))
    table = tag("table", tag("thead", head1 + head2) + tag("tbody", join(rows)), class_="nowrap")
    return tag("div", table, class_="scroll")


def chart_series(
    runs: Sequence[Run], histories: Histories, key: str, axis: str
) -> list[series.Series]:
    return [
        series.series(
            _label(r),
            histories[r.info.run_id].get(key) or MetricHistory.of(key, ()),
            axis,
            r.info.start_time,
        )
        for r in runs
    ]


def chart_controls(query_hidden: Html, axis: str, log: bool, smooth: str) -> Html:
    """The x axis (reloads: the server picks the points), log scale and smoothing (the script)."""
    options = join(
        tag("option", label, value=value, selected=True if value == axis else None)
        for value, label in series.X_AXES.items()
    )
    return tag(
        "form",
        query_hidden
        + tag("label", "X axis ")
        + tag("select", options, name="x", data_autosubmit="1")
        + " "
        + tag(
            "label",
            void(
                "input", type="checkbox", name="log", value="1", id="log-scale", checked=log or None
            )
            + " Log scale",
        )
        + " "
        + tag(
            "label",
            "Smoothing "
            + void(
                "input",
                type="range",
                name="smooth",
                id="smoothing",
                min="0",
                max="0.99",
                step="0.01",
                value=smooth or "0",
            ),
        )
        + " "
        + tag("button", "Apply", type="submit"),
        method="get",
    )


def _charts(runs: Sequence[Run], histories: Histories, query: CompareQuery) -> Html:
    keys = sorted(
        {k for r in runs for k, h in histories[r.info.run_id].items() if len(h) > 1}
    )  # single values are in the table above and the scatter below
    if not keys:
        return tag("p", "No metric has more than one value.", class_="muted")
    parts = [chart_controls(_hidden(query, "x", "log", "smooth"), query.x, query.log, query.smooth)]
    for i, key in enumerate(keys):
        lines = chart_series(runs, histories, key, query.x)
        csv_link = url("compare.csv", runs=list(query.run_ids), key=key, x=query.x)
        parts.append(
            tag(
                "section",
                tag("h3", key)
                + series.chart(f"chart-{i}", key, query.x, lines)
                + tag("p", link(csv_link, "Download CSV"), class_="muted"),
            )
        )
    return join(parts)


def _select(name: str, choices: Sequence[str], chosen: str) -> Html:
    return tag(
        "select",
        join(tag("option", c, value=c, selected=True if c == chosen else None) for c in choices),
        name=name,
        data_autosubmit="1",
    )


def _value(run: Run, column: str) -> object:
    kind, _, key = column.partition(".")
    return run.data.metrics.get(key) if kind == "metrics" else run.data.params.get(key)


def _relations(runs: Sequence[Run], query: CompareQuery) -> Html:
    metrics = sorted({k for r in runs for k in r.data.metrics})
    params = sorted({k for r in runs for k in r.data.params})
    differing = [k for k in params if len({r.data.params.get(k) for r in runs}) > 1] or params
    labels = [_label(r) for r in runs]
    body = Html("")
    if metrics and differing:
        metric = query.pc if query.pc in metrics else metrics[0]
        axes = [(k, [r.data.params.get(k) for r in runs]) for k in differing[:12]]
        axes.append((metric, [r.data.metrics.get(metric) for r in runs]))
        form = tag(
            "form",
            _hidden(query, "pc")
            + tag("label", "Metric ")
            + _select("pc", metrics, metric)
            + " "
            + tag("button", "Show", type="submit"),
            method="get",
        )
        body += tag("h3", "Parallel coordinates") + form + plots.parallel_coordinates(axes, labels)
    columns = [f"params.{k}" for k in params] + [f"metrics.{k}" for k in metrics]
    if len(columns) >= 2:
        first = f"params.{differing[0]}" if differing else columns[0]
        sx = query.sx if query.sx in columns else first
        sy = (
            query.sy
            if query.sy in columns
            else (f"metrics.{metrics[0]}" if metrics else columns[1])
        )
        points = [(_label(r), _value(r, sx), _value(r, sy)) for r in runs]
        form = tag(
            "form",
            _hidden(query, "sx", "sy")
            + tag("label", "X ")
            + _select("sx", columns, sx)
            + tag("label", " Y ")
            + _select("sy", columns, sy)
            + " "
            + tag("button", "Show", type="submit"),
            method="get",
        )
        body += tag("h3", "Scatter") + form + plots.scatter(points, sx, sy)
    return body


def compare_page(runs: Sequence[Run], histories: Histories, query: CompareQuery) -> str:
    sections = (
        ("Runs", _runs(runs)),
        ("Parameters", _params(runs, query)),
        ("Metrics", _metrics(runs, histories)),
        ("Charts", _charts(runs, histories, query)),
        ("Relations", _relations(runs, query)),
    )
    body = tag("h1", f"Comparing {len(runs)} runs")
    body += join(tag("h2", title) + content for title, content in sections)
    return layout("Compare runs", body)
