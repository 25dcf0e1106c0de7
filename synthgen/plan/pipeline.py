"""The run's pipeline: steps in order, each followed by the stages that check the column it writes.

A verifier, the dedup table and semantic near-duplicates name a ``field`` (default: the record's main
text) and run right after the step that writes it, or after the step named by ``after``: a verifier on
an instruction drops a bad one before a response is paid for. Within one anchor the order is verifiers
(as listed), then dedup, then semantic near-duplicates (which remember what they keep).
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import RecipeError, did_you_mean
from ..pipeline import Stage
from ..recipe.schema import step_columns
from .model import RecipeContext, SeedPlan
from ..prompts import EXAMPLES, check_placeholders, template_fields

FANOUT_TYPES = ("generate", "rewrite")


def build_pipeline(recipe: Any, context: RecipeContext, seeds: SeedPlan, backend: Any, output: Any,
                   embedder: Any, diversity_field: str) -> tuple[list[Stage], dict[str, Any], str]:
    """(pipeline, sampling per LLM step, the step the diversity gate remediates)."""
    from .verify_refs import check_verify_references
    from ..seeds.sources import seeds_key

    steps = recipe.step_configs()
    samplings = step_samplings(recipe, context)
    writers = column_writers(steps, output)
    placed = _placed_stages(recipe, context, writers, output, backend, samplings, embedder, diversity_field,
                            seeds.fields)
    samplings = _constrain_decoding(recipe, context, writers, samplings, output)
    pipeline: list[Stage] = []
    strides = fanout_strides(steps, samplings)
    seeds_where = seeds_key(recipe.seeds)
    for i, step in enumerate(steps):
        _check_references(step, i, steps, seeds.fields, context, recipe.is_shorthand)
        _check_seed_rows(step, i, steps, seeds, seeds_where, context, recipe.is_shorthand)
        if step.type == "preference":
            _check_preference(step, i, steps, samplings, {v.type for v in recipe.verify}, seeds.fields, context)
        pipeline.append(_build_step(step, i, steps, recipe, context, backend, samplings, strides, seeds))
        pipeline += [stage for anchor, stage in placed if anchor == i]
    check_verify_references(recipe, context, writers, seeds.fields, output.main_field)
    return pipeline, samplings, gated_step(steps, writers.get(diversity_field, len(steps) - 1), samplings)


def gated_step(steps: list[Any], index: int, samplings: dict[str, Any]) -> str:
    """The LLM step the diversity gate remediates: the one writing the gated column, or the last before it."""
    for step in reversed(steps[: index + 1]):
        if step.name in samplings:
            return step.name
    return next(iter(samplings), "")


# --- sampling and fan-out ------------------------------------------------------------------------


def step_samplings(recipe: Any, context: RecipeContext) -> dict[str, Any]:
    """Each LLM step's sampling: [generation.sampling] updated with the step's own keys. In a steps recipe
    ``n`` defaults to 1 per step (fan-out is said where it happens, so [generation.sampling] n is refused);
    chat turns get their stop strings."""
    from ..steps.chat import TURN_STOPS

    base = recipe.generation.sampling
    if not recipe.is_shorthand:
        _check_no_run_fanout(base, recipe.step_configs(), context)
    samplings = {}
    for i, step in enumerate(recipe.step_configs()):
        if not hasattr(step, "sampling"):
            continue
        update = step.sampling.model_dump(exclude_none=True)
        if not recipe.is_shorthand:
            update.setdefault("n", 1)
        if step.type == "chat":
            update["stop"] = [*update.get("stop", base.stop), *TURN_STOPS]
        if step.type in ("judge", "chat") and update.get("n", 1) > 1:
            raise RecipeError(f"{context.where(f'steps.{i}.sampling.n')}: a {step.type} step writes one value "
                              "per record", hint="fan out at a generate step instead (n = 4 responses)")
        samplings[step.name] = base.model_copy(update=update)
    return samplings


def _check_no_run_fanout(base: Any, steps: list[Any], context: RecipeContext) -> None:
    """Each step's ``n`` defaults to 1, never to ``[generation.sampling] n``: a run-wide n would fan out at
    every step at once. So in a steps recipe that key is refused, not silently ignored."""
    if base.n == 1:
        return
    fanning = [i for i, s in enumerate(steps) if s.type in FANOUT_TYPES]
    hint = (f"remove it and set steps.<i>.sampling.n on the step that should fan out, e.g. "
            f"steps.{fanning[-1]}.sampling.n = {base.n}" if fanning else "remove it: only generate and rewrite "
            "steps fan out")
    raise RecipeError(f"{context.where('generation.sampling.n')}: a [[steps]] recipe fans out per step, so "
                      f"n = {base.n} here would be ignored", hint=hint)


def fanout_strides(steps: list[Any], samplings: dict[str, Any]) -> list[int]:
    """stride[i] = product of the later fan-out steps' n: child j of step i has index parent + j·stride."""
    ns = [samplings[s.name].n if s.type in FANOUT_TYPES else 1 for s in steps]
    return [math.prod(ns[i + 1:]) for i in range(len(steps))]


