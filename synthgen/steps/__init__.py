"""Steps: each adds columns to the records of a batch (see :mod:`synthgen.steps.base`).

``build_step`` turns one validated ``[[steps]]`` table into its stage; the run plan
(:mod:`synthgen.plan.pipeline`) decides the order, the samplings and the fan-out strides.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import RecipeError, SynthgenError, did_you_mean
from .base import StepRuntime, StepStage


def build_step(step: Any, runtime: StepRuntime, context: Any, steps: list[Any], samplings: dict[str, Any],
               strides: list[int], key: str, few_shot_adjustment: Callable[[], tuple[int, int]] | None = None
               ) -> StepStage:
    if step.type == "generate":
        from .generate import GenerateStage

        return GenerateStage(step, runtime, load_few_shot(step.few_shot, context, f"{key}.few_shot"),
                             few_shot_adjustment)
    if step.type == "chat":
        from .chat import ChatStage

        user = runtime.sampling.model_copy(update=step.user_sampling.model_dump(exclude_none=True))
        return ChatStage(step, runtime, user)
    if step.type == "rewrite":
        from .rewrite import RewriteStage

        return RewriteStage(step, runtime)
    if step.type == "judge":
        from .judge import JudgeStage

        return JudgeStage(step, runtime)
    if step.type == "preference":
        from .preference import PreferenceStage

        writer = next(i for i, s in enumerate(steps) if s.name == step.response)
        return PreferenceStage(step, runtime, samplings[steps[writer].name].n * strides[writer])
    from .simple import SampleStage, TemplateStage

    return SampleStage(step, runtime) if step.type == "sample" else TemplateStage(step, runtime)


def load_few_shot(config: Any, context: Any, where: str) -> Any:
    """Real examples rotated into ``{examples}``; a missing file or column names the recipe key."""
    if config is None:
        return None
    from ..prompts import FewShotPool
    from ..tabular import decode_binary, read_rows

    path = context.resolve(config.path)
    try:
        rows = decode_binary(read_rows(path), path)
    except SynthgenError as exc:
        raise RecipeError(f"{context.where(where)}.path: {exc.message}", hint=exc.hint) from None
    if not rows:
        raise RecipeError(f"{context.where(where)}.path: {path} has no rows", hint="add real examples")
    if any(config.field not in row for row in rows):
        raise RecipeError(f"{context.where(where)}.field: some rows have no {config.field!r} column",
                          hint=f"columns are: {', '.join(sorted(rows[0]))}")
    _check_few_shot_texts(rows, config.field, path, context.where(f"{where}.field"))
    _check_few_shot_format(config.format, rows, context.where(f"{where}.format"))
    return FewShotPool(rows, config.k, config.field, config.format, config.separator)


def _check_few_shot_texts(rows: list[dict[str, Any]], field: str, path: Any, where: str) -> None:
    """Every example is a non-blank string: a null would put the word None into prompts, a number its
    digits, and a blank string an empty example."""
    from ..tabular import a_value

    for number, row in enumerate(rows, 1):
        value = row[field]
        if isinstance(value, str) and value.strip():
            continue
        kind = "null" if value is None else "blank" if isinstance(value, str) else \
            f"{a_value(value)}, not text"
        raise RecipeError(f"{where}: {path}: row {number}: {field!r} is {kind}",
                          hint=f"give every example a non-blank text in {field!r}, or remove that row")


def _check_few_shot_format(template: str, rows: list[dict[str, Any]], where: str) -> None:
    """``format`` is filled from each example row (``{text}`` is always the example field); a column it
    names must be in every row, with a value (a null would render as the text "None")."""
    from ..prompts import check_placeholders

    for name in check_placeholders(template, where):
        if name != "text" and any(name not in row for row in rows):
            columns = sorted({"text", *(column for row in rows for column in row)})
            hint = f"{did_you_mean(name, columns, show='{{{}}}'.format)}columns: {', '.join(columns)}"
            raise RecipeError(f"{where}: placeholder {{{name}}} is not a column of every few-shot row", hint=hint)
        null = next((i for i, row in enumerate(rows, 1) if name != "text" and row[name] is None), None)
        if null is not None:
            raise RecipeError(f"{where}: placeholder {{{name}}} is null in few-shot row {null}",
                              hint=f"give {name!r} a value in every row, or leave it out of the format")


__all__ = ["StepRuntime", "StepStage", "build_step", "load_few_shot"]
