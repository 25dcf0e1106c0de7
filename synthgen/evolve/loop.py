"""``synthgen evolve``: run a recipe generation after generation, record each in the lineage ledger, and
stop when held-out real-data measures say the generations are degrading."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import RecipeError
from ..recipe.evolve_schema import EvolveConfig
from ..recipe.load import LoadedRecipe, apply_overrides, load_recipe, recipe_from_dict
from .feed import FewShotSlot, few_shot_slot, generation_raw, write_feed
from .stoprule import should_stop

DUPLICATE_REASONS = ("exact_duplicate", "near_duplicate", "semantic_near_duplicate")


@dataclass
class EvolveResult:
    project: Path
    generations: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None
    best: str | None = None
    noise: dict[str, float | None] = field(default_factory=dict)  # None: the floor could not be measured
    noise_notes: dict[str, str] = field(default_factory=dict)  # how each floor was measured, or why not

    @property
    def stopped_early(self) -> bool:
        return self.stop_reason is not None


class Evolution:
    """One multi-generation run. ``backend_factory(k)`` (tests) or one shared backend serves each generation."""

    def __init__(self, path: Path, overrides: tuple[str, ...], project: Path | None, generations: int | None,
                 backend_factory: Callable[[int], Any] | None, progress: bool):
        self.path, self.overrides, self.progress = Path(path), tuple(overrides), progress
        self.base = load_recipe(self.path, list(overrides))
        self.config = self.base.recipe.evolve or EvolveConfig()
        self.count = generations or self.config.generations
        self.project = Path(project).resolve() if project else self._default_project()
        self.raw = apply_overrides(tomllib.loads(self.path.read_text(encoding="utf-8-sig")), overrides, str(self.path))
        self.backend_factory = backend_factory
        self.backend: Any = None
        self.slot: FewShotSlot | None = few_shot_slot(self.base.recipe)
        self._check_feed()
        self._check_mix_cap()
        self.text_column = self._text_column()
        self.gated_column = self._gated_column()
        self.fed_stride = self._fed_stride()

    def _default_project(self) -> Path:
        configured = self.config.project_dir
        return self.base.resolve(configured) if configured else self.base.base_dir / "runs" / \
            f"{self.base.recipe.recipe.name}-evolve"

    def _check_feed(self) -> None:
        if self.config.feed == "few_shot" and self.slot is None:
            raise RecipeError(f"{self.path}:evolve.feed: 'few_shot' feeds the next generation's few-shot pool, "
                              "and the recipe has no [prompt.few_shot] and no step with few_shot",
                              hint="add one, or set feed = 'seeds'")

    def _check_mix_cap(self) -> None:
        """The ``[mix]`` cap at the last generation's depth, where the default cap is lowest: checked before
        generation 1 runs (the run itself checks only its own depth, so a cap above the recursive default
        used to stop the loop after a whole generation)."""
        recipe = self.base.recipe
        if recipe.mix is None:
            return
        from ..mix.run import mixer_from_config

        sampling = recipe.generation.sampling
        mixer_from_config(recipe.mix, depth=(recipe.recipe.depth or 1) + self.count - 1,
                          loop_temperature=sampling.temperature, loop_top_p=sampling.top_p,
                          where=f"{self.path}:mix")

    def _main_field(self) -> str:
        from ..plan import RecipeContext
        from ..plan.parts import main_field

        recipe = self.base.recipe
        return "text" if recipe.is_shorthand else main_field(recipe.step_configs(), RecipeContext.from_loaded(self.base))

    def _gated_column(self) -> str:
        """The column the diversity gate measures, which it compares with the previous generation's."""
        diversity = self.base.recipe.diversity
        return (diversity.field if diversity is not None and diversity.field else None) or self._main_field()

    def _text_column(self) -> str:
        """The dataset column that is measured and fed forward: the few-shot step's (feed = 'few_shot'),
        else the record's text. A [[steps]] recipe's dataset keeps step columns only in the raw format."""
        recipe = self.base.recipe
        if recipe.is_shorthand:
            return "text"
        fed = self.slot is not None and self.config.feed == "few_shot"
        column = self.slot.column if fed else self._main_field()
        if recipe.output.format != "raw":
            raise RecipeError(f"{self.path}:output.format: evolve measures and feeds forward the step column "
                              f"{column!r}, and format {recipe.output.format!r} leaves step columns out of the dataset",
                              hint="set [output] format = 'raw' for evolve runs")
        return column

    def _fed_stride(self) -> int:
        """How many dataset records each record of the step writing ``text_column`` becomes through the
        later fan-out steps (n > 1): they all carry its column, and it is fed and measured once."""
        recipe = self.base.recipe
        if recipe.is_shorthand:
            return 1
        from ..plan import RecipeContext
        from ..plan.pipeline import column_writers, fanout_strides, step_samplings

        steps = recipe.step_configs()
        writer = column_writers(steps, recipe.output).get(self.text_column)
        if writer is None:
            return 1
        return fanout_strides(steps, step_samplings(recipe, RecipeContext.from_loaded(self.base)))[writer]

    def generation_recipe(self, k: int, feed_file: Path | None, previous: Path | None,
                          sampling: dict[str, float] | None = None) -> LoadedRecipe:
        raw = generation_raw(self.raw, k, self.project, feed_file, previous, sampling, self.slot, self.gated_column)
        return recipe_from_dict(raw, str(self.path), self.base.base_dir, self.overrides)

    def backend_for(self, k: int, loaded: LoadedRecipe) -> Any:
        if self.backend_factory is not None:
            return self.backend_factory(k)
        if self.backend is None:
            from ..plan import RecipeContext, build_main_backend

            self.backend = build_main_backend(loaded.recipe, RecipeContext.from_loaded(loaded))
        return self.backend

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None


def evolve(recipe: str | Path, *, generations: int | None = None, project: str | Path | None = None,
           overrides: tuple[str, ...] | list[str] = (), backend_factory: Callable[[int], Any] | None = None,
           progress: bool = True) -> EvolveResult:
    """Run up to ``generations`` generations; returns what happened to each, why it stopped, the best one."""
    from .steps import run_generations

    evolution = Evolution(Path(recipe), tuple(overrides), Path(project) if project else None, generations,
                          backend_factory, progress)
    try:
        return run_generations(evolution)
    finally:
        evolution.close()


__all__ = ["EvolveResult", "evolve", "should_stop", "write_feed"]