def records_per_request(steps: list[Any], samplings: dict[str, Any]) -> int:
    return math.prod(samplings[s.name].n for s in steps if s.type in FANOUT_TYPES)


def backend_rows_per_request(steps: list[Any], samplings: dict[str, Any]) -> int:
    """The most completions of the run's backend one request reads, for a finite backend (a replay file
    serves completion j of a request numbered i from row i·n + j). The first LLM step's requests are
    numbered by request, so it reads its n rows per request (a chat step's later turns, numbered by record,
    read more); a later step's are numbered by record, and a request spans ``records_per_request`` record
    numbers, so it reads that many times its n. Steps with their own backend read their own source."""
    per_request = records_per_request(steps, samplings)
    llm = [step for step in steps if step.name in samplings]
    rows = [samplings[step.name].n * (1 if i == 0 and step.type != "chat" else per_request)
            for i, step in enumerate(llm) if getattr(step, "backend", None) is None]
    return max(rows, default=1)


def column_writers(steps: list[Any], output: Any) -> dict[str, int]:
    """Which step (by position) writes each column."""
    return {column: i for i, step in enumerate(steps) for column in step_columns(step)}


# --- references ----------------------------------------------------------------------------------


COLUMN_KEYS = {"rewrite": ("source",), "judge": ("target", "prompt_field"), "chat": ("first_user",),
               "preference": ("prompt", "response")}


def _check_references(step: Any, i: int, steps: list[Any], seed_fields: frozenset[str], context: RecipeContext,
                      shorthand: bool) -> None:
    """Every placeholder and column a step names must be a seed field or an earlier step's column."""
    available = set(seed_fields) | {c for s in steps[:i] for c in step_columns(s)}
    key = "prompt" if shorthand else f"steps.{i}"
    for attr in ("template", "user_template", "assistant_template"):
        template = getattr(step, attr, None)
        if template:
            check_template_fields(template, available | _template_extras(step, attr), later=steps[i:],
                                  where=context.where(f"{key}.{attr}"))
    _check_few_shot_used(step, key, context)
    for attr in COLUMN_KEYS.get(step.type, ()):
        value = getattr(step, attr)
        if value is not None and value not in available:
            raise unknown_column(value, available, steps[i:], context.where(f"{key}.{attr}"))


def _check_few_shot_used(step: Any, key: str, context: RecipeContext) -> None:
    """A few-shot pool whose template has no ``{examples}`` never reaches the model, yet every record would
    name its examples in ``parent_ids``: a silent no-op, so it is refused."""
    if getattr(step, "few_shot", None) is not None and EXAMPLES not in template_fields(step.template):
        raise RecipeError(f"{context.where(key)}.few_shot: the template has no {{examples}} placeholder, so the "
                          "few-shot examples would never reach the model",
                          hint="put {examples} in the template where the examples go, or remove few_shot")


def _check_seed_rows(step: Any, i: int, steps: list[Any], seeds: SeedPlan, key: str, context: RecipeContext,
                     shorthand: bool) -> None:
    """The reference check sees the union of the seed fields; rendering needs each seed field a template
    uses in every row, with a value (a null would render as the text "None")."""
    written = {c for s in steps[:i] for c in step_columns(s)}
    for attr in ("template", "user_template", "assistant_template"):
        template = getattr(step, attr, None)
        if not template:
            continue
        shadowed = written | _template_extras(step, attr)
        used = [name for name in template_fields(template) if name in seeds.fields and name not in shadowed]
        for seed in seeds.requests.seeds if used else ():
            name = next((name for name in used if seed.fields.get(name) is None), None)
            if name is not None:
                has = f"a null {name!r}" if name in seed.fields else f"no {name!r} field"
                user = f"{'prompt' if shorthand else f'steps.{i}'}.{attr}"
                raise RecipeError(f"{context.where(key)}: row {seed.index + 1} has {has} (used by {user})",
                                  hint=f"give {name!r} a value in every seed row")


def _check_preference(step: Any, i: int, steps: list[Any], samplings: dict[str, Any], verifiers: set[str],
                      seed_fields: frozenset[str], context: RecipeContext) -> None:
    """A preference step needs several responses per prompt and a score for each."""
    _check_pairable(step, i, steps, samplings, context)
    _check_score(step, i, steps, verifiers, seed_fields, context)


