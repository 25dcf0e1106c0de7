"""The ``synthgen`` command: a thin click adapter over the library.

Every command reports errors through :func:`synthgen.cli_errors.reports_errors`: SynthgenError becomes
``Error: …`` and exit 1 (3 for a failed quality gate); usage errors exit 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

import click

from .cli_errors import CommandError, reports_errors  # noqa: F401 - CommandError re-exported for callers

RESUME_HINT = "Interrupted: finished batches are checkpointed; run the same command to resume."


COMPONENT_COMMANDS = {  # commands that live with their component, imported when first used
    "dedup": "synthgen.dedup.cli:dedup_command", "metrics": "synthgen.diversity.cli:metrics_command",
    "mix": "synthgen.mix.cli:mix_command", "lineage": "synthgen.lineage.cli:lineage_command",
    "evolve": "synthgen.evolve.cli:evolve_command", "judge-eval": "synthgen.verify.cli:judge_eval",
    "report": "synthgen.report.cli:report_command", "publish": "synthgen.publish.cli:publish_command",
}


class LazyGroup(click.Group):
    """A group whose component commands are imported only when named (``synthgen generate`` no longer
    imports dedup, evolve and pandas first: about 0.4 s of every start); ``--help`` still lists them all."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMPONENT_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMPONENT_COMMANDS and name not in self.commands:
            import importlib

            module, attribute = COMPONENT_COMMANDS[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="synthgen")
def cli() -> None:
    """Generate synthetic training data that must earn its way into a training set."""


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe value (repeatable).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Run directory (default: [output] dir).")
@click.option("--limit", type=click.IntRange(min=1), help="Stop at N records (lowers the target).")
@click.option("--overwrite", is_flag=True, help="Replace a run of a different recipe in the run directory.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--verbose", is_flag=True, help="Show library logs (vLLM, torch, ...) here, not in RUN/logs/.")
@click.option("--executor", type=click.Choice(["local", "ray"]), help="Where to run (default: [execution] or local).")
@click.option("--address", metavar="HOST:PORT", help="Ray cluster to join (default: RAY_ADDRESS, else a local one).")
@click.option("--sequential", is_flag=True, help="Generate and check one batch at a time (no read-ahead; same dataset).")
@reports_errors(interrupted=RESUME_HINT)
def generate(recipe: Path, overrides: tuple[str, ...], out: Path | None, limit: int | None, overwrite: bool,
             quiet: bool, verbose: bool, executor: str | None, address: str | None, sequential: bool) -> None:
    """Generate the dataset RECIPE describes (resumes an interrupted run)."""
    from .api import resolve_out_dir, run_recipe
    from .console import quiet_console
    from .mix.measured import describe_measurement
    from .recipe import load_recipe

    loaded = load_recipe(recipe, list(overrides))
    with quiet_console(resolve_out_dir(loaded, out), verbose=verbose):
        result = run_recipe(loaded, out=out, limit=limit, overwrite=overwrite, progress=not quiet,
                            executor=executor, address=address, sequential=sequential)
    report = result.report
    click.echo(summary_line(report, result.run_dir))
    if report.mix is not None:
        mix = report.mix
        click.echo(f"mix: {mix['n_real']} real + {mix['n_synthetic']} synthetic "
                   f"(share {mix['synthetic_share']:.2f}, cap {mix['cap']:.2f}) -> {result.run_dir / 'mix'}")
        measured = describe_measurement(mix.get("measured"))
        if measured:
            click.echo(f"mix: {measured}; {(mix.get('dropped') or {}).get('over_measured_share', 0)} synthetic "
                       "rows left out (over_measured_share)")
    if report.failed_gate:
        from .errors import GateFailure

        raise GateFailure(f"quality gate failed: {report.gate_failure}",
                          hint=f"see {result.run_dir / 'report.md'}; nothing was deleted")
    for line in outcome_notes(report):
        click.echo(line, err=True)


STOP_ADVICE = {
    "budget_exhausted": "raise generation.max_candidates or loosen the verifiers",
    "source_exhausted": "the replay file ran out of rows: add rows to it, lower generation.target, "
                        "or loosen the verifiers",
}


def outcome_notes(report) -> list[str]:
    """A warning naming the remedy when the target was not reached (the remedy depends on what ran out),
    and a note when diverse selection chose from a smaller pool than planned (the target was reached)."""
    notes = []
    if report.stop_reason != "target_reached":
        advice = STOP_ADVICE.get(report.stop_reason, "run the same command to resume")
        notes.append(f"Warning: target {report.target} not reached ({report.stop_reason}); {advice}.")
    pool = report.extra.get("selection_pool")
    if pool:
        notes.append(f"Note: diverse selection chose {report.kept} of {pool['collected']} records (planned a pool "
                     f"of {pool['planned']}; the budget ran out first).")
    return notes


def summary_line(report, run_dir: Path) -> str:
    """Kept, rejected, and what they came from, in the words of report.md's header (where steps fan records
    out or pair them, records and first-step candidates are different units, so both are named)."""
    from .report.build import summary_counts

    return f"{summary_counts(report)} -> {run_dir}"


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe value.")
@reports_errors
def validate(recipe: Path, overrides: tuple[str, ...]) -> None:
    """Check RECIPE and its inputs; print every problem as file:table.key: message."""
    from .api import validate_recipe
    from .recipe import load_recipe

    loaded = load_recipe(recipe, list(overrides))
    plan = validate_recipe(loaded)
    click.echo(f"{recipe}: ok (hash {loaded.hash})")
    for warning in plan.warnings:
        click.echo(f"Warning: {warning}.", err=True)


