"""The base of every recipe table: unknown keys are errors, values are immutable.

TOML has no null, so an optional setting (a threshold that may be off) is turned off with ``false``.
"""

from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator


def _optional_non_bool(annotation: Any) -> bool:
    if get_origin(annotation) not in (Union, UnionType):
        return False
    args = get_args(annotation)
    return NoneType in args and bool not in args


def union_members(tp: Any) -> list[Any]:
    """The alternatives of a (possibly Annotated or Optional) union; a plain type is its own member."""
    if get_origin(tp) is Annotated:
        return union_members(get_args(tp)[0])
    if get_origin(tp) in (Union, UnionType):
        return [member for arg in get_args(tp) for member in union_members(arg)]
    return [tp]


def _item_type(members: list[Any], origin: type) -> Any:
    """The one item type (list) or value type (dict) the members declare for a container, else None."""
    found = [get_args(m)[-1] for m in members if get_origin(m) is origin and get_args(m)]
    return found[0] if len(found) == 1 else None


def _bools_refused(annotation: Any, value: Any) -> Any:
    """``value`` with every boolean where ``annotation`` expects a number (and no boolean) replaced by a
    :class:`_NotANumber`, looking through Annotated, unions (``'auto'`` or an integer) and lists or tables
    of numbers; pydantic would read ``true`` there as 1."""
    members = union_members(annotation)
    if bool in members or Any in members:
        return value
    if isinstance(value, bool):
        return _NotANumber(value) if {int, float} & set(members) else value
    if isinstance(value, list) and (item := _item_type(members, list)) is not None:
        return [_bools_refused(item, v) for v in value]
    if isinstance(value, dict) and (item := _item_type(members, dict)) is not None:
        return {key: _bools_refused(item, v) for key, v in value.items()}
    return value


@dataclass(frozen=True)
class Expects:
    """``Annotated`` metadata saying in the recipe's words what a union-typed key takes (``'a folder path or a
    redis:// URL'``); a value that fits no alternative is reported with it instead of each alternative's error."""

    text: str


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
        return {key: _bools_refused(fields[key].annotation, value) if key in fields else value
                for key, value in data.items()}


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
