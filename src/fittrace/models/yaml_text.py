"""YAML text for the files of a model directory (``MLmodel``, ``conda.yaml``, ``python_env.yaml``), without a YAML library.

Importing PyYAML costs a first fit ~30 ms, and these files hold only mappings, lists, strings,
numbers, booleans and nulls. ``dump`` writes them in PyYAML's block layout (``safe_dump`` with
``default_flow_style=False``): indentless lists under a key, strings plain where YAML 1.1 reads
them back as the same string and quoted otherwise, ASCII only. Anything ``yaml.safe_load`` (which
MLflow uses to read them) gives back equals what was dumped. Other values (a ``datetime`` in a
model's metadata, a key over YAML's 1,024-character limit for plain keys) are left to PyYAML, as
is all reading.
"""

from __future__ import annotations

import math
import re
from typing import Any

# Plain (unquoted) only where no YAML 1.1 resolver (bool, null, int, float, timestamp, merge,
# value) can claim the string and no indicator character can change its meaning: a letter or
# "_" first, or a dotted version with at least two dots ("3.11.7": neither a float nor a date).
_PLAIN = re.compile(
    r"[A-Za-z_][A-Za-z0-9_.\-/+=<>~@]*|[0-9]+(?:\.[0-9]+){2,}(?:[A-Za-z][A-Za-z0-9.+]*)?"
)
_RESERVED = frozenset(
    "y Y yes Yes YES n N no No NO true True TRUE false False FALSE on On ON off Off OFF"
    " null Null NULL".split()
)
_MAX_KEY = 1000  # YAML's limit for a key written without "? " is 1,024 characters
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def dump(data: dict[str, Any], sort_keys: bool = False) -> str:
    """``data`` as a YAML document (a block mapping), keys sorted when ``sort_keys``."""
    lines: list[str] = []
    try:
        _mapping(data, "", sort_keys, lines)
    except _Unsupported:
        import yaml

        return yaml.dump(
            data,
            Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
            default_flow_style=False,
            sort_keys=sort_keys,
        )
    return "".join(line + "\n" for line in lines) if lines else "{}\n"


class _Unsupported(Exception):
    """A value outside the shapes written here."""


def _mapping(data: dict, indent: str, sort_keys: bool, lines: list[str], first: str = "") -> None:
    """Lines of a non-empty block mapping; ``first`` prefixes its first line (a list's ``- ``)."""
    items = sorted(data.items()) if sort_keys else data.items()
    for i, (key, value) in enumerate(items):
        text = _scalar(key)
        if len(text) > _MAX_KEY:
            raise _Unsupported
        lead = (first if i == 0 and first else indent) + text + ":"
        if isinstance(value, dict) and value:
            lines.append(lead)
            _mapping(value, indent + "  ", sort_keys, lines)
        elif isinstance(value, list) and value:
            lines.append(lead)
            _sequence(value, indent, sort_keys, lines)  # indentless, as PyYAML writes it
        else:
            lines.append(f"{lead} {_scalar(value)}")


def _sequence(data: list, indent: str, sort_keys: bool, lines: list[str], first: str = "") -> None:
    for i, value in enumerate(data):
        lead = (first if i == 0 and first else indent) + "- "
        if isinstance(value, dict) and value:
            _mapping(value, indent + "  ", sort_keys, lines, first=lead)
        elif isinstance(value, list) and value:
            _sequence(value, indent + "  ", sort_keys, lines, first=lead)
        else:
            lines.append(lead + _scalar(value))


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, list) and not value:
        return "[]"
    raise _Unsupported


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "." not in text and "e" in text:  # YAML 1.1 floats need a dot: 1e-05 -> 1.0e-05
        text = text.replace("e", ".0e", 1)
    return text


def _string(value: str) -> str:
    if _PLAIN.fullmatch(value) and value not in _RESERVED:
        return value
    if _PRINTABLE_ASCII.fullmatch(value) and value == value.strip():
        return "'" + value.replace("'", "''") + "'"
    return '"' + "".join(_escaped(c) for c in value) + '"'


def _escaped(c: str) -> str:
    if c in _ESCAPES:
        return _ESCAPES[c]
    code = ord(c)
    if 0x20 <= code <= 0x7E:
        return c
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
