"""Verification commands, as standalone click commands registered by ``synthgen.cli``.

``judge_eval`` (``synthgen judge-eval RECIPE LABELS``): agreement, precision and recall of a recipe's
judge against a labelled file.
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


@click.command("judge-eval")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("labels", type=click.Path(path_type=Path))
@click.option("--verifier", "index", type=click.IntRange(min=0), help="Index of the [[verify]] judge (default: first).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe value (repeatable).")
@click.option("--text-field", default="text", show_default=True, help="Column holding the text to judge.")
@click.option("--label-field", default="label", show_default=True, help="Column holding the human label.")
@click.option("--limit", type=click.IntRange(min=1), help="Judge only the first N rows.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@reports_errors
def judge_eval(recipe: Path, labels: Path, index: int | None, overrides: tuple[str, ...], text_field: str,
               label_field: str, limit: int | None, batch_size: int, as_json: bool) -> None:
    """Agreement, precision and recall of RECIPE's LLM judge against LABELS (columns text, label)."""
    from ..recipe import load_recipe
    from ..tabular import read_rows
    from .judge_eval import evaluate_judge

    loaded = load_recipe(recipe, list(overrides))
    position, config = pick_judge(loaded, index)
    rows = read_rows(labels, limit=limit)
    verifier = _build_judge(loaded, config, position)
    try:
        result = evaluate_judge(verifier, rows, text_field=text_field, label_field=label_field,
                                batch_size=batch_size, source=str(labels)).to_dict()
    finally:
        verifier.backend.close()
    click.echo(json.dumps(result, indent=2) if as_json else _render(result, f"verify.{position}"))


def _build_judge(loaded: Any, config: Any, position: int) -> Any:
    """The judge verifier, on its own backend or a fresh one for the recipe's generator model."""
    from . import VerifyContext, build_verifier

    shared = None
    if config.backend is None:
        from ..plan import RecipeContext, build_main_backend

        shared = build_main_backend(loaded.recipe, RecipeContext.from_loaded(loaded))
    return build_verifier(config, VerifyContext.of(loaded, shared), f"{loaded.source}:verify.{position}")


__all__ = ["judge_eval", "pick_judge"]
