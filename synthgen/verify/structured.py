"""Structured output: tolerant JSON extraction, JSON Schema validation, extracted fields as columns.

The same schema can also constrain decoding (``constrain = true``): the run plan sets it as the sampling
``json_schema`` of the step that writes the verified field (``synthgen.plan.pipeline``). The
stage's ``invalid_json`` count over ``seen`` is the invalid-JSON rate, reported with or without it.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Literal

from ..records import Candidate, Verdict, canonical_json
from .base import Verifier, config_params
from .extract import extract_json
from pydantic import Field, field_validator, model_validator

from ..recipe.base import Placed
from .checks import check_json_schema

INVALID_JSON = "invalid_json"
SCHEMA_MISMATCH = "schema_mismatch"
RECORD_COLUMNS = ("prompt",)  # a [prompt] record's head column besides the provenance ones (a step may write it)
_PINNED = {"string": str, "integer": int, "number": float, "boolean": bool}


# JSON's lexical pieces, for deciding whether a stop string can occur in JSON text. A raw tab, newline or
# carriage return can only be whitespace between tokens (a string holds them escaped); every other control
# character is never raw in JSON text; any other character can sit inside a string value.
_WS_BREAK = re.compile(r"[ \t\n\r]*[\t\n\r][ \t\n\r]*")
_STRING = r'"(?:[^"\\\x00-\x1f]|\\.)*"'
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
_TOKEN = rf'(?:[{{}}\[\],:]|{_STRING}|{_NUMBER}|true|false|null| )'
_TOKEN_END = (r'(?:[^\x00-\x1f]*"|[\d.eE+-]*\d|(?:(?:t?r)?u)?e|(?:(?:(?:f?a)?l)?s)?e'
              r'|(?:(?:n?u)?l)?l)')  # a token's last part
_TOKEN_START = (r'(?:"(?:[^"\\\x00-\x1f]|\\.)*\\?|-?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d*)?)?'
                r'|t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?|n(?:u(?:ll?)?)?)')  # a token's first part
_BEFORE_BREAK = re.compile(rf"(?:{_TOKEN_END})?{_TOKEN}*")
_BETWEEN_BREAKS = re.compile(rf"{_TOKEN}*")
_AFTER_BREAK = re.compile(rf"{_TOKEN}*(?:{_TOKEN_START})?")


def json_can_contain(stop: str) -> bool:
    """Whether JSON text can contain ``stop``, so a stop string could fire inside a constrained reply.

    Without a raw tab, newline or carriage return, ``stop`` can sit inside a string value (unless it holds
    another control character, which JSON never holds raw). With them, those are whitespace between
    tokens, so the text around them must be JSON tokens: the part before the first one a token's end,
    the part after the last one a token's start, the parts between whole tokens. ``"\n"`` and ``"\n}"``
    can occur (the constrained decoder emits whitespace where it likes); ``"\n#"`` and ``"\nUser:"``
    cannot. Lexical only (``"1\n2"`` counts as possible): when unsure, it says yes."""
    if any(ord(char) < 0x20 and char not in "\t\n\r" for char in stop):
        return False
    parts = _WS_BREAK.split(stop)
    if len(parts) == 1:
        return bool(stop)
    head, *middle, tail = parts
    return (_BEFORE_BREAK.fullmatch(head) is not None and _AFTER_BREAK.fullmatch(tail) is not None
            and all(_BETWEEN_BREAKS.fullmatch(part) is not None for part in middle))


def schema_validator(schema: dict[str, Any]) -> Any:
    """A jsonschema validator for the schema's declared draft (2020-12 when undeclared); raises
    ``jsonschema.SchemaError`` for an invalid schema."""
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def pinned_types(schema: dict[str, Any] | None) -> dict[str, type]:
    """Top-level properties whose schema fixes one scalar type: those columns keep their native type."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return {}
    properties = schema["properties"]
    pinned = {}
    for name, spec in properties.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if isinstance(kind, str) and kind in _PINNED:
            pinned[name] = _PINNED[kind]
    return pinned


def column_value(value: Any, pinned: type | None) -> Any:
    """A column value with a stable type across rows: strings stay strings, values whose type the schema
    pins stay native (integers widen to float for ``number``), everything else becomes canonical JSON text."""
    if isinstance(value, str):
        return value
    if pinned is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if pinned is not None and isinstance(value, pinned):
        return value
    return canonical_json(value)


class JsonSchemaVerifierConfig(Placed):
    type: Literal["json"]
    json_schema: dict[str, Any] | None = Field(None, description="Inline JSON Schema.")
    schema_path: Path | None = Field(None, description="JSON Schema file, relative to the recipe.")
    extract: Literal["auto", "strict"] = Field("auto", description="auto: tolerate fences and surrounding prose.")
    columns: Literal["all", "none"] | list[str] = Field("all", description="Top-level keys that become columns.")
    column_prefix: str = ""
    text: Literal["raw", "json"] = Field("raw", description="json: replace the text with the extracted JSON.")
    constrain: bool = Field(False, description="Also constrain decoding to the schema (vLLM structured outputs).")

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            check_json_schema(schema)
        return schema

    @model_validator(mode="after")
    def _one_source(self) -> "JsonSchemaVerifierConfig":
        if self.json_schema is not None and self.schema_path is not None:
            raise ValueError("give json_schema or schema_path, not both")
        if self.constrain and self.json_schema is None and self.schema_path is None:
            raise ValueError("constrain needs a schema: set json_schema or schema_path")
        return self


