"""One place builds a run: a loaded recipe becomes a typed :class:`RunPlan`.

Every other package receives only its own table (and the small :class:`RecipeContext` that resolves paths
and names the recipe in errors), never the whole recipe. ``synthgen validate``, ``run_recipe`` and the
evolve loop all go through :func:`build_run_plan`, so what validation accepts is exactly what runs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .pipeline import Stage
from .prompts import RequestPlan
from .provenance import RunContext
from .records import canonical_json, content_hash

SELECTION_POOL = 1.5


@dataclass(frozen=True)
class RecipeContext:
    """What any package may know of the recipe besides its own table: where it lives (to resolve paths
    and to name ``file:key`` in errors), its master seed, name, hash, generation and depth."""

    source: str
    base_dir: Path
    seed: int = 0
    name: str = "run"
    hash: str = ""
    generation: int = 1
    depth: int = 1

    @classmethod
    def from_loaded(cls, loaded: Any) -> "RecipeContext":
        meta = loaded.recipe.recipe
        return cls(loaded.source, loaded.base_dir, meta.seed, meta.name, loaded.hash, meta.generation,
                   meta.depth or 1)

    def resolve(self, path: Path | str) -> Path:
        path = Path(path).expanduser()
        return path if path.is_absolute() else Path(os.path.normpath(self.base_dir / path))

    def where(self, key: str) -> str:
        return f"{self.source}:{key}"

    def seed_for(self, section_seed: int | None) -> int:
        """A table's own ``seed`` when set, else the recipe's (the one place this fallback lives)."""
        return self.seed if section_seed is None else section_seed

    @property
    def run_label(self) -> str:
        return f"gen{self.generation}-{self.hash}"


@dataclass(frozen=True)
class Limits:
    target: int
    budget: int
    batch_size: int
    n: int


@dataclass(frozen=True)
class SeedPlan:
    requests: RequestPlan
    count: int
    hash: str
    fields: frozenset[str]


@dataclass(frozen=True)
class OutputPlan:
    """The dataset's shape: ``format`` and the columns it reads; ``main_field`` is the record's text."""

    format: str
    main_field: str
    columns: tuple[str, ...]
    shorthand: bool
    prompt: str | None = None
    completion: str | None = None
    messages: str | None = None


@dataclass
class MixPlan:
    mixer: Any
    config: Any
    context: RecipeContext

    def real_rows(self) -> list[dict[str, Any]]:
        from .mix.run import read_real_rows

        return read_real_rows(self.config, self.context.resolve, where=self.context.where("mix"))


@dataclass
class RunPlan:
    """Everything a run needs, built and checked before a model starts."""

    context: RecipeContext
    seeds: SeedPlan
    pipeline: list[Stage]
    backend: Any
    samplings: dict[str, Any]
    gated_step: str
    limits: Limits
    target: int
    budget: int
    run_context: RunContext
    output: OutputPlan
    gate: Any = None
    embedder: Any = None
    selection: Any = None
    mix: MixPlan | None = None
    diversity_field: str = "text"
    inputs: dict[str, Path] = field(default_factory=dict)
    records_per_request: int = 1

    @property
    def sampling(self) -> Any:
        """The sampling of the step the diversity gate remediates (the only step of a [prompt] recipe)."""
        return self.samplings[self.gated_step]

    def close(self) -> None:
        for stage in self.pipeline:
            stage.close()


def build_run_plan(loaded: Any, backend: Any = None) -> RunPlan:
    """Check and build every part of the run; no model is loaded (backends load when the run starts)."""
    from .plan_parts import build_gate_parts, build_mix, build_output, build_seeds, run_context
    from .plan_steps import build_pipeline, records_per_request

    recipe, context = loaded.recipe, RecipeContext.from_loaded(loaded)
    seeds = build_seeds(recipe, context)
    if backend is None:
        backend = build_main_backend(recipe, context)
    output = build_output(recipe, context)
    embedder, gate, selection, diversity_field = build_gate_parts(recipe, context, output, collect_target(recipe))
    pipeline, samplings, gated = build_pipeline(recipe, context, seeds, backend, output, embedder, diversity_field)
    limits, target = run_limits(recipe, samplings, pipeline)
    return RunPlan(context, seeds, pipeline, backend, samplings, gated, limits, target,
                   recipe.generation.candidate_budget, run_context(recipe, context, samplings, gated),
                   output, gate, embedder, selection, build_mix(recipe, context, samplings[gated]),
                   diversity_field, input_paths(recipe, context),
                   records_per_request(recipe.step_configs(), samplings))


def build_main_backend(recipe: Any, context: RecipeContext) -> Any:
    from .backends import build_backend

    prompt = recipe.prompt
    mode, system = (prompt.mode, prompt.system) if prompt is not None else ("auto", None)
    return build_backend(recipe.generation.backend, context, mode=mode, system=system)


def collect_target(recipe: Any) -> int:
    """Records to collect: the target, or 1.5× it (within the budget) when diverse selection chooses."""
    gen = recipe.generation
    if recipe.diversity is not None and recipe.diversity.selection != "first":
        return min(math.ceil(gen.target * SELECTION_POOL), gen.candidate_budget)
    return gen.target


def run_limits(recipe: Any, samplings: dict[str, Any], pipeline: list[Stage]) -> tuple[Limits, int]:
    """The runner's limits: collect the target (or the selection pool), within the candidate budget."""
    gen = recipe.generation
    collect = collect_target(recipe)
    first_llm = next((s for s in pipeline if s.name in samplings), None)
    n = samplings[first_llm.name].n if first_llm is not None else 1
    return Limits(target=collect, budget=gen.candidate_budget, batch_size=gen.batch_size, n=n), gen.target


def input_paths(recipe: Any, context: RecipeContext) -> dict[str, Path]:
    """Every file the recipe reads, by the key that names it (hashed into the manifest)."""
    paths: dict[str, Path] = {}
    if hasattr(recipe.seeds, "path"):
        paths["seeds.path"] = context.resolve(recipe.seeds.path)
    for i, step in enumerate(recipe.step_configs()):
        few_shot = getattr(step, "few_shot", None)
        if few_shot is not None:
            key = "prompt.few_shot.path" if recipe.is_shorthand else f"steps.{i}.few_shot.path"
            paths[key] = context.resolve(few_shot.path)
    if hasattr(recipe.generation.backend, "path"):
        paths["generation.backend.path"] = context.resolve(recipe.generation.backend.path)
    return paths


def seeds_hash(rows: list[dict[str, Any]]) -> str:
    return content_hash(canonical_json(rows))
