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
from .checks import (check_data_inputs, check_mix_inputs, check_output_columns, gate_budget_warning,
                     measure_share_warning)
from .model import Limits, MixPlan, OutputPlan, RecipeContext, RunPlan, SeedPlan, seeds_hash
from .parts import build_gate_parts, build_mix, build_output, build_seeds, run_context
from .pipeline import (FANOUT_TYPES, backend_rows_per_request, build_pipeline, column_writers, fanout_strides,
                       records_per_request, step_samplings)

SELECTION_POOL = 1.5


def build_run_plan(loaded: Any, backend: Any = None) -> RunPlan:
    """Check and build every part of the run; no model is loaded (backends load when the run starts)."""
    recipe, context = loaded.recipe, RecipeContext.from_loaded(loaded)
    check_inputs_exist(recipe, context)
    seeds = build_seeds(recipe, context)
    if backend is None:
        backend = build_main_backend(recipe, context)
    check_own_replay_files(recipe, context)
    output = build_output(recipe, context)
    check_output_columns(recipe, context, output, seeds.fields)
    check_data_inputs(recipe, context)
    embedder, gate, selection, diversity_field = build_gate_parts(recipe, context, output, collect_target(recipe))
    check_consistency_samples(recipe, context, output)
    pipeline, samplings, gated = build_pipeline(recipe, context, seeds, backend, output, embedder, diversity_field)
    group_consistency_samples(recipe, pipeline, samplings, output)
    if gate is not None:
        gate.bind_levers(seeds.requests.can_widen, draws_few_shot(seeds, pipeline))
    check_mix_inputs(recipe, context, output, seeds.fields, pipeline)
    limits, target = run_limits(recipe, samplings, pipeline)
    steps = recipe.step_configs()
    plan = RunPlan(context, seeds, pipeline, backend, samplings, gated, limits, target,
                   recipe.generation.candidate_budget, run_context(recipe, context, samplings, gated),
                   output, gate, embedder, selection, build_mix(recipe, context, samplings[gated]),
                   diversity_field, input_paths(recipe, context), records_per_request(steps, samplings),
                   verification_facts(recipe), backend_rows_per_request(steps, samplings))
    plan.warnings = plan_warnings(recipe, plan)
    return plan


def plan_warnings(recipe: Any, plan: RunPlan) -> list[str]:
    """What ``synthgen validate`` warns about: problems that let the recipe run, but not as meant."""
    from ..pilot import fan_out

    warnings = [gate_budget_warning(recipe, plan.context, fan_out(plan)),
                measure_share_warning(recipe, plan.context, few_shot_texts(plan.pipeline))]
    return [warning for warning in warnings if warning]


def few_shot_texts(pipeline: list[Any]) -> set[str]:
    """The example texts of every few-shot pool the run's steps draw from."""
    pools = [stage.few_shot for stage in pipeline if getattr(stage, "few_shot", None) is not None]
    return {str(row[pool.field]) for pool in pools for row in pool.rows if row.get(pool.field) is not None}


def verification_facts(recipe: Any) -> dict[str, Any]:
    """The code sandbox's isolation level actually used and the guards turned off (with their reasons),
    for the manifest and the report; empty when the recipe executes no code."""
    if not any(config.type == "code_execution" for config in recipe.verify):
        return {}
    from ..verify.execution import verifier_isolation_facts

    return verifier_isolation_facts(recipe.verify)


def build_main_backend(recipe: Any, context: RecipeContext) -> Any:
    from ..backends import build_backend

    prompt = recipe.prompt
    mode, system = (prompt.mode, prompt.system) if prompt is not None else ("auto", None)
    check_replay_file(recipe.generation.backend, context)
    return build_backend(recipe.generation.backend, context, mode=mode, system=system)


