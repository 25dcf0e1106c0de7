"""Checks a verifier's config makes while a recipe is validated: no files, no models (the configs live
beside their verifiers; these helpers are shared by several of them)."""

from __future__ import annotations

import re
from typing import Any, Literal

RegexFlag = Literal["ignorecase", "multiline", "dotall"]


def compiles(pattern: str) -> str:
    """``pattern`` when it is a valid regular expression, else a ValueError naming it."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern


def check_bounds(low: float | None, high: float | None, low_name: str, high_name: str) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"{low_name} ({low}) is greater than {high_name} ({high})")


def placeholders(template: str) -> list[str]:
    from ..prompts import template_fields

    try:
        return template_fields(template)
    except ValueError as exc:
        raise ValueError(f"{exc} (write literal braces as {{{{ and }}}})") from None


def check_json_schema(schema: dict[str, Any]) -> None:
    """Raise ValueError naming the problem when ``schema`` is not a valid JSON Schema."""
    try:
        from .structured import schema_validator

        schema_validator(schema)
    except ImportError:  # pragma: no cover - jsonschema is a dependency
        return
    except Exception as exc:  # noqa: BLE001 - jsonschema.SchemaError and friends
        message = getattr(exc, "message", str(exc))
        where = getattr(exc, "json_path", "$")
        raise ValueError(f"not a valid JSON Schema at {where}: {message}") from None


def validate_backend_table(value: Any) -> Any:
    """A backend table validated with the recipe's own backend models (imported late: schema imports us)."""
    from pydantic import TypeAdapter, ValidationError

    from ..recipe.schema import BackendConfig

    if not isinstance(value, dict) and hasattr(value, "model_dump"):
        return value
    try:
        return TypeAdapter(BackendConfig).validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:] if p not in ("vllm", "openai", "replay", "scripted"))
        raise ValueError(f"invalid backend table: {where or 'type'}: {first['msg']}") from None
