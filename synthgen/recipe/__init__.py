"""Recipes: the TOML schema and its loader."""

from .load import LoadedRecipe, load_recipe, recipe_from_dict, recipe_hash
from .schema import Recipe, SamplingConfig

__all__ = ["LoadedRecipe", "Recipe", "SamplingConfig", "load_recipe", "recipe_from_dict", "recipe_hash"]