class JsonSchemaVerifier(Verifier):
    """Keeps texts holding JSON that validates against ``schema`` (any JSON object or array when None).

    ``columns``: ``"all"`` top-level keys, ``"none"``, or a list of keys, written to ``candidate.columns``
    (with ``column_prefix``; keys that clash with record columns get ``json_``). ``text = "json"``
    replaces the candidate's text with the canonical extracted JSON.
    """

    name = "json"
    Config = JsonSchemaVerifierConfig

    @classmethod
    def added_columns(cls, config: Any) -> set[str] | None:
        """The columns it writes; None for ``columns = "all"`` (whatever keys the JSON holds)."""
        if config.columns in ("all", "none"):
            return None if config.columns == "all" else set()
        return {column_name(config.column_prefix, key) for key in config.columns}

    @classmethod
    def from_config(cls, config: Any, context: Any, where: str) -> "JsonSchemaVerifier":
        schema = load_schema(config, context, where)
        return cls(schema=schema, **config_params(config, "json_schema", "schema_path", "constrain"))

    def __init__(self, schema: dict[str, Any] | None = None, extract: str = "auto", columns: Any = "all",
                 column_prefix: str = "", text: str = "raw"):
        self.schema, self.extract, self.columns = schema, extract, columns
        self.column_prefix, self.text = column_prefix, text
        self._validator = schema_validator(schema) if schema is not None else None
        self._pinned = pinned_types(schema)

    def check(self, candidate: Candidate) -> Verdict:
        found = extract_json(candidate.text, self.extract)
        if found is None:
            return Verdict.reject(INVALID_JSON, excerpt=candidate.text[:200])
        value, source = found
        if self._validator is not None:
            error = next(iter(self._validator.iter_errors(value)), None)
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "<root>"
                return Verdict.reject(SCHEMA_MISMATCH, path=where, error=error.message[:300])
        candidate.columns.update(self._columns(value))
        if self.text == "json":
            candidate.text = json.dumps(value, ensure_ascii=False)
        return Verdict.accept()

    def _columns(self, value: Any) -> dict[str, Any]:
        if self.columns == "none" or not isinstance(value, dict):
            return {}
        keys = list(value) if self.columns == "all" else [k for k in self.columns if k in value]
        out = {}
        for key in keys:
            out[column_name(self.column_prefix, key)] = column_value(value[key], self._pinned.get(key))
        return out


@functools.lru_cache(maxsize=1)
def reserved_columns() -> frozenset[str]:
    """Names a JSON key cannot take as a column: the provenance columns (the recipe schema's one list,
    imported here on use: that module imports this one) and :data:`RECORD_COLUMNS`."""
    from ..recipe.schema import RESERVED_COLUMNS

    return frozenset(RESERVED_COLUMNS) | frozenset(RECORD_COLUMNS)


def column_name(prefix: str, key: str) -> str:
    """The column a top-level key becomes: prefixed, and ``json_`` before a reserved or ``seed_`` name."""
    name = f"{prefix}{key}"
    return f"json_{name}" if name in reserved_columns() or name.startswith("seed_") else name


def json_stage_summary(stages: list[dict[str, Any]], constraints: dict[str, dict[str, Any]] | None = None
                       ) -> list[dict[str, Any]]:
    """For the report: each json stage's invalid-JSON and schema-mismatch rates (over the candidates it
    saw), and whether decoding was constrained to the schema, so runs with and without compare directly.
    ``constraints`` (:func:`~synthgen.verify.constraint.json_constraints`) says per stage whether the schema
    was asked for and whether the backend enforced it: ``constrained`` is True only when it was enforced."""
    from .constraint import constraint_phrase

    out = []
    for stage in stages:
        if stage["stage"] != "json" and not stage["stage"].startswith("json_"):
            continue
        seen, reasons = stage["seen"], stage.get("reasons", {})
        rate = {key: round(reasons.get(key, 0) / seen, 4) if seen else None for key in (INVALID_JSON, SCHEMA_MISMATCH)}
        constrained, phrase = constraint_phrase((constraints or {}).get(stage["stage"]))
        out.append({"stage": stage["stage"], "seen": seen, "constrained": constrained, "constraint": phrase,
                    "invalid_json_rate": rate[INVALID_JSON], "schema_mismatch_rate": rate[SCHEMA_MISMATCH]})
    return out


def load_schema(config: Any, context: Any, where: str) -> dict[str, Any] | None:
    """The json verifier's schema: inline, or read (and checked) from ``schema_path``."""
    import json

    from ..errors import RecipeError

    if config.schema_path is None:
        return config.json_schema
    path = context.resolve(config.schema_path)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        check_json_schema(schema)
    except FileNotFoundError:
        raise RecipeError(f"{where}.schema_path: {path}: file not found", hint="paths start at the recipe's folder") from None
    except IsADirectoryError:
        raise RecipeError(f"{where}.schema_path: {path} is a folder, not a JSON Schema file",
                          hint="name the .json file inside it") from None
    except OSError as exc:
        raise RecipeError(f"{where}.schema_path: {path}: cannot read it ({exc.strerror or exc})",
                          hint="check the path and its permissions") from None
    except ValueError as exc:
        raise RecipeError(f"{where}.schema_path: {path}: {exc}", hint="fix the JSON Schema file") from None
    return boolean_schema(schema, f"{where}.schema_path: {path}")


def boolean_schema(schema: Any, where: str) -> Any:
    """A JSON Schema may be a boolean: ``true`` accepts any JSON document and is returned as its
    equivalent ``{}`` (so it can also constrain decoding); ``false`` accepts none, so every candidate would
    be rejected after generation: refused."""
    from ..errors import RecipeError

    if schema is False:
        raise RecipeError(f"{where}: the schema is false, which no JSON document satisfies",
                          hint="write the schema the output must match, or {} / true for any JSON")
    return {} if schema is True else schema
