"""Plan-time checks of the inputs the run reads or writes after generation: ``[output]`` columns, the
``[mix]`` real data and strategy fields, the ``[diversity]`` reference / previous data and the ``[dedup]``
history. Each used to surface only after the whole generation ran (or as a data tool's message naming no
recipe key); here it is one ``file:key: message`` line from ``synthgen validate`` / :func:`build_run_plan`,
before a candidate is paid for.

The data tools' own readers do the reading (their messages are kept); this module adds the location.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from ..errors import RecipeError, SynthgenError, did_you_mean
from .model import OutputPlan, RecipeContext
from .verify_refs import verifier_columns


@contextmanager
def located(where: str) -> Iterator[None]:
    """Re-raise a data tool's SynthgenError as a RecipeError prefixed with the recipe ``file:key``."""
    try:
        yield
    except RecipeError:
        raise
    except SynthgenError as exc:
        raise RecipeError(f"{where}: {exc.message}", hint=exc.hint) from None


# --- [output] --------------------------------------------------------------------------------------


def check_output_columns(recipe: Any, context: RecipeContext, output: OutputPlan,
                         seed_fields: frozenset[str]) -> None:
    """``output.prompt`` / ``completion`` must name a step column or a seed field (formats read a missing
    one as None and every row would say 'None'); ``output.messages`` must name a chat step's column."""
    from .parts import step_columns

    steps = recipe.step_configs()
    columns = {c for step in steps for c in step_columns(step)} | set(seed_fields)
    columns |= {"prompt", "text"} if recipe.is_shorthand else set()
    added = verifier_columns(recipe.verify)
    if added is not None:
        for key in ("prompt", "completion"):
            name = getattr(output, key)
            if name is not None and name not in columns | added:
                raise _not_a_column(name, columns | added, context.where(f"output.{key}"), "columns")
    chats = {step.name for step in steps if step.type == "chat"}
    if output.messages is not None and output.messages not in chats:
        raise _not_a_column(output.messages, chats, context.where("output.messages"), "chat steps",
                            what="a chat step's conversation")


def _not_a_column(name: str, available: set[str], where: str, label: str, what: str = "a column") -> RecipeError:
    listed = ", ".join(sorted(available)) or "none"
    return RecipeError(f"{where}: {name!r} is not {what}", hint=f"{did_you_mean(name, available)}{label}: {listed}")


# --- [mix] -----------------------------------------------------------------------------------------


def check_mix_inputs(recipe: Any, context: RecipeContext, output: OutputPlan, seed_fields: frozenset[str],
                     pipeline: list[Any]) -> None:
    """The real data opens and has its text column; a strategy's field is a column the run writes (for
    ``best_score`` also a key of the ``scores`` column: a verifier stage's name)."""
    config = recipe.mix
    if config is None:
        return
    stage_names = {stage.name for stage in pipeline} - {step.name for step in recipe.step_configs()}
    _check_real(config, context)
    columns = written_columns(recipe, output, seed_fields)
    if columns is None:
        return
    if config.strategy == "stratified":
        _check_strategy_field(config.stratify_by, columns, set(), context.where("mix.stratify_by"))
    if config.strategy == "best_score":
        _check_strategy_field(config.score_field, columns, stage_names, context.where("mix.score_field"))


def _check_real(config: Any, context: RecipeContext) -> None:
    """Read the real data as the mixer will (its reader and its text-column check)."""
    from ..mix.fields import check_text_field
    from ..tabular import read_rows

    with located(context.where("mix.real")):
        rows = read_rows(context.resolve(config.real), split=config.split)
    _check_real_rows(rows, config, context)
    key = "mix.real" if config.text_field == "text" else "mix.text_field"
    with located(f"{context.where(key)} ({config.real})"):
        check_text_field(rows, config.text_field, "real")
    if config.measure_share:
        _check_measure_inputs(config, context, rows)


