"""pydantic's validation errors in the recipe's words: ``file:table.key: message (got value)``, one line per
key, with a did-you-mean for unknown keys and the ``type`` values a pluggable table accepts."""

from __future__ import annotations

import difflib
import re
from pathlib import PurePath
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .base import Expects, union_members
from .schema import Recipe

_LOCATED = re.compile(r"^((?:[a-z_0-9]+\.)+[a-z_0-9]+): (.*)$", re.S)


def format_problems(source: str, errors: list[dict[str, Any]]) -> list[str]:
    """Every pydantic error as one line, except that a key typed as a union without a ``type`` tag (``'auto'``
    or an integer) gets one line for all its alternatives' errors: what it takes and the value given."""
    lines: list[str] = []
    for err in errors:
        union = _plain_union_at(err["loc"])
        line = format_problem(source, err) if union is None else _union_problem(source, *union, errors)
        if line not in lines:
            lines.append(line)
    return lines


def format_problem(source: str, err: dict[str, Any]) -> str:
    """One pydantic error as ``file:table.key: message (value …)`` with a did-you-mean for unknown keys."""
    loc = _clean_loc(err["loc"])
    where = ".".join(str(part) for part in loc) or "<top>"
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(err["loc"][:-1])
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean {guess[0]!r}? " if guess else ""
        return f"{source}:{where}: unknown key; {hint}allowed: {', '.join(allowed)}"
    if kind == "missing":
        return f"{source}:{where}: required key is missing"
    tags = _type_tags(err["loc"]) if kind in ("union_tag_not_found", "union_tag_invalid") else []
    if tags:
        return _type_problem(source, where, err, tags)
    message = err["msg"].removeprefix("Value error, ")
    located = _LOCATED.match(message) if not loc else None
    if located:  # a whole-recipe check that knows the key it is about
        where, message = located.groups()
    return f"{source}:{where}: {message}{_got(err.get('input'))}"


def _got(value: Any, lists: bool = False) -> str:
    """`` (got 5)``, booleans spelled as in TOML; nothing for a table or a list (unless ``lists``, and short)."""
    if value is None or isinstance(value, dict) or isinstance(value, list) and not (lists and len(repr(value)) < 80):
        return ""
    return f" (got {str(value).lower() if isinstance(value, bool) else repr(value)})"


def _type_problem(source: str, where: str, err: dict[str, Any], tags: list[str]) -> str:
    """A pluggable table without a (known) ``type``, said in the recipe's words, not pydantic's."""
    choices = ", ".join(tags)
    if err["type"] == "union_tag_not_found":
        return f"{source}:{where}.type is missing: choose one of {choices}"
    tag = str(err.get("ctx", {}).get("tag", ""))
    guess = difflib.get_close_matches(tag, tags, n=1)
    return f"{source}:{where}.type: unknown type {tag!r}; {f'did you mean {guess[0]!r}? ' if guess else ''}" \
           f"choose one of {choices}"


def _type_tags(loc: tuple[Any, ...]) -> list[str]:
    """The ``type`` values the union at ``loc`` accepts, in declaration order."""
    model: Any = Recipe
    for part in loc:
        model = _variant(model, part) if isinstance(part, str) and _is_tag(model, part) else _child(model, part)
    return [tag for member in union_members(model) if _is_model(member) and "type" in member.model_fields
            for tag in get_args(member.model_fields["type"].annotation)]


def _clean_loc(loc: tuple[Any, ...]) -> list[Any]:
    """Drop the discriminator tags pydantic puts in union locations (``backend.vllm.model`` → ``backend.model``)."""
    cleaned: list[Any] = []
    model: Any = Recipe
    for part in loc:
        if isinstance(part, str) and _is_tag(model, part):
            model = _variant(model, part)
            continue
        cleaned.append(part)
        model = _child(model, part)
    return cleaned


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Recipe
    for part in loc:
        model = _variant(model, part) if isinstance(part, str) and _is_tag(model, part) else _child(model, part)
    model = _model_in(model)  # through Annotated (a path-or-table source) and Optional
    return sorted(model.model_fields) if model is not None else []


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _model_in(tp: Any) -> Any:
    return next((member for member in union_members(tp) if _is_model(member)), None)



def _is_tag(tp: Any, part: str) -> bool:
    return _variant(tp, part) is not None