def check_replay_file(config: Any, context: RecipeContext, key: str = "generation.backend") -> None:
    """A replay backend's file must exist and hold text in its field before the run starts (it is read only
    when the backend loads, so without this check ``synthgen validate`` would pass a recipe that cannot run).
    ``key``: the backend table's recipe key (``steps.2.backend``, ``verify.0.backend``), named in the error."""
    from ..backends.replay import ReplayFileError, replay_texts
    from ..errors import RecipeError, SynthgenError
    from ..tabular import read_rows

    if config.type != "replay":
        return
    path = context.resolve(config.path)
    if not path.is_file():
        raise RecipeError(f"{context.where(f'{key}.path')}: {path}: file not found",
                          hint="point it at the jsonl of saved completions; relative paths start at the recipe's folder")
    try:
        replay_texts(read_rows(path), path, config.field, key)
    except ReplayFileError as exc:
        raise RecipeError(f"{context.where(f'{key}.{exc.key}')}: {exc.message}", hint=exc.hint) from None
    except SynthgenError as exc:
        raise RecipeError(f"{context.where(f'{key}.path')}: {exc.message}", hint=exc.hint) from None


def check_own_replay_files(recipe: Any, context: RecipeContext) -> None:
    """Every replay backend table besides ``[generation.backend]`` (checked where the run's backend is built):
    a step's ``[steps.backend]``, a judge's ``[verify.backend]``. Found by walking the recipe, like
    :func:`input_paths`, so a backend table added elsewhere is checked too."""
    from ..recipe.schema import ReplayBackendConfig

    for key, config in _values_of(recipe, "", ReplayBackendConfig):
        if key != "generation.backend":
            check_replay_file(config, context, key)


# --- self-consistency in a steps recipe ------------------------------------------------------------


def _consistency_writers(recipe: Any, output: OutputPlan):
    """(verify index, step index) of each self_consistency table whose field a step writes (an unknown
    field is left to :func:`build_pipeline`, which names it)."""
    writers = column_writers(recipe.step_configs(), output)
    for i, config in enumerate(recipe.verify):
        field = getattr(config, "field", None) or output.main_field
        if config.type == "self_consistency" and field in writers:
            yield i, writers[field]


def check_consistency_samples(recipe: Any, context: RecipeContext, output: OutputPlan) -> None:
    """In a steps recipe self_consistency compares the samples of the step that writes its field, whose
    ``n`` is that step's own ``sampling.n`` (default 1): the error names that key, where the verifier's own
    check would name ``generation.sampling.n``, which does not set it."""
    from ..errors import RecipeError

    if recipe.is_shorthand:
        return
    steps, samplings = recipe.step_configs(), step_samplings(recipe, context)
    for i, writer in _consistency_writers(recipe, output):
        step = steps[writer]
        n = samplings[step.name].n if step.name in samplings else 1
        if n >= 2:
            continue
        message = (f"{context.where(f'verify.{i}')}: self_consistency compares several samples per prompt, but "
                   f"steps.{writer}.sampling.n (step {step.name!r}) is {n}")
        if step.type in FANOUT_TYPES:
            raise RecipeError(message, hint=f"set steps.{writer}.sampling.n to 5 or more")
        raise RecipeError(message, hint=f"a {step.type} step writes one value per record: check the column of a "
                                        "generate or rewrite step with sampling.n = 5 or more")


def group_consistency_samples(recipe: Any, pipeline: list[Stage], samplings: dict[str, Any],
                              output: OutputPlan) -> None:
    """Each self_consistency stage votes over the samples one parent record got at the step writing its
    field, not over every record of a request (an earlier fan-out gives many parents one request)."""
    from ..verify.consistency import SelfConsistencyStage

    steps = recipe.step_configs()
    writers, strides = column_writers(steps, output), fanout_strides(steps, samplings)
    for stage in pipeline:
        if isinstance(stage, SelfConsistencyStage):
            writer = writers[stage.field or "text"]  # placed stages checking "text" have field None
            stage.group_by_parent(samplings[steps[writer].name].n, strides[writer])