def _check_measure_inputs(config: Any, context: RecipeContext, real_rows: list[dict[str, Any]]) -> None:
    """``measure_share`` has real text to measure on, split as the mixer will split it (usable texts only;
    a validation text that is also a real one is not fitted on): checked before generation."""
    from ..mix.measured import ShareMeasure, split_for_measure

    key = "mix.validation" if config.validation is not None else "mix.validation_share"
    try:
        measured_texts(config, context, real_rows)
    except SynthgenError as exc:
        where = f"{context.where(key)} ({config.validation})" if config.validation is not None else context.where(key)
        raise RecipeError(f"{where}: {exc.message}", hint=exc.hint) from None


def measured_texts(config: Any, context: RecipeContext, real_rows: list[dict[str, Any]]) -> list[str]:
    """The held-out texts the mixer will measure the share on (``split_for_measure``, as the mixer calls it:
    rows of the real data tagged ``source = synthetic`` are not real text)."""
    from ..mix.base import SOURCE_SYNTHETIC, real_texts_of
    from ..mix.measured import ShareMeasure, split_for_measure

    real = [row for row in real_rows if row.get("source") != SOURCE_SYNTHETIC]
    seed = context.seed if config.seed is None else config.seed
    settings = ShareMeasure(config.max_perplexity_rise, config.validation_share)
    return split_for_measure(real_texts_of(real, config.text_field), _validation_texts(config, context), settings,
                             seed)[1]


def _validation_texts(config: Any, context: RecipeContext) -> list[str] | None:
    """The texts of ``mix.validation`` (None when it is not set), read as the mixer reads them."""
    from ..mix.base import real_texts_of
    from ..mix.fields import check_text_field
    from ..tabular import read_rows

    if config.validation is None:
        return None
    with located(context.where("mix.validation")):
        rows = read_rows(context.resolve(config.validation))
    with located(f"{context.where('mix.validation')} ({config.validation})"):
        check_text_field(rows, config.text_field, "validation")
    return real_texts_of(rows, config.text_field)


def measure_share_warning(recipe: Any, context: RecipeContext, few_shot_texts: set[str]) -> str | None:
    """A warning when the text the share is measured on is also few-shot text: the generator saw it, so
    its output looks better than real data there and no harm can be measured."""
    config = recipe.mix
    if config is None or not config.measure_share or not few_shot_texts:
        return None
    from ..mix.measured import text_key
    from ..tabular import read_rows

    held = measured_texts(config, context, read_rows(context.resolve(config.real), split=config.split))
    seen = {text_key(t) for t in few_shot_texts}
    shared = sum(text_key(t) in seen for t in held)
    if not shared:
        return None
    key = "mix.validation" if config.validation is not None else "mix.real"
    how = "" if config.validation is not None else " (the part mix.validation_share holds out)"
    return (f"{context.where(key)}: {shared} of the {len(held)} texts the share is measured on{how} are few-shot "
            "examples the generator sees in its prompts: its output looks closer to real data on them than it is, "
            "which makes the measured share too generous in proportion; measure on real rows that are neither "
            "few-shot examples nor seeds (mix.validation)")


def _check_real_rows(rows: list[dict[str, Any]], config: Any, context: RecipeContext) -> None:
    """Real data with no real row admits no synthetic row under a cap below 1 (the mixer would refuse it
    after the whole generation): refused here, unless the cap is 1 (synthetic data alone, by override)."""
    from ..mix.base import SOURCE_SYNTHETIC
    from ..mix.caps import CAP_KEY, OVERRIDE_KEY

    if (config.max_synthetic_share or 0.0) >= 1.0 or any(row.get("source") != SOURCE_SYNTHETIC for row in rows):
        return
    what = "has no rows" if not rows else f"has no real rows (all {len(rows)} are tagged source='synthetic')"
    raise RecipeError(f"{context.where('mix.real')} ({config.real}): the real data {what}, so the synthetic-share "
                      "cap admits no synthetic row: real data is kept and accumulated, never replaced",
                      hint=f"point mix.real at real data with rows; to ship synthetic data alone set {CAP_KEY} = 1 "
                           f"with {OVERRIDE_KEY}")


