"""A small TOML writer for the resolved recipe shown in the dataset card (the stdlib only reads TOML).

It covers what a validated recipe dumps to JSON: tables, arrays of tables, scalars and lists. ``None``
values have no TOML form and are left out (they are the schema's defaults).
"""

from __future__ import annotations

import json
import re
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def to_toml(data: dict[str, Any]) -> str:
    """``data`` as a TOML document that ``tomllib.loads`` reads back equal (``None`` values dropped)."""
    lines = _table_lines(data, [], array_item=False)
    return "\n".join(lines).strip() + "\n"


def _table_lines(table: dict[str, Any], path: list[str], array_item: bool) -> list[str]:
    scalars = {k: v for k, v in table.items() if v is not None and not _is_table(v) and not _is_table_array(v)}
    header = []
    if path and (scalars or array_item or not _has_subtables(table)):
        name = ".".join(_key(p) for p in path)
        header = ["", f"[[{name}]]" if array_item else f"[{name}]"]
    lines = header + [f"{_key(k)} = {_value(v)}" for k, v in scalars.items()]
    for key, value in table.items():
        if _is_table(value):
            lines += _table_lines(value, [*path, key], array_item=False)
        elif _is_table_array(value):
            for item in value:
                lines += _table_lines(item, [*path, key], array_item=True)
    return lines


def _has_subtables(table: dict[str, Any]) -> bool:
    return any(_is_table(v) or _is_table_array(v) for v in table.values())


def _is_table(value: Any) -> bool:
    return isinstance(value, dict)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + inner + " }" if inner else "{}"
    return _string(str(value))


def _number(value: int | float) -> str:
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return str(value)


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, plus DEL, which TOML also forbids raw."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")