def _variant(tp: Any, tag: str) -> Any:
    for member in union_members(tp):
        if _is_model(member) and "type" in member.model_fields:
            annotation = member.model_fields["type"].annotation
            if tag in get_args(annotation):
                return member
    return None


def _child(tp: Any, part: Any) -> Any:
    """The declared type one step down from ``tp`` (a field, a list item or a dict value)."""
    members = union_members(tp)
    model = next((m for m in members if _is_model(m)), None)
    if model is not None and isinstance(part, str) and part in model.model_fields:
        info = model.model_fields[part]
        return _unwrap_optional(info.annotation, info.metadata)
    for member in members:
        args = get_args(member)
        if get_origin(member) in (list, tuple) and args:
            return args[0]
        if get_origin(member) is dict and len(args) == 2:
            return args[1]
    return None


def _unwrap_optional(annotation: Any, metadata: list[Any]) -> Any:
    members = [m for m in union_members(annotation) if m is not NoneType]
    return members[0] if len(members) == 1 else annotation


# --- keys typed as a union without a type tag -------------------------------------------------------


def _plain_union_at(loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any] | None:
    """Where ``loc`` enters a union without a ``type`` tag (pydantic then names the alternative it tried,
    ``dedup.ngram.constrained-int``): the location up to that name and the union; None when it enters none."""
    tp: Any = Recipe
    for i, part in enumerate(loc):
        if _is_plain_union(tp):
            return tuple(loc[:i]), tp
        tp = _variant(tp, part) if isinstance(part, str) and _is_tag(tp, part) else _child(tp, part)
    return None


def _is_plain_union(tp: Any) -> bool:
    members = [m for m in union_members(tp) if m is not NoneType]
    return len(members) > 1 and not all(_is_model(m) and "type" in m.model_fields for m in members)


def _union_problem(source: str, loc: tuple[Any, ...], union: Any, errors: list[dict[str, Any]]) -> str:
    """``file:key: expected 'auto' or an integer from 1 to 64 (got 0)``: one line for all the alternatives."""
    where = ".".join(str(part) for part in _clean_loc(loc))
    given = next((err["input"] for err in errors if err["loc"][:-1] == loc), None)  # the whole value, not an item
    return f"{source}:{where}: expected {_either(_alternatives(union))}{_got(given, lists=True)}"


def _either(words: list[str]) -> str:
    words = list(dict.fromkeys(words))
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


_KINDS = {int: ("an integer", "integers"), float: ("a number", "numbers"), str: ("a string", "strings"),
          bool: ("true or false", "booleans")}


def _alternatives(tp: Any) -> list[str]:
    """What ``tp`` accepts, in the recipe's words, one entry per alternative (each literal its own)."""
    if get_origin(tp) is Annotated:
        inner, *metadata = get_args(tp)
        said = [m.text for m in metadata if isinstance(m, Expects)]
        return said or [word + _bounds(metadata) for word in _alternatives(inner)]
    if tp is NoneType:
        return []
    if get_origin(tp) in (Union, UnionType):
        return [word for member in get_args(tp) for word in _alternatives(member)]
    if get_origin(tp) is Literal:
        return [repr(value) for value in get_args(tp)]
    return [_kind(tp)]


_PATH = ("a path", "paths")


def _kind(tp: Any, plural: bool = False) -> str:
    """One type in words: ``int`` → "an integer", ``list[str]`` → "a list of strings"."""
    if get_origin(tp) in (list, tuple):
        return f"a list of {_kind((get_args(tp) or (Any,))[0], plural=True)}"
    if isinstance(tp, type) and issubclass(tp, PurePath):
        return _PATH[plural]
    if tp in _KINDS:
        return _KINDS[tp][plural]
    if get_origin(tp) is dict or _is_model(tp):
        return "tables" if plural else "a table"
    return "values" if plural else "a value"


_SIGNS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}


def _bounds(metadata: list[Any]) -> str:
    """``Field(ge=1, le=64)`` → `` from 1 to 64``; ``gt=0`` → `` > 0``."""
    constraints = [c for m in metadata for c in (m.metadata if isinstance(m, FieldInfo) else [m])]
    found = {name: getattr(c, name) for c in constraints for name in _SIGNS if hasattr(c, name)}
    if found.keys() == {"ge", "le"}:
        return f" from {found['ge']} to {found['le']}"
    return " and".join(f" {_SIGNS[name]} {value}" for name, value in found.items())
