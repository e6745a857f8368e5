"""Filter and order a short list of records (experiments, logged models) in Python.

Filters use the run-search grammar over the records' attributes and ``tags.<key>``, joined
with AND/OR; e.g. ``"name LIKE 'fraud%' AND tags.team = 'risk'"``.
"""

from __future__ import annotations

import fnmatch
import operator
from collections.abc import Sequence
from typing import Any

from fittrace.exceptions import InvalidParameterError
from fittrace.store.search import BoolOp, Comparison, parse_filter

_COMPARE = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _field(item: Any, node: Comparison, attributes: Sequence[str]) -> Any:
    entity = node.entity
    if entity.kind == "tag":
        return item.tags.get(entity.key)
    if entity.kind == "attribute" and entity.key in attributes:
        return getattr(item, entity.key)
    raise InvalidParameterError(
        f"Cannot filter on {entity.text!r}; use {', '.join(attributes)} or tags.<key>"
    )


def _like(value: str, pattern: str, fold: bool) -> bool:
    glob = "".join(
        "*" if c == "%" else "?" if c == "_" else f"[{c}]" if c in "*?[" else c for c in pattern
    )
    return fnmatch.fnmatchcase(value.lower() if fold else value, glob.lower() if fold else glob)


def _matches(item: Any, node: Any, attributes: Sequence[str]) -> bool:
    if isinstance(node, BoolOp):
        results = (_matches(item, operand, attributes) for operand in node.operands)
        return all(results) if node.op == "AND" else any(results)
    value = _field(item, node, attributes)
    if node.op in ("IS NULL", "IS NOT NULL"):
        return (value is None) == (node.op == "IS NULL")
    if value is None:
        return False
    if node.op in ("IN", "NOT IN"):
        found = str(value) in {item.text for item in node.value.items}
        return found == (node.op == "IN")
    if node.op in ("LIKE", "ILIKE"):
        return _like(str(value), node.value.text, node.op == "ILIKE")
    wanted: Any = node.value.text
    if isinstance(value, int):
        wanted = float(wanted)
    return _COMPARE[node.op](value, wanted)


def search(
    items: list[Any], filter_string: str | None, order_by: Sequence[str], attributes: Sequence[str]
) -> list[Any]:
    """The items matching ``filter_string``, sorted by ``order_by`` (``"<attribute> [ASC|DESC]"``)."""
    tree = parse_filter(filter_string or "")
    found = [item for item in items if tree is None or _matches(item, tree, attributes)]
    for entry in reversed(order_by):
        column, _, direction = entry.strip().partition(" ")
        column = column.removeprefix("attributes.")
        if column not in attributes:
            raise InvalidParameterError(
                f"Cannot order by {column!r}; use one of {', '.join(attributes)}"
            )
        values = {id(item): getattr(item, column) for item in found}
        found.sort(
            key=lambda item: (values[id(item)] is None, values[id(item)] or 0),
            reverse=direction.strip().upper() == "DESC",
        )
    return found