def _check_score(step: Any, i: int, steps: list[Any], verifiers: set[str], seed_fields: frozenset[str],
                 context: RecipeContext) -> None:
    """``score`` names a number that differs between the responses of one prompt: a judge step's column, a
    verifier's score, or a sample step with numeric values, written after the responses. A text column
    passed validation and then crashed the run on its first float(); a seed field is one value for every
    response of a prompt, so every group would be a tie."""
    from ..steps.preference import SCORE_MUST_NAME, score_column_problem

    where = context.where(f"steps.{i}.score")
    writer = next((j for j, s in enumerate(steps[:i]) if step.score in step_columns(s)), None)
    if writer is None and step.score in verifiers:
        return
    if writer is None and step.score in seed_fields:
        raise RecipeError(f"{where}: {step.score!r} is a seed field, the same for every response of a prompt, "
                          "so it cannot rank them", hint=SCORE_MUST_NAME)
    if writer is None:
        earlier = {c for s in steps[:i] for c in step_columns(s)}
        raise unknown_column(step.score, earlier | verifiers, steps[i:], where)
    response_index = next(j for j, s in enumerate(steps[:i]) if s.name == step.response)
    if step.score != steps[writer].name:  # a rewrite's operator, an earlier preference step's pair columns
        problem = f"is a text column of {steps[writer].type} step {steps[writer].name!r}, not a score"
    else:
        problem = score_column_problem(steps[writer], writer, response_index)
    if problem is not None:
        raise RecipeError(f"{where}: {step.score!r} {problem}", hint=SCORE_MUST_NAME)


PAIR_HINT = "name the column of a generate or rewrite step whose sampling has n >= 2, e.g. n = 4"


def _check_pairable(step: Any, i: int, steps: list[Any], samplings: dict[str, Any], context: RecipeContext) -> None:
    """``response`` must be the text column of an earlier generate or rewrite step with ``n >= 2``: a seed
    field, another step's column or a one-response step leaves nothing to pair."""
    where = context.where(f"steps.{i}.response")
    writer = next((s for s in steps[:i] if s.name == step.response), None)
    if writer is None:
        other = next((s for s in steps[:i] if step.response in step_columns(s)), None)
        what = "a seed field" if other is None else f"a column of {other.type} step {other.name!r}"
        raise RecipeError(f"{where}: {step.response!r} is {what}, not sampled responses: nothing to pair",
                          hint=PAIR_HINT)
    if writer.type not in FANOUT_TYPES:
        raise RecipeError(f"{where}: {step.response!r} is written by {writer.type} step {writer.name!r}, one value per "
                          "prompt: nothing to pair", hint=PAIR_HINT)
    if samplings[writer.name].n < 2:
        raise RecipeError(f"{where}: {step.response!r} has one response per prompt: nothing to pair",
                          hint=f"set n = 4 in step {writer.name!r}'s sampling")
    _check_no_copies(step, steps[steps.index(writer) + 1:i], samplings, where)


def _check_no_copies(step: Any, between: list[Any], samplings: dict[str, Any], where: str) -> None:
    """A fan-out between the ``response`` step and the preference step copies every response into its
    children, and a preference group spans them all: its best and worst could be one text twice."""
    fans = [s for s in between if s.type in FANOUT_TYPES and samplings[s.name].n > 1]
    if fans:
        raise RecipeError(f"{where}: {step.response!r} is fanned out again by {fans[0].type} step {fans[0].name!r} "
                          f"(n = {samplings[fans[0].name].n}), so each group holds copies of the same response",
                          hint=f"set response = {fans[-1].name!r}, the last step that fans out, or n = 1 in the "
                               f"sampling of {', '.join(repr(s.name) for s in fans)}")


def _template_extras(step: Any, attr: str) -> set[str]:
    extras = {"generate": {EXAMPLES} if getattr(step, "few_shot", None) else set(), "chat": {"history", "turn"},
              "rewrite": {"source_text", "operator", "operator_instruction"},
              "judge": {"text", "prompt", "min_score", "max_score"}}
    return extras.get(step.type, set())


def check_template_fields(template: str, available: set[str], later: set[str], where: str) -> None:
    """Every placeholder must name a seed field or an earlier column; all unknown ones in one error (a line
    each), so a template with two typos does not take two runs of ``synthgen validate``."""
    problems = [unknown_column(name, available, later, where, placeholder=True)
                for name in dict.fromkeys(check_placeholders(template, where)) if name not in available]
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise RecipeError(problems[0].message, hint=problems[-1].hint,
                          problems=[problem.message + (f" ({problem.hint})" if problem.hint else "")
                                    for problem in problems[:-1]] + [problems[-1].message])


