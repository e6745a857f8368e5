"""Search filters and orderings: MLflow-style strings -> small AST -> parameterized SQL.

A filter is comparisons joined by ``AND`` / ``OR`` (``AND`` binds tighter) with optional
parentheses, each ``<entity> <operator> <value>``::

    metrics.rmse < 0.5 AND params.alpha = '0.1'
    tags.`model type` IN ('xgb', 'lgbm') OR run_name LIKE '%lr%'
    attributes.status != 'FAILED' AND tags.mlflow.runName IS NOT NULL

Entities: ``metrics.<key>``, ``params.<key>``, ``tags.<key>``, ``datasets.<name|digest|context>``,
``attributes.<attr>`` or a bare attribute name. Keys may contain dots and may be back- or
double-quoted right after the dot. ``tags.fittrace.<x>`` means ``tags.mlflow.<x>``, as when tags are written.

Semantics (same as MLflow): numeric comparisons never match a NaN metric value; ``params.k != 'a'``
matches runs that *have* param ``k`` with another value; ``IS NULL`` matches runs without the key.
``LIKE`` is case-sensitive (``%`` any run, ``_`` one character), ``ILIKE`` is not; SQLite's own
``LIKE`` ignores case, so there (``glob_like=True``) it compiles to ``GLOB``.
Every user value is bound as a ``?`` parameter; keys and values never reach the SQL text.

Limits, so that no filter can exhaust the parser or the database engine: at most
``MAX_NESTING`` levels of parentheses, ``MAX_COMPARISONS`` comparisons and ``MAX_VALUES``
values in one filter; integers beyond 64 bits compare as floats. A filter over a limit, or
holding a NUL or an unpaired surrogate, raises ``InvalidFilterError`` like any malformed one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NoReturn

from fittrace import tags
from fittrace.entities import Run
from fittrace.exceptions import InvalidFilterError, InvalidParameterError

__all__ = [
    "BoolOp",
    "Comparison",
    "Entity",
    "check_count",
    "compile_order_by",
    "leading_metric",
    "order_entries",
    "page_key",
    "check_page_key",
    "compile_registry_filter",
    "compile_run_filter",
    "compile_run_filter_forms",
    "parse_filter",
]

# ---------------------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Entity:
    """What a comparison looks at: ``kind`` is metric, param, tag, dataset or attribute."""

    kind: str
    key: str
    pos: int
    text: str


@dataclass(frozen=True)
class Value:
    """A literal: ``kind`` is string, number or tuple (``items`` then holds the elements)."""

    kind: str
    text: str
    pos: int
    items: tuple[Value, ...] = ()


@dataclass(frozen=True)
class Comparison:
    """``entity op value``; ``op`` is normalized (``=``, ``!=``, ``LIKE``, ``NOT IN``, ``IS NULL``...)."""

    entity: Entity
    op: str
    op_pos: int
    value: Value | None


@dataclass(frozen=True)
class BoolOp:
    """``AND`` / ``OR`` over two or more operands."""

    op: Literal["AND", "OR"]
    operands: tuple[Node, ...]


Node = Comparison | BoolOp

# ----------------------------------------------------------------------------------- Tokenizer

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<backquoted>`[^`]*`)
  | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<op>[<>=!]+)
  | (?P<punct>[(),])
  | (?P<ident>[^\W\d][\w.\-/:]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "ASC", "DESC"}
_OPERATORS = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_OPERATOR_HINT = "a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL)"


@dataclass(frozen=True)
class _Token:
    kind: str  # string, backquoted, number, op, punct, ident, keyword, end
    text: str
    pos: int

    @property
    def end(self) -> int:
        return self.pos + len(self.text)


def _tokenize(text: str, what: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "'\"`":
                _fail(
                    text,
                    f"unterminated quoted text starting at position {pos}; add the closing {char}",
                    what,
                )
            _fail(text, f"unexpected character {char!r} at position {pos}", what)
        kind = match.lastgroup
        assert kind is not None
        if kind != "ws":
            token_text = match.group()
            if kind == "ident" and token_text.upper() in _KEYWORDS:
                kind = "keyword"
            tokens.append(_Token(kind, token_text, pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SHOWN = 200  # characters of a filter an error message repeats


def _fail(text: str, message: str, what: str = "filter") -> NoReturn:
    shown = repr(text) if len(text) <= _SHOWN else repr(text[:_SHOWN]) + "..."
    raise InvalidFilterError(f"Invalid {what} {shown}: {message}")


def _unquote(token: _Token) -> str:
    quote = token.text[0]
    inner = token.text[1:-1]
    return inner if quote == "`" else inner.replace(quote * 2, quote)


# -------------------------------------------------------------------------------------- Parser

_ENTITY_PREFIXES = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
    "dataset": "dataset",
    "datasets": "dataset",
}
_ENTITY_HINT = "metrics.<key>, params.<key>, tags.<key>, attributes.<name> or an attribute name"
MAX_NESTING = 50
MAX_COMPARISONS = (
    25  # PostgreSQL plans each as a join: ~1 s for 25 over 2,000 runs, minutes for 500
)
MAX_VALUES = 5000


class _Parser:
    def __init__(self, text: str, what: str = "filter") -> None:
        self.text = text
        self.what = what  # names the input in error messages
        if "\x00" in text or not text.isascii() and not _encodable(text):
            _fail(text, "it contains a NUL character or an unpaired surrogate", what)
        self.tokens = _tokenize(text, what)
        self.index = 0
        self.depth = self.comparisons = self.values = 0

    # token helpers
    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_keyword(self, *words: str) -> bool:
        return self.token.kind == "keyword" and self.token.text.upper() in words

    def is_punct(self, char: str) -> bool:
        return self.token.kind == "punct" and self.token.text == char

    def fail(self, message: str) -> NoReturn:
        _fail(self.text, message, self.what)

    def unexpected(self, expected: str) -> NoReturn:
        token = self.token
        if token.kind == "end":
            self.fail(f"unexpected end of {self.what} at position {token.pos}; expected {expected}")
        self.fail(
            f"unexpected token {token.text!r} at position {token.pos}; expected {expected}",
        )

    def expect_end(self, expected: str) -> None:
        if self.token.kind != "end":
            self.unexpected(expected)

    # grammar
    def parse_or(self) -> Node:
        operands = [self.parse_and()]
        while self.is_keyword("OR"):
            self.advance()
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else BoolOp("OR", tuple(operands))

    def parse_and(self) -> Node:
        operands = [self.parse_atom()]
        while self.is_keyword("AND"):
            self.advance()
            operands.append(self.parse_atom())
        return operands[0] if len(operands) == 1 else BoolOp("AND", tuple(operands))

    def parse_atom(self) -> Node:
        if self.is_punct("("):
            self.depth += 1
            if self.depth > MAX_NESTING:
                self.fail(
                    f"more than {MAX_NESTING} levels of parentheses at position {self.token.pos}"
                )
            self.advance()
            node = self.parse_or()
            self.depth -= 1
            if not self.is_punct(")"):
                self.unexpected("')' or AND/OR")
            self.advance()
            return node
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            self.fail(f"more than {MAX_COMPARISONS} comparisons at position {self.token.pos}")
        entity = self.parse_entity()
        return self.parse_comparison(entity)

    def parse_entity(self) -> Entity:
        token = self.token
        if token.kind == "backquoted":  # `Run name` = 'x'
            self.advance()
            return Entity("attribute", _unquote(token), token.pos, token.text)
        if token.kind != "ident":
            self.unexpected(_ENTITY_HINT)
        self.advance()
        prefix, dot, key = token.text.partition(".")
        if not dot:
            return Entity("attribute", token.text, token.pos, token.text)
        kind = _ENTITY_PREFIXES.get(prefix.lower())
        if kind is None:
            self.fail(
                f"unknown entity type {prefix!r} at position {token.pos}; expected one of "
                "metrics, params, tags, attributes, datasets",
            )
        if not key:  # metrics.`my key` / tags."a b": the quoted key must follow the dot directly
            quoted = self.token
            if quoted.kind not in ("backquoted", "string") or quoted.pos != token.end:
                self.fail(f"missing key after {token.text!r} at position {token.pos}")
            self.advance()
            key = _unquote(quoted)
            if not key:
                self.fail(f"empty key at position {quoted.pos}")
            return Entity(kind, key, token.pos, self.text[token.pos : quoted.end])
        return Entity(kind, key, token.pos, token.text)

    def parse_comparison(self, entity: Entity) -> Comparison:
        token = self.token
        if token.kind == "op":
            op = _OPERATORS.get(token.text)
            if op is None:
                self.unexpected(_OPERATOR_HINT)
            self.advance()
            return Comparison(entity, op, token.pos, self.parse_scalar())
        if self.is_keyword("LIKE", "ILIKE"):
            self.advance()
            return Comparison(entity, token.text.upper(), token.pos, self.parse_scalar())
        if self.is_keyword("IN"):
            self.advance()
            return Comparison(entity, "IN", token.pos, self.parse_tuple())
        if self.is_keyword("NOT"):
            self.advance()
            if not self.is_keyword("IN"):
                self.unexpected("IN after NOT")
            self.advance()
            return Comparison(entity, "NOT IN", token.pos, self.parse_tuple())
        if self.is_keyword("IS"):
            self.advance()
            op = "IS NULL"
            if self.is_keyword("NOT"):
                self.advance()
                op = "IS NOT NULL"
            if not self.is_keyword("NULL"):
                self.unexpected("NULL")
            self.advance()
            return Comparison(entity, op, token.pos, None)
        self.unexpected(_OPERATOR_HINT)

    def parse_scalar(self) -> Value:
        token = self.token
        self.values += 1
        if self.values > MAX_VALUES:
            self.fail(f"more than {MAX_VALUES} values at position {token.pos}")
        if token.kind == "string":
            self.advance()
            return Value("string", _unquote(token), token.pos)
        if token.kind == "number":
            self.advance()
            return Value("number", token.text, token.pos)
        self.unexpected("a quoted string or a number")

    def parse_tuple(self) -> Value:
        start = self.token
        if not self.is_punct("("):
            self.unexpected("a parenthesized list of values, e.g. ('a', 'b')")
        self.advance()
        items = [self.parse_scalar()]
        while self.is_punct(","):
            self.advance()
            if self.is_punct(")"):  # trailing comma
                break
            items.append(self.parse_scalar())
        if not self.is_punct(")"):
            self.unexpected("',' or ')'")
        self.advance()
        return Value(
            "tuple", self.text[start.pos : self.tokens[self.index - 1].end], start.pos, tuple(items)
        )


def parse_filter(filter_string: str) -> Node | None:
    """Parse a filter string into its AST; ``None`` for an empty filter."""
    if not filter_string or not filter_string.strip():
        return None
    parser = _Parser(filter_string)
    node = parser.parse_or()
    parser.expect_end("AND, OR or the end of the filter")
    return node


# ------------------------------------------------------------------------------------ Compiler

_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL")
_NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=", "IS NULL", "IS NOT NULL")
_ID_OPS = ("=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN")
_DATASET_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_INTEGER_RE = re.compile(r"-?\d+")
_INT64 = 1 << 63


def _number(text: str) -> int | float:
    """The number a literal spells; an integer beyond 64 bits as the nearest float."""
    value = _int64(text)
    return float(text) if value is None else value


def _int64(text: str) -> int | None:
    """The integer ``text`` spells, if it is one that fits in 64 bits."""
    if not _INTEGER_RE.fullmatch(text) or len(text) > 20:
        return None
    value = int(text)
    return value if -_INT64 <= value < _INT64 else None


@dataclass(frozen=True)
class _Column:
    sql: str
    type: str  # string, number (a float/int), id (an integer given as text or number)


@dataclass(frozen=True)
class _Child:
    """A key/value table hanging off the searched row (params, tags, metrics, ...)."""

    table: str
    alias: str
    links: tuple[tuple[str, str], ...]  # (own column, searched row's column) pairs
    value_type: str = "string"  # or number (metrics)
    keyed: bool = True  # False: the entity key names a column (datasets.name)

    @property
    def join(self) -> str:
        return " AND ".join(f"{self.alias}.{own} = {owner}" for own, owner in self.links)


@dataclass(frozen=True)
class _Scope:
    what: str
    attributes: dict[str, _Column]
    attribute_aliases: dict[str, str]
    children: dict[str, _Child]


_RUN_SCOPE = _Scope(
    what="runs",
    attributes={
        "run_id": _Column("r.run_uuid", "string"),
        "run_name": _Column("r.name", "string"),
        "status": _Column("r.status", "string"),
        "user_id": _Column("r.user_id", "string"),
        "artifact_uri": _Column("r.artifact_uri", "string"),
        "lifecycle_stage": _Column("r.lifecycle_stage", "string"),
        "experiment_id": _Column("r.experiment_id", "id"),
        "start_time": _Column("r.start_time", "number"),
        "end_time": _Column("r.end_time", "number"),
    },
    attribute_aliases={
        "run_uuid": "run_id",
        "created": "start_time",
        "Created": "start_time",
        "run name": "run_name",
        "Run name": "run_name",
        "Run Name": "run_name",
    },
    children={
        "metric": _Child("latest_metrics", "lm", (("run_uuid", "r.run_uuid"),), "number"),
        "param": _Child("params", "p", (("run_uuid", "r.run_uuid"),)),
        "tag": _Child("tags", "t", (("run_uuid", "r.run_uuid"),)),
        "dataset": _Child("inputs", "i", (("run_uuid", "r.run_uuid"),), keyed=False),
    },
)
_DATASET_FIELDS = ("name", "digest", "context")

_REGISTRY_SCOPES = {
    "registered_model": _Scope(
        what="registered models",
        attributes={
            "name": _Column("m.name", "string"),
            "description": _Column("m.description", "string"),
        },
        attribute_aliases={},
        children={"tag": _Child("registered_model_tags", "t", (("name", "m.name"),))},
    ),
    "model_version": _Scope(
        what="model versions",
        attributes={
            "name": _Column("m.name", "string"),
            "version": _Column("m.version", "id"),
            "run_id": _Column("m.run_id", "string"),
            "source": _Column("m.source", "string"),
            "status": _Column("m.status", "string"),
            "description": _Column("m.description", "string"),
        },
        attribute_aliases={"source_path": "source", "version_number": "version"},
        children={
            "tag": _Child("model_version_tags", "t", (("name", "m.name"), ("version", "m.version")))
        },
    ),
}


def _like_to_glob(pattern: str) -> str:
    """Translate a LIKE pattern to GLOB so LIKE stays case-sensitive whatever the connection's pragmas."""
    out = []
    for char in pattern:
        if char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?[":
            out.append(f"[{char}]")
        else:
            out.append(char)
    return "".join(out)


class _Compiler:
    def __init__(self, text: str, scope: _Scope, glob_like: bool, probe: bool = False) -> None:
        self.text = text
        self.scope = scope
        self.glob_like = glob_like
        self.probe = probe
        self.params: list = []

    def compile(self, node: Node) -> str:
        if isinstance(node, BoolOp):
            return (
                "(" + f" {node.op} ".join(self.compile(operand) for operand in node.operands) + ")"
            )
        entity = node.entity
        if entity.kind == "attribute":
            return self._attribute(node)
        child = self.scope.children.get(entity.kind)
        if child is None:
            _fail(
                self.text,
                f"{entity.text!r} at position {entity.pos}: {entity.kind}s cannot be searched "
                f"in {self.scope.what}",
            )
        return self._child(node, child)

    # helpers
    def _check_op(self, node: Comparison, allowed: Sequence[str], why: str) -> None:
        if node.op not in allowed:
            _fail(
                self.text,
                f"operator {node.op!r} at position {node.op_pos} cannot be used with "
                f"{node.entity.text!r} ({why}); allowed: {', '.join(allowed)}",
            )

    def _bind(self, value: Value, value_type: str, entity: Entity) -> str:
        """Append the parameter(s) for ``value``; return the placeholder text."""
        if value.kind == "tuple":
            return (
                "(" + ", ".join(self._bind(item, value_type, entity) for item in value.items) + ")"
            )
        if value_type == "number":
            if value.kind != "number":
                _fail(
                    self.text,
                    f"{entity.text!r} compares numbers, but the value {value.text!r} at position "
                    f"{value.pos} is a string; write it without quotes",
                )
            self.params.append(_number(value.text))
        elif value_type == "id":
            number = _int64(value.text)
            if number is None:
                _fail(
                    self.text,
                    f"{entity.text!r} is a whole number, but the value {value.text!r} at position "
                    f"{value.pos} is not one (of at most 64 bits)",
                )
            self.params.append(number)
        else:  # strings: an unquoted number is taken literally (params.alpha = 0.1 -> '0.1')
            self.params.append(value.text)
        return "?"

    def _predicate(self, column: str, node: Comparison, value_type: str) -> str:
        assert node.value is not None
        if node.op == "LIKE":
            operator = "GLOB" if self.glob_like else "LIKE"
            return f"{column} {operator} {self._bind_like(node.value, node.entity, glob=self.glob_like)}"
        if node.op == "ILIKE":
            return f"LOWER({column}) LIKE LOWER({self._bind_like(node.value, node.entity, glob=False)})"
        return f"{column} {node.op} {self._bind(node.value, value_type, node.entity)}"

    def _bind_like(self, value: Value, entity: Entity, glob: bool) -> str:
        if value.kind != "string":
            _fail(
                self.text,
                f"the pattern for {entity.text!r} at position {value.pos} must be a quoted string",
            )
        self.params.append(_like_to_glob(value.text) if glob else value.text)
        return "?"

    # comparison kinds
    def _attribute(self, node: Comparison) -> str:
        entity = node.entity
        name = self.scope.attribute_aliases.get(entity.key, entity.key)
        column = self.scope.attributes.get(name)
        if column is None:
            _fail(
                self.text,
                f"unknown attribute {entity.key!r} at position {entity.pos}; expected one of "
                f"{', '.join(self.scope.attributes)}"
                + (
                    ", or metrics.<key>, params.<key>, tags.<key>"
                    if "metric" in self.scope.children
                    else ""
                ),
            )
        allowed = {"string": _STRING_OPS, "number": _NUMBER_OPS, "id": _ID_OPS}[column.type]
        article = "an" if column.type == "id" else "a"
        self._check_op(node, allowed, f"{name} is {article} {column.type}")
        if node.op in ("IS NULL", "IS NOT NULL"):
            return f"{column.sql} {node.op}"
        return self._predicate(column.sql, node, column.type)

    def _child(self, node: Comparison, child: _Child) -> str:
        entity = node.entity
        alias = child.alias
        conditions = []
        if child.keyed:
            conditions.append(f"{alias}.key = ?")
            self.params.append(tags.canonical(entity.key) if entity.kind == "tag" else entity.key)
            value_column = f"{alias}.value"
        else:
            if entity.key not in _DATASET_FIELDS:
                _fail(
                    self.text,
                    f"unknown dataset field {entity.key!r} at position {entity.pos}; expected one of "
                    f"{', '.join(_DATASET_FIELDS)}",
                )
            value_column = f"{alias}.{entity.key}"
        if child.value_type == "number":
            self._check_op(node, _NUMBER_OPS, "metrics are numbers")
        elif child.keyed:
            self._check_op(node, _STRING_OPS, f"{entity.kind}s are strings")
        else:
            self._check_op(node, _DATASET_OPS, "dataset fields are strings")
        negate = node.op == "IS NULL"
        if node.op not in ("IS NULL", "IS NOT NULL"):
            if child.value_type == "number":
                conditions.append(f"{alias}.is_nan = 0")
            conditions.append(self._predicate(value_column, node, child.value_type))
        if (
            not self.probe
            and child.value_type == "string"
            and len(child.links) == 1
            and node.op in ("=", "IN")
        ):
            # String equality is usually selective: an IN (SELECT ...) lets SQLite drive the
            # search from the (key, value) index instead of probing every candidate row.
            ((own, owner),) = child.links
            return (
                f"{owner} IN (SELECT {alias}.{own} FROM {child.table} {alias} "
                f"WHERE {' AND '.join(conditions)})"
            )
        where = " AND ".join([child.join, *conditions])
        return (
            f"{'NOT ' if negate else ''}EXISTS (SELECT 1 FROM {child.table} {alias} WHERE {where})"
        )


def compile_run_filter(filter_string: str | None, *, glob_like: bool = True) -> tuple[str, list]:
    """Compile a run filter to a SQL boolean expression over ``runs r`` and its parameters.

    An empty or missing filter gives ``("1=1", [])``. Raises ``InvalidFilterError`` naming the
    offending token and its position.
    """
    return compile_run_filter_forms(filter_string, glob_like=glob_like)[0]


def compile_run_filter_forms(
    filter_string: str | None, *, glob_like: bool = True
) -> tuple[tuple[str, list], tuple[str, list]]:
    """The filter parsed once, compiled twice: as ``compile_run_filter`` gives it (the database
    may drive the search from a selective comparison's index), and as probes, every comparison
    a lookup by the run's id (for runs already found in order)."""
    node = parse_filter(filter_string or "")
    if node is None:
        return ("1=1", []), ("1=1", [])
    forms = []
    for probe in (False, True):
        compiler = _Compiler(filter_string or "", _RUN_SCOPE, glob_like, probe)
        forms.append((compiler.compile(node), compiler.params))
    return forms[0], forms[1]


def compile_registry_filter(
    filter_string: str | None,
    kind: Literal["registered_model", "model_version"],
    *,
    glob_like: bool = True,
) -> tuple[str, list]:
    """Compile a registry filter over ``registered_models m`` or ``model_versions m``.

    Supports ``name``, ``tags.<key>`` and, for model versions, ``version``, ``run_id``,
    ``source`` (alias ``source_path``) and ``status``.
    """
    scope = _REGISTRY_SCOPES.get(kind)
    if scope is None:
        raise ValueError(f"kind must be 'registered_model' or 'model_version', not {kind!r}")
    node = parse_filter(filter_string or "")
    if node is None:
        return "1=1", []
    compiler = _Compiler(filter_string or "", scope, glob_like)
    return compiler.compile(node), compiler.params


MAX_COUNT = 1 << 40  # max_results and offsets: far beyond any store, well within 64 bits


def check_count(name: str, value: object, minimum: int = 1) -> int:
    """``value`` if it is a whole number from ``minimum`` to ``MAX_COUNT``, else InvalidParameterError."""
    if type(value) is not int or not minimum <= value <= MAX_COUNT:
        raise InvalidParameterError(
            f"{name} must be a whole number from {minimum} to {MAX_COUNT}, got {value!r}"
        )
    return value


_DEFAULT_ORDER = "r.start_time DESC, r.run_uuid ASC"


def compile_order_by(order_by: Sequence[str] | None) -> tuple[str, list]:
    """Compile ``order_by`` entries (``"metrics.rmse ASC"``, ``"params.alpha"``, ``"run_name DESC"``).

    Returns an ``ORDER BY`` clause over ``runs r`` and its parameters. Runs missing the key
    (and NaN metrics) sort last in both directions; ties fall back to newest first, then run id.
    """
    terms: list[str] = []
    params: list = []
    for entry in order_by or ():
        if not entry or not entry.strip():
            continue
        parser = _Parser(entry, "order_by entry")
        entity = parser.parse_entity()
        direction = "ASC"
        if parser.is_keyword("ASC", "DESC"):
            direction = parser.advance().text.upper()
        parser.expect_end("ASC, DESC or the end of the order_by entry")
        terms.append(f"{_order_expression(entry, entity, params)} {direction} NULLS LAST")
    terms.append(_DEFAULT_ORDER)
    return "ORDER BY " + ", ".join(terms), params


def leading_metric(order_by: Sequence[str] | None) -> tuple[str, str] | None:
    """``(key, "ASC" | "DESC")`` when the first ``order_by`` entry sorts by a metric, else None."""
    entries = [e for e in order_by or () if e and e.strip()]
    if not entries:
        return None
    parser = _Parser(entries[0], "order_by entry")
    entity = parser.parse_entity()
    direction = parser.advance().text.upper() if parser.is_keyword("ASC", "DESC") else "ASC"
    parser.expect_end("ASC, DESC or the end of the order_by entry")
    return (entity.key, direction) if entity.kind == "metric" else None


def order_entries(order_by: Sequence[str] | None) -> list[str]:
    """The non-blank ``order_by`` entries, stripped."""
    return [e.strip() for e in order_by or () if e and e.strip()]


def _keyed_metric(order_by: Sequence[str] | None) -> tuple[str, str] | None | bool:
    """False when pages under ``order_by`` go by offset; else the one metric it orders by, or
    None for the default order (newest first)."""
    entries = order_entries(order_by)
    if not entries:
        return None
    metric = leading_metric(entries)
    return metric if metric is not None and len(entries) == 1 else False


def page_key(run: Run, order_by: Sequence[str] | None) -> list | None:
    """Where the page after ``run`` starts (keyset pagination): ``[start_time, run_id]`` in the
    default order, ``[value, start_time, run_id]`` when ordered by one metric (value None if the
    run has none or NaN); None under other orders, whose pages go by offset."""
    metric = _keyed_metric(order_by)
    if metric is False:
        return None
    tail = [run.info.start_time, run.info.run_id]
    if metric is None:
        return tail
    value = run.data.metrics.get(metric[0])
    return [None if value is None or value != value else value, *tail]


def check_page_key(key: object, order_by: Sequence[str] | None) -> list:
    """``key`` if it is a ``page_key`` for ``order_by``, else InvalidParameterError."""
    metric = _keyed_metric(order_by)
    shape = (int, str) if metric is None else (float, int, str)
    if (
        metric is not False
        and isinstance(key, list)
        and len(key) == len(shape)
        and all(
            v is None
            and i == 0
            and metric is not None
            or type(v) is t
            or t is float
            and type(v) is int
            for i, (v, t) in enumerate(zip(key, shape, strict=True))
        )
    ):
        return key
    raise InvalidParameterError(f"Invalid page key {key!r} for order_by {order_by!r}")


def _order_expression(entry: str, entity: Entity, params: list) -> str:
    if entity.kind == "attribute":
        name = _RUN_SCOPE.attribute_aliases.get(entity.key, entity.key)
        column = _RUN_SCOPE.attributes.get(name)
        if column is None:
            _fail(
                entry,
                f"unknown attribute {entity.key!r} at position {entity.pos}; expected one of "
                f"{', '.join(_RUN_SCOPE.attributes)}, or metrics.<key>, params.<key>, tags.<key>",
                "order_by entry",
            )
        return column.sql
    if entity.kind == "metric":
        params.append(entity.key)
        return (
            "(SELECT CASE WHEN lm.is_nan = 1 THEN NULL ELSE lm.value END FROM latest_metrics lm "
            "WHERE lm.run_uuid = r.run_uuid AND lm.key = ?)"
        )
    if entity.kind in ("param", "tag"):
        child = _RUN_SCOPE.children[entity.kind]
        params.append(tags.canonical(entity.key) if entity.kind == "tag" else entity.key)
        return (
            f"(SELECT {child.alias}.value FROM {child.table} {child.alias} "
            f"WHERE {child.join} AND {child.alias}.key = ?)"
        )
    _fail(
        entry,
        f"cannot order by {entity.text!r} at position {entity.pos}; "
        "use metrics.<key>, params.<key>, tags.<key> or an attribute",
        "order_by entry",
    )
