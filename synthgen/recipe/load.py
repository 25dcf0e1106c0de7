"""Read a recipe: TOML → ``--set`` overrides → pydantic validation → canonical hash.

Every problem is reported as ``file:table.key: message`` so a user can jump straight to it.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ..errors import RecipeError, option, options_spelled_for
from ..records import canonical_json
from .schema import Recipe


@dataclass(frozen=True)
class LoadedRecipe:
    """A validated recipe with where it came from: relative paths resolve against ``base_dir``."""

    recipe: Recipe
    source: str
    base_dir: Path
    overrides: tuple[str, ...] = field(default_factory=tuple)

    def resolve(self, path: Path | str) -> Path:
        path = Path(path).expanduser()
        return path if path.is_absolute() else Path(os.path.normpath(self.base_dir / path))

    @property
    def hash(self) -> str:
        return recipe_hash(self.recipe)


def recipe_hash(recipe: Recipe) -> str:
    """sha256 of the sorted JSON of the validated recipe, without [output] (where a run goes is not what it is)."""
    data = recipe.model_dump(mode="json", exclude={"output"}, exclude_none=True)
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()[:16]


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> LoadedRecipe:
    """Load, override and validate the recipe at ``path``; raise RecipeError listing every problem."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found", hint="check the path")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # an editor's byte-order mark is not TOML
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: invalid TOML: {exc}", hint="fix the TOML syntax at that line") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: not UTF-8 text", hint="save the recipe as UTF-8") from None
    return recipe_from_dict(raw, source=str(path), base_dir=path.resolve().parent, overrides=overrides)


def recipe_from_dict(
    raw: dict[str, Any],
    source: str = "<recipe>",
    base_dir: Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> LoadedRecipe:
    raw = apply_overrides(raw, overrides, source)
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        problems = [format_problem(source, err) for err in exc.errors()]
        raise RecipeError(problems[0], problems=problems) from None
    return LoadedRecipe(recipe, source, (base_dir or Path.cwd()), tuple(overrides))


# --- overrides --------------------------------------------------------------------------------------


def parse_override(text: str, source: str) -> tuple[list[str], Any]:
    """``a.b=value`` → (["a", "b"], value); the value is read as TOML when it parses, else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"{source}: {option('set')} {text!r}: expected KEY=VALUE",
                          hint=f"e.g. {option('set example')}")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return [part.strip() for part in key.strip().split(".")], parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...], source: str) -> dict[str, Any]:
    """Set each ``a.b.c=value`` in a copy of ``raw``; numeric parts index arrays of tables (``verify.0.min``).
    Errors name ``--set`` under a ``synthgen`` command and ``overrides`` when Python called (load_recipe,
    run_recipe)."""
    import copy

    raw = copy.deepcopy(raw)
    with options_spelled_for("python"):  # a no-op under the command line, which chose first
        for text in overrides:
            keys, value = parse_override(text, source)
            container: Any = raw
            for i, key in enumerate(keys[:-1]):
                container = _step(container, key, source, ".".join(keys[: i + 1]), text)
            _assign(container, keys[-1], value, source, text)
    return raw


def _step(container: Any, key: str, source: str, dotted: str, text: str) -> Any:
    if isinstance(container, list):
        return container[_list_index(container, key, source, dotted, text)]
    if not isinstance(container, dict):
        raise RecipeError(f"{source}:{dotted}: {option('set')} {text!r}: {dotted.rpartition('.')[0]} is not a table")
    child = container.setdefault(key, {})
    if not isinstance(child, dict | list):
        raise RecipeError(f"{source}:{dotted}: {option('set')} {text!r}: {dotted} is not a table")
    return child


def _assign(container: Any, key: str, value: Any, source: str, text: str) -> None:
    if isinstance(container, list):
        container[_list_index(container, key, source, key, text)] = value
    else:
        container[key] = value


def _list_index(items: list, key: str, source: str, dotted: str, text: str) -> int:
    if not key.isdigit() or int(key) >= len(items):
        raise RecipeError(f"{source}:{dotted}: {option('set')} {text!r}: no item {key!r} (the array has {len(items)})",
                          hint="arrays of tables are indexed from 0, e.g. verify.0.min=5")
    return int(key)


# --- error formatting -------------------------------------------------------------------------------


_LOCATED = re.compile(r"^((?:[a-z_0-9]+\.)+[a-z_0-9]+): (.*)$", re.S)


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
    value = err.get("input")
    shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
    return f"{source}:{where}: {message}{shown}"


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
    return [tag for member in _union_members(model) if _is_model(member) and "type" in member.model_fields
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
    return sorted(model.model_fields) if _is_model(model) else []


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _union_members(tp: Any) -> list[Any]:
    """The alternatives of a (possibly Annotated or Optional) union; a plain type is its own member."""
    if get_origin(tp) is Annotated:
        return _union_members(get_args(tp)[0])
    if get_origin(tp) in (Union, UnionType):
        return [member for arg in get_args(tp) for member in _union_members(arg)]
    return [tp]


def _is_tag(tp: Any, part: str) -> bool:
    return _variant(tp, part) is not None


def _variant(tp: Any, tag: str) -> Any:
    for member in _union_members(tp):
        if _is_model(member) and "type" in member.model_fields:
            annotation = member.model_fields["type"].annotation
            if tag in get_args(annotation):
                return member
    return None


def _child(tp: Any, part: Any) -> Any:
    """The declared type one step down from ``tp`` (a field, a list item or a dict value)."""
    members = _union_members(tp)
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
    members = [m for m in _union_members(annotation) if m is not type(None)]
    return members[0] if len(members) == 1 else annotation
