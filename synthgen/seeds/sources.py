"""Turn a recipe's [seeds] table into a list of :class:`Seed` rows."""

from __future__ import annotations

from ..errors import RecipeError, SynthgenError
from ..recipe.load import LoadedRecipe
from ..recipe.schema import DatasetSeeds, FileSeeds, GridSeeds, InlineSeeds
from ..records import Seed
from ..tabular import read_rows
from .grid import grid_rows


def load_seeds(loaded: LoadedRecipe) -> list[Seed]:
    """Read every seed row; a missing or empty source is a RecipeError naming ``seeds.path``."""
    config = loaded.recipe.seeds
    if isinstance(config, InlineSeeds):
        rows = list(config.records)
    elif isinstance(config, GridSeeds):
        rows = grid_rows(config.axes, config.sample, loaded.recipe.recipe.seed)
    else:
        rows = _read_source(loaded, config)
    if not rows:
        raise RecipeError(f"{loaded.source}:seeds: the seed source has no rows", hint="add seed rows")
    return [Seed(index=i, fields=dict(row)) for i, row in enumerate(rows)]


def _read_source(loaded: LoadedRecipe, config: FileSeeds | DatasetSeeds) -> list[dict]:
    path = loaded.resolve(config.path)
    try:
        if isinstance(config, FileSeeds):
            return read_rows(path, config.format, limit=config.limit)
        return read_rows(path, "dataset", split=config.split, limit=config.limit)
    except SynthgenError as exc:
        raise RecipeError(f"{loaded.source}:seeds.path: {exc.message}", hint=exc.hint) from None


def seed_widener(loaded: LoadedRecipe):
    """For a sampled grid: a function giving ``factor``× as many seeded combinations (capped at the whole
    grid); None for sources that are already used whole."""
    config = loaded.recipe.seeds
    if not isinstance(config, GridSeeds) or config.sample is None:
        return None

    def widen(factor: int) -> list[Seed]:
        rows = grid_rows(config.axes, config.sample * factor, loaded.recipe.recipe.seed)
        return [Seed(index=i, fields=dict(row)) for i, row in enumerate(rows)]

    return widen