def unknown_column(name: str, available: set[str], later: Any, where: str, placeholder: bool = False) -> RecipeError:
    later_names = {getattr(s, "name", s) for s in later}
    shown = f"placeholder {{{name}}}" if placeholder else repr(name)
    if name == EXAMPLES:
        return RecipeError(f"{where}: placeholder {{examples}} needs few-shot examples", hint="add a few_shot table")
    if name in later_names:
        return RecipeError(f"{where}: {shown} is written by a later step", hint="move that step before this one")
    hint = f"{did_you_mean(name, available)}available: {', '.join(sorted(available)) or 'none'}"
    return RecipeError(f"{where}: {shown} is not a seed field or an earlier column", hint=hint)


# --- steps ---------------------------------------------------------------------------------------


def _build_step(step: Any, i: int, steps: list[Any], recipe: Any, context: RecipeContext, backend: Any,
                samplings: dict[str, Any], strides: list[int], seeds: SeedPlan) -> Stage:
    from ..steps import build_step
    from ..steps.base import StepRuntime

    own = getattr(step, "backend", None)
    step_backend = backend
    if own is not None:
        from ..backends import build_backend

        step_backend = build_backend(own, context, key=f"{_key(recipe, i)}.backend")
    llm_steps = [s for s in steps if hasattr(s, "sampling")]
    runtime = StepRuntime(backend=step_backend, sampling=samplings.get(step.name), stride=strides[i],
                          first_llm=bool(llm_steps) and llm_steps[0] is step, recipe_seed=context.seed,
                          sampling_seed=context.seed_for(recipe.generation.sampling.seed),
                          strip=recipe.generation.strip, owns_backend=own is not None,
                          feeds_later=i < len(steps) - 1)
    return build_step(step, runtime, context, steps, samplings, strides, key=_key(recipe, i),
                      few_shot_adjustment=lambda: seeds.requests.few_shot_adjustment())


def _key(recipe: Any, i: int) -> str:
    return "prompt" if recipe.is_shorthand else f"steps.{i}"


# --- stages placed after steps -------------------------------------------------------------------


def anchor_step(field: str, after: str | None, writers: dict[str, int], steps: list[Any], where: str,
            seed_fields: frozenset[str] = frozenset()) -> int:
    if field not in writers:
        raise _not_generated(field, set(writers), seed_fields, f"{where}.field")
    anchor = writers[field]
    if after is not None:
        names = [s.name for s in steps]
        if after not in names:
            raise unknown_column(after, set(names), [], f"{where}.after")
        if names.index(after) < anchor:
            raise RecipeError(f"{where}.after: step {after!r} runs before {field!r} is written",
                              hint=f"name a step at or after {steps[anchor].name!r}")
        anchor = names.index(after)
    return anchor


def _not_generated(name: str, columns: set[str], seed_fields: frozenset[str], where: str) -> RecipeError:
    """A checked ``field`` must be a column a step writes: a seed field is input, the same for every
    candidate of its seed, so checking it after generation would only spend the budget."""
    listed = ", ".join(sorted(columns)) or "none"
    if name in seed_fields:
        return RecipeError(f"{where}: {name!r} is a seed field, not a generated column: checks here run on "
                           "what a step writes", hint=f"generated columns: {listed}; filter seed rows at their source")
    hint = f"{did_you_mean(name, columns)}generated columns: {listed}"
    return RecipeError(f"{where}: {name!r} is not a generated column", hint=hint)


def _placed_stages(recipe: Any, context: RecipeContext, writers: dict[str, int], output: Any, backend: Any,
                   samplings: dict[str, Any], embedder: Any, diversity_field: str,
                   seed_fields: frozenset[str] = frozenset()) -> list[tuple[int, Stage]]:
    steps = recipe.step_configs()
    placed = _verify_stages(recipe, context, writers, output, backend, samplings, seed_fields)
    if recipe.dedup is not None:
        from ..dedup import build_dedup_stages

        field = recipe.dedup.field or output.main_field
        anchor = anchor_step(field, recipe.dedup.after, writers, steps, context.where("dedup"), seed_fields)
        placed += [(anchor, _with_field(s, field)) for s in build_dedup_stages(recipe.dedup, context)]
    if recipe.diversity is not None:
        from ..diversity.build import build_diversity_stages

        anchor = anchor_step(diversity_field, None, writers, steps, context.where("diversity"), seed_fields)
        placed += [(anchor, _with_field(s, diversity_field))
                   for s in build_diversity_stages(recipe.diversity, context, embedder)]
    return placed


