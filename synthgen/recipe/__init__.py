"""Recipes: the TOML schema and its loader.

Names load on first use, so a verifier module can import ``synthgen.recipe.base`` without pulling in the
schema (which imports every verifier's config).
"""

from __future__ import annotations

from typing import Any

_LAZY = {"LoadedRecipe": "load", "load_recipe": "load", "recipe_from_dict": "load", "recipe_hash": "load",
         "Recipe": "schema", "SamplingConfig": "schema"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_LAZY)
