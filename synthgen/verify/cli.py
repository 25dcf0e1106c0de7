"""Verification commands, as standalone click commands registered by ``synthgen.cli``.

``judge_eval`` (``synthgen judge-eval RECIPE LABELS``): agreement, precision and recall of a recipe's
judge verifier against a labelled file; with ``--step NAME``, how well a judge step's scores rank the
labelled texts (AUC) and agree with them at a threshold (:mod:`.score_eval`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..cli_errors import reports_errors
from ..errors import RecipeError


def pick_judge(loaded: Any, index: int | None) -> tuple[int, Any]:
    """The [[verify]] judge table to evaluate: ``index`` if given, else the first judge."""
    configs = loaded.recipe.verify
    if index is not None:
        if not 0 <= index < len(configs) or configs[index].type != "judge":
            raise RecipeError(f"{loaded.source}:verify.{index}: not a judge table",
                              hint=f"judges are at {[i for i, c in enumerate(configs) if c.type == 'judge']}")
        return index, configs[index]
    for i, config in enumerate(configs):
        if config.type == "judge":
            return i, config
    raise RecipeError(f"{loaded.source}: the recipe has no [[verify]] table with type = 'judge'",
                      hint="add one, e.g. [[verify]] type = 'judge' threshold = 7")


def _render(result: dict[str, Any], where: str) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    lines = [f"judge {where} on {result['n']} labelled texts",
             f"  agreement  {pct(result['agreement'])}",
             f"  precision  {pct(result['precision'])}   (of kept texts, share labelled good)",
             f"  recall     {pct(result['recall'])}   (of good texts, share kept)",
             f"  confusion  tp={result['tp']} fp={result['fp']} tn={result['tn']} fn={result['fn']}",
             f"  unparseable replies: {result['unparseable']}"]
    return "\n".join(lines)


def pick_judge_step(loaded: Any, name: str) -> Any:
    """The ``judge`` step called ``name``."""
    judges = [step.name for step in loaded.recipe.steps or [] if step.type == "judge"]
    if name not in judges:
        raise RecipeError(f"{loaded.source}:steps: no judge step named {name!r}",
                          hint=f"judge steps: {', '.join(judges)}" if judges else
                          "the recipe has no [[steps]] type = 'judge'; use --verifier for a [[verify]] judge")
    return next(step for step in loaded.recipe.steps if step.name == name)


def _render_scores(result: dict[str, Any], where: str) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:g}"

    auc = "-" if result["auc"] is None else f"{result['auc']:.3f}"
    return "\n".join([
        f"judge {where} on {result['n']} labelled texts ({result['scored']} scored)",
        f"  AUC        {auc}   (chance a good text scores above a bad one; 0.5 = a coin)",
        f"  mean score {num(result['mean_score_good'])} good, {num(result['mean_score_bad'])} bad",
        f"  at score >= {num(result['threshold'])} ({result['threshold_chosen']}): agreement {pct(result['agreement'])}, "
        f"precision {pct(result['precision'])}, recall {pct(result['recall'])}",
        f"  confusion  tp={result['tp']} fp={result['fp']} tn={result['tn']} fn={result['fn']}",
        f"  unparseable replies: {result['unparseable']}"])


@click.command("judge-eval")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("labels", type=click.Path(path_type=Path))
@click.option("--verifier", "index", type=click.IntRange(min=0), help="Index of the [[verify]] judge (default: first).")
@click.option("--step", "step_name", metavar="NAME", help="Evaluate the judge *step* NAME (a scorer): AUC, mean "
              "score per label, agreement at a threshold.")
@click.option("--threshold", type=float, help="With --step: keep at score >= this (default: the best-agreeing).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe value (repeatable).")
@click.option("--text-field", default="text", show_default=True, help="Column holding the text to judge.")
@click.option("--label-field", default="label", show_default=True, help="Column holding the human label.")
@click.option("--limit", type=click.IntRange(min=1), help="Judge only the first N rows.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--verbose", is_flag=True, help="Show library logs (vLLM, torch, ...) here.")
@reports_errors
def judge_eval(recipe: Path, labels: Path, index: int | None, step_name: str | None, threshold: float | None,
               overrides: tuple[str, ...], text_field: str, label_field: str, limit: int | None, batch_size: int,
               as_json: bool, verbose: bool) -> None:
    """Agreement, precision and recall of RECIPE's LLM judge against LABELS (columns text, label)."""
    import tempfile

    from ..console import quiet_console
    from ..recipe import load_recipe
    from ..tabular import read_rows

    loaded = load_recipe(recipe, list(overrides))
    if step_name is not None and index is not None:
        raise click.UsageError("give --verifier or --step, not both")
    if step_name is None and threshold is not None:
        raise click.UsageError("--threshold goes with --step (a [[verify]] judge has its own threshold)")
    judge = pick_judge_step(loaded, step_name) if step_name is not None else pick_judge(loaded, index)
    rows = read_rows(labels, limit=limit)
    with quiet_console(Path(tempfile.mkdtemp(prefix="synthgen-judge-eval-")), verbose=verbose):
        if step_name is not None:
            result = _evaluate_step(loaded, judge, rows, text_field, label_field, batch_size,
                                    str(labels)).to_dict(threshold)
        else:
            result = _evaluate_verifier(loaded, *judge, rows, text_field, label_field, batch_size, str(labels))
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(_render_scores(result, f"step {step_name!r}") if step_name else _render(result, f"verify.{judge[0]}"))


def _evaluate_verifier(loaded: Any, position: int, config: Any, rows: list[dict[str, Any]], text_field: str,
                       label_field: str, batch_size: int, source: str) -> dict[str, Any]:
    from .judge_eval import evaluate_judge

    verifier = _build_judge(loaded, config, position)
    try:
        return evaluate_judge(verifier, rows, text_field=text_field, label_field=label_field,
                              batch_size=batch_size, source=source).to_dict()
    finally:
        verifier.backend.close()


def _evaluate_step(loaded: Any, step: Any, rows: list[dict[str, Any]], text_field: str, label_field: str,
                   batch_size: int, source: str) -> Any:
    """Score ``rows`` with the judge step as the run builds it (its sampling, rubric and backend)."""
    from ..api import load_backend
    from ..plan import build_run_plan
    from ..steps.judge import JudgeStage
    from .score_eval import evaluate_scores

    plan = build_run_plan(loaded)
    try:
        stage = next(s for s in plan.pipeline if isinstance(s, JudgeStage) and s.name == step.name)
        if not stage.runtime.owns_backend:
            load_backend(plan.backend, plan.context)
        return evaluate_scores(stage, rows, text_field=text_field, label_field=label_field, batch_size=batch_size,
                               source=source)
    finally:
        plan.close()
        plan.backend.close()


def _build_judge(loaded: Any, config: Any, position: int) -> Any:
    """The judge verifier, on its own backend or a fresh one for the recipe's generator model."""
    from . import VerifyContext, build_verifier

    shared = None
    if config.backend is None:
        from ..plan import RecipeContext, build_main_backend

        shared = build_main_backend(loaded.recipe, RecipeContext.from_loaded(loaded))
    return build_verifier(config, VerifyContext.of(loaded, shared), f"{loaded.source}:verify.{position}")


__all__ = ["judge_eval", "pick_judge", "pick_judge_step"]
