"""One place builds a run: a loaded recipe becomes a typed :class:`RunPlan`.

Every other package receives only its own table (and the small :class:`RecipeContext` that resolves paths
and names the recipe in errors), never the whole recipe. ``synthgen validate``, ``run_recipe`` and the
evolve loop all go through :func:`build_run_plan`, so what validation accepts is exactly what runs.

- :mod:`.model`: the plan's types;
- :mod:`.parts`: seeds, output format, the diversity gate's parts, the mix and provenance;
- :mod:`.pipeline`: the steps and the stages placed after the step whose column they check.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..pipeline import Stage
from .model import Limits, MixPlan, OutputPlan, RecipeContext, RunPlan, SeedPlan, seeds_hash
from .parts import build_gate_parts, build_mix, build_output, build_seeds, run_context
from .pipeline import build_pipeline, records_per_request

SELECTION_POOL = 1.5


def build_run_plan(loaded: Any, backend: Any = None) -> RunPlan:
    """Check and build every part of the run; no model is loaded (backends load when the run starts)."""
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
    from ..backends import build_backend

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


__all__ = ["Limits", "MixPlan", "OutputPlan", "RecipeContext", "RunPlan", "SeedPlan", "build_main_backend",
           "build_run_plan", "collect_target", "seeds_hash"]