def draws_few_shot(seeds: SeedPlan, pipeline: list[Stage]) -> bool:
    """Whether any prompt draws few-shot examples (what gate remediation rotates or adds to)."""
    return seeds.requests.few_shot is not None or any(getattr(s, "few_shot", None) is not None for s in pipeline)


def collect_target(recipe: Any) -> int:
    """Records to collect: the target, or 1.5× it (within the budget) when diverse selection chooses; at
    least the quality gate's smallest window (:func:`~synthgen.gating.gate_min_records`), so a target below
    it is gated on a computable window. Records beyond the target go to the rejects as ``over_target``."""
    from ..gating import gate_min_records

    gen = recipe.generation
    collect = gen.target
    if recipe.diversity is not None and recipe.diversity.selection != "first":
        collect = min(math.ceil(gen.target * SELECTION_POOL), gen.candidate_budget)
    return max(collect, gate_min_records(recipe.diversity))


def run_limits(recipe: Any, samplings: dict[str, Any], pipeline: list[Stage]) -> tuple[Limits, int]:
    """The runner's limits: collect the target (or the selection pool), within the candidate budget."""
    gen = recipe.generation
    collect = collect_target(recipe)
    first_llm = next((s for s in pipeline if s.name in samplings), None)
    n = samplings[first_llm.name].n if first_llm is not None else 1
    return Limits(target=collect, budget=gen.candidate_budget, batch_size=gen.batch_size, n=n), gen.target


NOT_INPUTS = ("output.dir", "diversity.cache_dir", "evolve.")  # where the run writes, or not read by a run
GROWING_INPUTS = {"dedup.history": "a history index grows with every run that extends it (this one included)"}


def input_paths(recipe: Any, context: RecipeContext) -> dict[str, Path]:
    """Every file or folder the run reads, by the recipe key that names it (``seeds.path``,
    ``prompt.few_shot.path``, ``mix.real``, ``dedup.against_real.0.path``, ``verify.2.schema_path``, ...).

    Found by walking the validated recipe for path values, so a new path setting is hashed into the
    manifest (and checked on resume) without being listed here. Locations the run writes are left out;
    those in :data:`GROWING_INPUTS` are listed but not hashed (see synthgen.manifest)."""
    return {key: context.resolve(value) for key, value in _values_of(recipe, "", Path)
            if not key.startswith(NOT_INPUTS)}


def check_inputs_exist(recipe: Any, context: RecipeContext) -> None:
    """When several inputs the recipe names are missing, one error with a ``file:key`` line each: the builders
    below stop at the first problem, so a recipe whose data folder moved took one run per file. One missing
    input is left to the builder that reads it, whose message says what the file should hold."""
    from ..errors import RecipeError

    missing = [f"{context.where(key)}: {path}: file not found" for key, path in input_paths(recipe, context).items()
               if key not in GROWING_INPUTS and not path.exists()]
    if len(missing) > 1:
        raise RecipeError(missing[0], hint="check the path; relative paths start at the recipe's folder",
                          problems=missing)


def _values_of(node: Any, key: str, kind: type):
    """(dotted key, value) for every ``kind`` value under ``node`` (models, lists and dicts are walked):
    the recipe's paths, its replay backend tables."""
    from pydantic import BaseModel

    if isinstance(node, kind):
        yield key, node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _values_of(getattr(node, name), f"{key}.{name}" if key else name, kind)
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from _values_of(item, f"{key}.{i}", kind)
    elif isinstance(node, dict):
        for name, item in node.items():
            yield from _values_of(item, f"{key}.{name}", kind)


__all__ = ["Limits", "MixPlan", "OutputPlan", "RecipeContext", "RunPlan", "SeedPlan", "build_main_backend",
           "build_run_plan", "collect_target", "input_paths", "seeds_hash", "GROWING_INPUTS"]