def _verify_stages(recipe: Any, context: RecipeContext, writers: dict[str, int], output: Any, backend: Any,
                   samplings: dict[str, Any], seed_fields: frozenset[str] = frozenset()) -> list[tuple[int, Stage]]:
    from ..verify import VerifyContext, build_verify_stages

    steps, placed, seen = recipe.step_configs(), [], {}
    for i, config in enumerate(recipe.verify):
        where = context.where(f"verify.{i}")
        field = getattr(config, "field", None) or output.main_field
        anchor = anchor_step(field, getattr(config, "after", None), writers, steps, where, seed_fields)
        n = samplings[steps[writers[field]].name].n if steps[writers[field]].name in samplings else 1
        verify_context = VerifyContext(context.source, context.resolve, backend, n)
        (stage,) = build_verify_stages([config], verify_context, index=i)
        seen[config.type] = seen.get(config.type, 0) + 1
        if seen[config.type] > 1:
            stage.name = stage.stats.name = f"{config.type}_{seen[config.type]}"
        placed.append((anchor, _with_field(stage, field)))
    return placed


def _with_field(stage: Stage, field: str) -> Stage:
    stage.field = None if field == "text" else field
    return stage


def _constrain_decoding(recipe: Any, context: RecipeContext, writers: dict[str, int], samplings: dict[str, Any],
                        output: Any) -> dict[str, Any]:
    """A json verifier with ``constrain = true`` constrains the step that writes its field."""
    from ..verify import VerifyContext, load_schema

    steps = recipe.step_configs()
    constrained_by = {step: "generation.sampling.json_schema" for step, sampling in samplings.items()
                      if sampling.json_schema is not None}
    for i, config in enumerate(recipe.verify):
        if config.type == "json" and config.constrain:
            step = steps[writers[config.field or output.main_field]].name
            schema = load_schema(config, VerifyContext(context.source, context.resolve), context.where(f"verify.{i}"))
            _check_one_constraint(samplings.get(step), step, context.where(f"verify.{i}.constrain"))
            if step in samplings and samplings[step].json_schema is None:
                samplings = {**samplings, step: samplings[step].model_copy(update={"json_schema": schema})}
                constrained_by[step] = f"verify.{i}.constrain"
    _check_json_stops(recipe, context, samplings, constrained_by)
    return samplings


def _check_json_stops(recipe: Any, context: RecipeContext, samplings: dict[str, Any],
                      constrained_by: dict[str, str]) -> None:
    """Under JSON-constrained decoding a stop string that JSON text can contain cuts valid JSON short: the
    decoder may put a newline between any two tokens as JSON whitespace, and ``stop = ["\\n"]`` then ends
    the reply at ``{``. Refused rather than warned about: the stop string is never needed there (the
    constraint ends the reply when the JSON value is complete), and when it fires the candidate is lost
    as ``invalid_json`` after it was paid for. Stop strings JSON cannot hold (``"\\n#"``) are kept, so one
    recipe can run with and without the constraint."""
    from ..verify.structured import json_can_contain

    for i, step in enumerate(recipe.step_configs()):
        sampling = samplings.get(step.name)
        if step.type == "judge" or step.name not in constrained_by or sampling is None:  # a judge decodes a score
            continue
        stop = next((stop for stop in sampling.stop if json_can_contain(stop)), None)
        if stop is not None:
            own = getattr(getattr(step, "sampling", None), "stop", None) is not None and not recipe.is_shorthand
            key = f"steps.{i}.sampling.stop" if own else "generation.sampling.stop"
            found = "as whitespace between tokens" if any(c in stop for c in "\t\n\r") else "inside a string"
            what = "the completions'" if recipe.is_shorthand else f"step {step.name!r}'s"
            raise RecipeError(f"{context.where(key)}: stop string {stop!r} can occur in JSON text ({found}), so it "
                              f"would cut {what} JSON short under constrained decoding ({constrained_by[step.name]})",
                              hint="remove it: the constraint ends the reply when the JSON value is complete; a stop "
                                   "string JSON cannot hold (e.g. \"\\n#\") may stay")


def _check_one_constraint(sampling: Any, step: str, where: str) -> None:
    """``constrain = true`` sets a step's JSON Schema; a regex or choice already there would make two."""
    other = next((key for key in ("regex", "choice") if getattr(sampling, key, None) is not None), None)
    if other is not None:
        raise RecipeError(f"{where}: step {step!r} already decodes under [generation.sampling] {other}, and "
                          "decoding takes one constraint", hint=f"remove {other}, or set constrain = false")