def written_columns(recipe: Any, output: OutputPlan, seed_fields: frozenset[str]) -> set[str] | None:
    """The columns of the run's ``data.parquet`` (what the mixer reads); None when a verifier may add any."""
    from ..formats import FORMAT_COLUMNS, PREFERENCE_EXTRAS
    from ..recipe.schema import RESERVED_COLUMNS

    added = verifier_columns(recipe.verify)
    if added is None:
        return None
    steps = set(output.columns) | added
    if output.format == "raw":
        shaped = steps | ({"text", "prompt"} if output.shorthand else set())
    else:
        extras = set(PREFERENCE_EXTRAS) if output.format == "preference" else set()
        shaped = set(FORMAT_COLUMNS[output.format]) | extras | (steps - set(output.text_columns))
    return shaped | set(RESERVED_COLUMNS) | {f"seed_{name}" for name in seed_fields}


def _check_strategy_field(name: str, columns: set[str], scores: set[str], where: str) -> None:
    """``name`` must be a column of the run's data or (``best_score``) a key of its ``scores`` column; the
    hint lists the columns the recipe adds (seed fields, steps, verifiers), not the provenance ones."""
    from ..mix.fields import seed_prefix_hint
    from ..recipe.schema import RESERVED_COLUMNS

    if name in columns or name in scores:
        return
    seed_hint = seed_prefix_hint(name, columns)
    if seed_hint:
        raise RecipeError(f"{where}: {name!r} is not a column of the run's data", hint=seed_hint)
    listed = ", ".join(sorted(columns - set(RESERVED_COLUMNS))) or "none"
    hint = f"{did_you_mean(name, columns | scores)}columns: {listed}"
    if scores or where.endswith("score_field"):
        hint += f"; scores keys: {', '.join(sorted(scores)) or 'none'}"
    raise RecipeError(f"{where}: {name!r} is not a column of the run's data", hint=hint)


# --- [diversity] and [dedup] inputs -----------------------------------------------------------------


def check_data_inputs(recipe: Any, context: RecipeContext) -> None:
    """Open the diversity reference / previous data and the dedup history with their readers, so a
    missing file or column is reported with its recipe key."""
    diversity = recipe.diversity
    if diversity is not None:
        from ..diversity.build import previous_texts, reference_texts

        with located(context.where("diversity.reference")):
            reference_texts(diversity, context)
        with located(context.where("diversity.previous")):
            previous_texts(diversity, context)
    if recipe.dedup is not None and recipe.dedup.history is not None:
        with located(context.where("dedup.history")):
            _open_history(recipe.dedup, context)


def _open_history(config: Any, context: RecipeContext) -> None:
    from ..dedup.build import open_history, params_from_config
    from ..dedup.deduplicator import Deduplicator

    engine = Deduplicator(params_from_config(config))
    index = open_history(config, context, engine.bands_, engine.rows_)
    client = getattr(index, "client", None)
    if client is not None and hasattr(client, "close"):
        client.close()


# --- warnings: a recipe that runs, but not as meant ---------------------------------------------------


def gate_budget_warning(recipe: Any, context: RecipeContext, fan_out: int = 1) -> str | None:
    """A warning when the candidate budget cannot make the records of the quality gate's smallest window
    (:func:`~synthgen.gating.gate_min_records`): the window never fills, so the run cannot pass its first
    gate check. ``fan_out``: the most records one candidate can become (later steps' ``n``)."""
    from ..gating import gate_min_records

    least, gen = gate_min_records(recipe.diversity), recipe.generation
    most = gen.candidate_budget * fan_out
    if least <= most:
        return None
    binding = "gate.min_samples" if least == recipe.diversity.gate.min_samples else "fidelity.min_records"
    key = f"diversity.{binding}"
    budget = gen.max_candidates if gen.max_candidates is not None else f"unset: 4 × target = {gen.candidate_budget}"
    room = f"generation.max_candidates ({budget})"
    if fan_out > 1:
        room = f"the {most} records {room} can make ({fan_out} per candidate)"
    return (f"{context.where(key)} ({least}) is above {room}: the gate's first window can never fill, so the run "
            f"cannot pass its first gate check; raise generation.max_candidates to at least "
            f"{-(-least // fan_out)} or lower {key}")