@cli.command("plan")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sample", type=click.IntRange(min=1), default=32, show_default=True, help="Prompts in the pilot.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe value.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Save the forecast as RUN_DIR/forecast.json; that run's report compares it with the outcome.")
@click.option("--json", "as_json", is_flag=True, help="Print the pilot and forecast as JSON.")
@click.option("--verbose", is_flag=True, help="Show library logs (vLLM, torch, ...) here.")
@reports_errors
def plan_command(recipe: Path, sample: int, overrides: tuple[str, ...], out: Path | None, as_json: bool,
                 verbose: bool) -> None:
    """Pilot RECIPE on a few prompts (nothing written) and forecast the run's candidates and time."""
    from .pilot import check_forecast_dir, plan_recipe, save_forecast
    from .pilot_text import render_plan
    from .recipe import load_recipe

    loaded = load_recipe(recipe, list(overrides))
    if out is not None:
        check_forecast_dir(out, loaded.hash)  # refuse another recipe's run before the pilot writes its logs there
    with plan_console(out, verbose):
        result = plan_recipe(loaded, sample)
        if out is not None:
            result["saved"] = str(save_forecast(result, out, loaded.hash))
    click.echo(json.dumps(result, indent=2) if as_json else render_plan(result))


PLAN_MARKER = "synthgen-plan"


@contextlib.contextmanager
def plan_console(out: Path | None, verbose: bool) -> Iterator[None]:
    """``plan``'s library log: in ``OUT/logs/`` with --out; else in a temp folder that is removed when plan
    succeeds or nothing was logged (quiet_console names a failed plan's log on stderr only when it holds some)."""
    import shutil
    import tempfile

    from .console import quiet_console

    if out is not None or verbose:
        with quiet_console(out or Path("."), verbose=verbose):
            yield
        return
    # scratch never gets the marker, so the log stays in quiet_console's own temp folder, removed when empty
    scratch = Path(tempfile.mkdtemp(prefix="synthgen-plan-"))
    try:
        with quiet_console(scratch, marker=PLAN_MARKER) as log:
            yield
        shutil.rmtree(log.path.parent, ignore_errors=True)  # plan succeeded: its library log is not needed
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@cli.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file instead of stdout.")
@reports_errors
def schema(out: Path | None) -> None:
    """Print the recipe's JSON Schema (for editors)."""
    from .recipe.json_schema import recipe_json_schema

    text = json.dumps(recipe_json_schema(), indent=2)
    if out:
        from .outpaths import check_parent

        check_parent(out)  # a path through a file: one line, not a traceback
        out.parent.mkdir(parents=True, exist_ok=True)  # like `corpus`: .vscode/recipe.schema.json just works
        out.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {out}")
    else:
        click.echo(text)


@cli.group()
def models() -> None:
    """Manage local models (the embedded default model)."""


@models.command("pull")
@click.argument("name", default="gemma3-270m")
@click.option("--force", is_flag=True, help="Rebuild even if present and verified.")
@reports_errors
def models_pull(name: str, force: bool) -> None:
    """Provision NAME (default: the embedded gemma3-270m) as an HF safetensors folder."""
    from .models import pull_model

    path = pull_model(name, force=force)
    click.echo(f"{name}: {path}")


@models.command("list")
@reports_errors
def models_list() -> None:
    """Show the models available locally."""
    from .models import list_models
    from .models.store import model_state

    for entry in list_models():
        state, note = model_state(entry)
        size = f"{entry['size_bytes'] / 2**20:.0f} MiB" if entry.get("size_bytes") else "-"
        click.echo(f"{entry['name']:<16} {state:<11} {size:>9}  {entry['path']}")
        if note:
            click.echo(f"  {note}")


@cli.command()
@click.argument("name", type=click.Choice(["fortunes", "pydoc", "humaneval", "humaneval_tasks"]))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write: .jsonl, .parquet or .csv (its extension picks the format); an existing "
                   "file is refused unless --overwrite.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.option("--min-words", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--max-words", type=click.IntRange(min=1), help="Drop longer texts.")
@click.option("--limit", type=click.IntRange(min=1), help="A seeded sample of this many texts.")
@click.option("--seed", type=int, default=0, show_default=True)
@reports_errors
def corpus(name: str, out: Path, overwrite: bool, min_words: int, max_words: int | None, limit: int | None,
           seed: int) -> None:
    """Write real, human-written text that installs offline as jsonl, parquet or csv (NAME: Debian's
    fortunes, CPython's pydoc topics, HumanEval prompts or their task descriptions)."""
    from .corpora import check_corpus_out, corpus_rows, write_corpus
    from .errors import SynthgenError

    if max_words is not None and min_words > max_words:
        raise click.UsageError(f"--min-words {min_words} is above --max-words {max_words}: no text could pass; "
                               "lower --min-words or raise --max-words")
    check_corpus_out(out, overwrite)  # before reading the corpus: a refused --out costs nothing
    rows = corpus_rows(name, min_words, max_words, limit, seed)
    if not rows:
        bounds = f"--min-words {min_words}" + (f", --max-words {max_words}" if max_words is not None else "")
        raise SynthgenError(f"{name}: no text matched the filters ({bounds}); {out} was not written",
                            hint="lower --min-words or raise --max-words")
    click.echo(f"{name}: {len(rows)} texts -> {write_corpus(rows, out)}")


def main() -> None:
    cli(prog_name="synthgen")


if __name__ == "__main__":
    main()
