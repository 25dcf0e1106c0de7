"""Read a recipe: TOML → ``--set`` overrides → pydantic validation → canonical hash.

Every problem is reported as ``file:table.key: message`` so a user can jump straight to it.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import RecipeError, option, options_spelled_for
from ..records import canonical_json
from .problems import format_problems
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
        problems = format_problems(source, exc.errors())
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
            _assign(container, keys[-1], value, source, ".".join(keys), text)
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


def _assign(container: Any, key: str, value: Any, source: str, dotted: str, text: str) -> None:
    if isinstance(container, list):
        container[_list_index(container, key, source, dotted, text)] = value
    else:
        container[key] = value


def _list_index(items: list, key: str, source: str, dotted: str, text: str) -> int:
    if not key.isdigit() or int(key) >= len(items):
        raise RecipeError(f"{source}:{dotted}: {option('set')} {text!r}: no item {key!r} (the array has {len(items)})",
                          hint="arrays of tables are indexed from 0, e.g. verify.0.min=5")
    return int(key)
