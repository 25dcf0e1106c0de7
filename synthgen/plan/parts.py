"""The run plan's parts that are not steps: seeds, output shape, diversity gate, mix and provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import RecipeError
from ..recipe.schema import step_columns
from .model import MixPlan, OutputPlan, RecipeContext, SeedPlan, seeds_hash
from ..prompts import RequestPlan
from ..provenance import RunContext

TEXT_STEP_TYPES = ("generate", "rewrite", "chat")


def build_seeds(recipe: Any, context: RecipeContext) -> SeedPlan:
    from ..seeds import load_seeds
    from ..seeds.sources import seed_widener

    seeds = load_seeds(recipe.seeds, context)
    requests = RequestPlan(seeds, "", context.seed, recipe.generation.sampling.seed,
                           widen=seed_widener(recipe.seeds, context))
    fields = frozenset().union(*(seed.fields for seed in seeds))
    return SeedPlan(requests, len(seeds), seeds_hash([seed.fields for seed in seeds]), fields)


def main_field(steps: list[Any], context: RecipeContext) -> str:
    """The record's text: the column of the last generate, rewrite or chat step."""
    names = [step.name for step in steps if step.type in TEXT_STEP_TYPES]
    if not names:
        raise RecipeError(f"{context.where('steps')}: no step writes text (generate, rewrite or chat)",
                          hint="add a generate step; sample, template and judge steps only add columns")
    return names[-1]


def build_output(recipe: Any, context: RecipeContext) -> OutputPlan:
    """The dataset format and the columns it reads, checked against the steps."""
    steps, config = recipe.step_configs(), recipe.output
    main = main_field(steps, context)
    columns = tuple(name for step in steps for name in step_columns(step))
    chat = next((s.name for s in steps if s.type == "chat"), None)
    prompt = config.prompt or ("prompt" if recipe.is_shorthand else None)
    text = tuple(name for step in steps if step.type in TEXT_STEP_TYPES + ("template", "preference")
                 for name in step_columns(step)[:1 if step.type == "rewrite" else None])
    plan = OutputPlan(config.format, main, columns, recipe.is_shorthand, prompt, config.completion or main,
                      config.messages or chat, text)
    _check_format(plan, steps, context)
    return plan


def _check_format(plan: OutputPlan, steps: list[Any], context: RecipeContext) -> None:
    where = context.where("output.format")
    if plan.format == "preference" and not any(s.type == "preference" for s in steps):
        raise RecipeError(f"{where}: 'preference' needs a preference step",
                          hint="add [[steps]] type = 'preference' after the scored responses")
    if plan.format == "messages" and plan.messages is None and plan.prompt is None:
        raise RecipeError(f"{where}: 'messages' needs a chat step, or output.prompt naming the user's column",
                          hint="e.g. [output] prompt = 'instruction' (the completion defaults to the last step)")
    if plan.format == "prompt_completion" and plan.prompt is None:
        raise RecipeError(f"{where}: 'prompt_completion' needs output.prompt", hint="e.g. prompt = 'instruction'")


def build_gate_parts(recipe: Any, context: RecipeContext, output: OutputPlan, collect: int) -> tuple[Any, Any, Any, str]:
    """The [diversity] embedder (shared by semantic dedup, the gate and selection), the gate controller,
    the selection settings and the column they measure."""
    config = recipe.diversity
    if config is None:
        return None, None, None, output.main_field
    field = config.field or output.main_field
    embedder = build_embedder(config, context)
    from ..gating import build_gate_controller

    gate = build_gate_controller(config, context, embedder, collect)
    selection = None if config.selection == "first" else (config.selection, context.seed_for(config.seed))
    return embedder, gate, selection, field


def build_embedder(config: Any, context: RecipeContext) -> Any:
    from ..diversity.build import embedder_from_config, reference_texts
    from ..diversity.embed import prepare

    embedder = embedder_from_config(config, context.resolve, context.seed_for(config.seed))
    if config.embedder != "tfidf":
        return embedder
    texts = reference_texts(config, context)
    if not any(text and text.strip() for text in texts):
        raise _no_texts_to_fit(config, context)
    return prepare(embedder, texts)


def _no_texts_to_fit(config: Any, context: RecipeContext) -> RecipeError:
    """The tfidf embedder is fitted on the real reference: unset (or empty), the error names that key."""
    if config.reference is None:
        return RecipeError(f"{context.where('diversity.embedder')}: the tfidf embedder is fitted on real texts, "
                           "and diversity.reference is not set",
                           hint="set diversity.reference to a file of real texts, or use embedder = 'minilm'")
    return RecipeError(f"{context.where('diversity.reference')}: the tfidf embedder is fitted on real texts, and "
                       f"{config.reference} holds none", hint="point it at a file with non-empty texts")


def build_mix(recipe: Any, context: RecipeContext, sampling: Any) -> MixPlan | None:
    """One Mixer, built with every argument the run and validation need (it used to be built twice)."""
    if recipe.mix is None:
        return None
    from ..mix.run import mixer_from_config

    mixer = mixer_from_config(recipe.mix, depth=context.depth, loop_temperature=sampling.temperature,
                              loop_top_p=sampling.top_p, default_seed=context.seed, where=context.where("mix"))
    return MixPlan(mixer, recipe.mix, context)


def run_context(recipe: Any, context: RecipeContext, samplings: dict[str, Any], gated: str) -> RunContext:
    """Facts every record carries. A [prompt] recipe records its one sampling; a steps recipe one per step."""
    if recipe.is_shorthand:
        sampling = samplings[gated].model_dump(mode="json", exclude_none=True)
    else:
        sampling = {name: s.model_dump(mode="json", exclude_none=True) for name, s in samplings.items()}
    return RunContext(generation=context.generation, depth=context.depth, recipe_hash=context.hash,
                      model=model_label(recipe.generation.backend), backend=recipe.generation.backend.type,
                      sampling=sampling)


def model_label(config: Any) -> str:
    """The model name recorded on every row."""
    if config.type == "vllm":
        return "gemma3-270m" if config.model in ("embedded", "gemma3-270m") else config.model
    if config.type == "openai":
        return config.model
    if config.type == "replay":
        return f"replay:{Path(config.path).name}"
    if config.type == "plugin":
        return f"plugin:{config.name}"
    return "scripted"
