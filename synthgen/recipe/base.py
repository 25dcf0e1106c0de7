"""The base of every recipe table: unknown keys are errors, values are immutable.

TOML has no null, so an optional setting (a threshold that may be off) is turned off with ``false``.
"""

from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator


def _optional_non_bool(annotation: Any) -> bool:
    if get_origin(annotation) not in (Union, UnionType):
        return False
    args = get_args(annotation)
    return NoneType in args and bool not in args


def _numeric_non_bool(annotation: Any) -> bool:
    """``int``, ``float`` or an optional of them: pydantic would read ``true`` there as 1."""
    args = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    return bool({int, float} & set(args)) and bool not in args


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _false_means_off(cls, data: Any) -> Any:
        """``key = false`` on an optional, non-boolean setting means "off" (None); any other boolean where a
        number is expected is refused (``--set`` values are read as TOML, so numbers stay numbers)."""
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        data = {key: None if value is False and key in fields and _optional_non_bool(fields[key].annotation)
                else value for key, value in data.items()}
        return {key: _NotANumber(value) if isinstance(value, bool) and key in fields
                and _numeric_non_bool(fields[key].annotation) else value for key, value in data.items()}


class _NotANumber:
    """Stands in for ``true`` (or ``false`` on a required number) where a number is expected, which
    pydantic would read as 1 or 0: the field's own type check then refuses it, naming the key."""

    def __init__(self, value: bool):
        self.value = value

    def __repr__(self) -> str:
        return "true" if self.value else "false"


class Placed(Strict):
    """A stage that checks one column of the record and runs right after the step that writes it."""

    field: str | None = Field(None, description="Column to check; default: the record's main text (last LLM step).")
    after: str | None = Field(None, description="Run after this step instead (a later one than the field's).")
