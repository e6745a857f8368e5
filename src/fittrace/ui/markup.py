"""HTML building blocks that escape by default, the page layout, and value formatting.

Every value placed in a page goes through ``h()``, which escapes anything that is not
already an ``Html`` fragment; fragments are only made by the helpers here.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, urlencode

SCRIPTS = ("uPlot.iife.min.js", "fittrace.js")


class Html(str):
    """A fragment of HTML that is safe to insert as is; ``+`` escapes plain strings added to it."""

    def __add__(self, other: Any) -> Html:
        return Html(str.__add__(self, h(other)))

    def __radd__(self, other: Any) -> Html:
        return Html(str.__add__(h(other), self))


def h(value: Any) -> Html:
    """``value`` as HTML: fragments unchanged, None as nothing, anything else escaped text."""
    if isinstance(value, Html):
        return value
    return Html("" if value is None else html.escape(str(value)))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    return Html(h(sep).join(h(p) for p in parts))


def _attributes(attrs: dict[str, Any]) -> str:
    """Escaped ``key="value"`` pairs; None values are left out, a trailing ``_`` dropped, other
    ``_`` spelled ``-`` (``data_run`` is ``data-run``)."""
    return "".join(
        f' {key.rstrip("_").replace("_", "-")}="{html.escape(str(value))}"'
        for key, value in attrs.items()
        if value is not None
    )


def tag(element: str, content: Any = "", /, **attrs: Any) -> Html:
    """``<element attrs>content</element>`` with ``content`` passed through ``h()``."""
    return Html(f"<{element}{_attributes(attrs)}>{h(content)}</{element}>")


def void(element: str, /, **attrs: Any) -> Html:
    """An element without content, such as ``<input>``."""
    return Html(f"<{element}{_attributes(attrs)}>")


def link(href: str, text: Any) -> Html:
    return tag("a", text, href=href)


def url(*segments: str | int, **query: Any) -> str:
    """A path from raw segments (each percent-encoded) with the non-empty query values (a list
    value repeats its name)."""
    path = "/" + "/".join(quote(str(s), safe="") for s in segments)
    params = {k: v for k, v in query.items() if v not in (None, "", [])}
    return f"{path}?{urlencode(params, doseq=True)}" if params else path


def table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], class_: str | None = None) -> Html:
    head = tag("tr", join(tag("th", c) for c in headers))
    body = join(tag("tr", join(tag("td", c) for c in row)) for row in rows)
    return tag("table", tag("thead", head) + tag("tbody", body), class_=class_)


def pairs(items: Iterable[tuple[Any, Any]], empty: str = "None") -> Html:
    """A two-column key/value table, or a muted note when there is nothing."""
    rows = list(items)
    return table(("Key", "Value"), rows, "kv") if rows else tag("p", empty, class_="muted")


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1f2328}
header{background:#24292f;padding:8px 16px}header a{color:#fff;margin-right:16px;text-decoration:none}
main{padding:8px 16px;max-width:100vw;box-sizing:border-box}a{color:#0969da}h1{font-size:20px;
overflow-wrap:anywhere}h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse;margin:4px 0}th,td{border:1px solid #d0d7de;padding:3px 8px;
text-align:left;vertical-align:top;overflow-wrap:anywhere}th{background:#f6f8fa}
.scroll{overflow-x:auto;max-width:100%}.muted,.muted a{color:#6e7781}
.error{color:#cf222e;white-space:pre-wrap;overflow-wrap:anywhere}
input[type=text],input[type=search]{width:36em;max-width:90%;font-family:monospace}
input.short{width:16em}.kv td:first-child{font-family:monospace;min-width:8em;max-width:24em}
table.runs td,table.runs th{white-space:nowrap;max-width:16em;overflow:hidden;text-overflow:ellipsis}
table.nowrap td,table.nowrap th{white-space:nowrap;overflow-wrap:normal}
table.runs th a{color:inherit;text-decoration:none}tr.child td:nth-child(2){padding-left:24px}tr[data-depth="2"] td:nth-child(2){padding-left:44px}tr[data-depth="3"] td:nth-child(2){padding-left:64px}tr[data-depth="4"] td:nth-child(2){padding-left:84px}
.diff td{background:#fff8c5}.chart text{font-size:10px;fill:#57606a}
pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:40em;white-space:pre-wrap;
overflow-wrap:anywhere}.uchart{margin:8px 0}img.preview{max-width:100%}
iframe.preview{width:100%;height:36em;border:1px solid #d0d7de}
details.columns{margin:6px 0}details.columns fieldset{display:inline-block;vertical-align:top;
max-height:16em;overflow:auto}code.snippet{display:block;background:#f6f8fa;padding:6px}
"""


def layout(title: str, body: Html, head: str = "") -> str:
    """A whole page around ``body``; ``head`` adds to the page's head (a refresh, say)."""
    nav = link("/", "Experiments") + link("/models", "Models")
    scripts = join(tag("script", "", src=f"/static/{name}", defer=True) for name in SCRIPTS)
    head = (
        void("meta", charset="utf-8")
        + tag("title", title)
        + void("link", rel="icon", href="/static/favicon.svg", type="image/svg+xml")
        + void("link", rel="stylesheet", href="/static/uPlot.min.css")
        + tag("style", Html(_CSS))
        + scripts
        + Html(head)
    )
    return Html("<!DOCTYPE html>") + tag(
        "html", tag("head", head) + tag("body", tag("header", nav) + tag("main", body)), lang="en"
    )


# ---------------------------------------------------------------------------------- formatting


def utc(ms: int | None) -> str:
    return "" if ms is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))


def when(ms: int | None) -> Html:
    """A time in UTC, which the page's script shows in the browser's zone (UTC on hover)."""
    if ms is None:
        return Html("")
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
    return tag("time", utc(ms), datetime=iso, title=utc(ms))


def duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return ""
    if end - start < 1000:
        return f"{end - start} ms"
    seconds = (end - start) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "NaN"
    return f"{value:.{digits}g}"


def size(n: int | None) -> str:
    if n is None:
        return ""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value, index = float(n), 0
    while value >= 1024 and index < len(units) - 1:
        value, index = value / 1024, index + 1
    return f"{n} B" if index == 0 else f"{value:.1f} {units[index]}"
