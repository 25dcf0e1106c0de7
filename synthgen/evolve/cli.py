"""``synthgen evolve RECIPE --generations K``."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli_errors import reports_errors


@click.command("evolve")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--generations", type=click.IntRange(min=1), help="Generations to run (default: [evolve] generations).")
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), help="Project directory.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe value.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--verbose", is_flag=True, help="Show library logs (vLLM, torch, ...) here, not in PROJECT/logs/.")
@reports_errors
def evolve_command(recipe: Path, generations: int | None, project: Path | None, overrides: tuple[str, ...],
                   quiet: bool, verbose: bool) -> None:
    """Run RECIPE generation after generation; stop when held-out real measures degrade."""
    from ..console import quiet_console
    from ..lineage import LEDGER_FILE
    from .loop import evolve

    with quiet_console(project_dir(recipe, overrides, project), verbose=verbose, marker=LEDGER_FILE):
        result = evolve(recipe, generations=generations, project=project, overrides=overrides, progress=not quiet)
    for g in result.generations:
        measures = ", ".join(f"{k}={v:.3f}" if v is not None else f"{k}=-" for k, v in g["measures"].items())
        click.echo(f"{g['id']}: {g['kept']} records, {measures}")
    click.echo(f"stopped: {result.stop_reason}" if result.stop_reason else "all generations ran")
    note = unjudged_note(result.generations)
    if note:
        click.echo(note)
    click.echo(f"best generation: {result.best}; report: {result.project / 'report.md'}")


def unjudged_note(generations: list[dict]) -> str | None:
    """The measures the stop rule left out because their noise floor could not be measured."""
    names = list(dict.fromkeys(name for g in generations for name in g.get("unjudged") or []))
    if not names:
        return None
    return (f"note: the stop rule did not judge {', '.join(names)}: real data's noise floor could not be "
            "measured at this sample size (n/a in report.md)")


def project_dir(recipe: Path, overrides: tuple[str, ...], project: Path | None) -> Path:
    """The project folder ``evolve`` will use (``Evolution._default_project``'s rule), for its logs."""
    from ..recipe import load_recipe

    if project is not None:
        return Path(project).resolve()
    loaded = load_recipe(recipe, list(overrides))
    configured = loaded.recipe.evolve.project_dir if loaded.recipe.evolve else None
    if configured:
        return loaded.resolve(configured)
    return loaded.base_dir / "runs" / f"{loaded.recipe.recipe.name}-evolve"
